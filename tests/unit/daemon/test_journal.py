"""The journal: a durable, coalescing work queue with per-file state."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from agent.journal import MAX_ATTEMPTS, FileStat, Journal

ST = FileStat(1, 2, 3, 4)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "state" / "journal.db")
    yield j
    j.close()


def _ack(j: Journal, item, h: str = "h1", digest: str = "d1", stat: FileStat = ST) -> None:
    j.ack(item, max_severity="high", findings=1, error=None, stat=stat, content_hash=h, policy_digest=digest)


def test_enqueue_coalesces_pending_items(journal: Journal) -> None:
    """Three events for one path make one pending item whose settle deadline is the latest one."""
    now = time.time()
    journal.enqueue("/z/a", "z", now, now + 0.1)
    journal.enqueue("/z/a", "z", now + 0.2, now + 0.3)
    journal.enqueue("/z/a", "z", now + 0.1, now + 0.2)
    assert journal.depth() == 1
    assert journal.claim(5, now=now + 0.25) == []  # the deadline was pushed to +0.3
    (item,) = journal.claim(5, now=now + 0.31)
    assert item.path == "/z/a" and item.event_time == pytest.approx(now + 0.2)


def test_claim_respects_n_and_order(journal: Journal) -> None:
    """claim hands out at most n due items, earliest deadline first, and never twice."""
    now = time.time()
    for i in range(5):
        journal.enqueue(f"/z/{i}", "z", now, now - 10 + i)
    first = journal.claim(2, "w", now=now)
    assert [i.path for i in first] == ["/z/0", "/z/1"]
    rest = journal.claim(10, "w", now=now)
    assert [i.path for i in rest] == ["/z/2", "/z/3", "/z/4"]
    assert journal.claim(10, "w", now=now) == []
    assert journal.counts() == {"claimed": 5}


def test_ack_records_verdict_and_scan_counter(journal: Journal) -> None:
    """ack stores stat, hash, digest and counts real scans; a cache hit does not count."""
    journal.enqueue("/z/a", "z")
    (item,) = journal.claim(1)
    _ack(journal, item)
    row = journal.get("/z/a")
    assert row and row.state == "done" and row.scans == 1 and row.stat == ST and row.max_severity == "high"
    journal.enqueue("/z/a", "z")
    (item,) = journal.claim(1)
    assert item.prev_hash == "h1" and item.prev_digest == "d1" and item.prev_state_done
    journal.ack(item, max_severity=None, findings=0, error=None, stat=ST, content_hash="h1",
                policy_digest="d1", scanned=False)  # fmt: skip
    row = journal.get("/z/a")
    assert row and row.scans == 1 and row.state == "done" and row.max_severity == "high"


def test_event_during_scan_reruns_after_ack(journal: Journal) -> None:
    """A file changed while being scanned goes back to pending when the scan is acked."""
    journal.enqueue("/z/a", "z")
    (item,) = journal.claim(1)
    journal.enqueue("/z/a", "z")
    assert journal.claim(1) == []  # not handed out twice concurrently
    _ack(journal, item)
    assert journal.get("/z/a").state == "pending"
    assert len(journal.claim(1)) == 1


def test_requeue_claimed_after_crash(tmp_path: Path) -> None:
    """Items claimed by a process that died go back to pending when the journal is reopened."""
    j = Journal(tmp_path / "j.db")
    j.enqueue("/z/a", "z")
    j.enqueue("/z/b", "z")
    j.claim(2)
    j.close()
    j2 = Journal(tmp_path / "j.db")
    assert j2.requeue_claimed() == (2, 0)
    assert sorted(i.path for i in j2.claim(5)) == ["/z/a", "/z/b"]
    j2.close()


def test_requeue_gives_up_on_a_file_that_keeps_killing_the_agent(journal: Journal) -> None:
    """A file claimed MAX_ATTEMPTS times without an ack is recorded as an internal error."""
    journal.enqueue("/z/a", "z")
    for _ in range(MAX_ATTEMPTS):
        assert journal.claim(1)
        journal.requeue_claimed()
    row = journal.get("/z/a")
    assert row.state == "error" and row.last_error == "internal"


def test_needs_scan_by_hash_and_digest(journal: Journal) -> None:
    """needs_scan is False only for the same content under the same policies."""
    journal.enqueue("/z/a", "z")
    (item,) = journal.claim(1)
    _ack(journal, item)
    assert not journal.needs_scan("/z/a", ST, "h1", "d1")
    assert journal.needs_scan("/z/a", ST, "h2", "d1")
    assert journal.needs_scan("/z/a", ST, "h1", "d2")
    assert journal.needs_scan("/z/new", ST, "h1", "d1")


def test_policy_digest_change_rescans_all(journal: Journal) -> None:
    """rescan_all queues every finished file scanned under another digest, none under the same."""
    for p in ("/z/a", "/z/b"):
        journal.enqueue(p, "z")
    a, b = journal.claim(2)
    _ack(journal, a, digest="old")
    _ack(journal, b, digest="new")
    assert journal.rescan_all("new") == 1
    assert [i.path for i in journal.claim(5)] == ["/z/a"]


def test_fail_forget_and_ages(journal: Journal) -> None:
    """fail records the reason; forget drops rows; oldest_pending_age measures the queue."""
    now = time.time()
    journal.enqueue("/z/a", "z", now, now)
    journal.enqueue("/z/b", "z", now, now)
    assert journal.oldest_pending_age(now + 5) == pytest.approx(5, abs=0.5)
    a, b = journal.claim(2)
    journal.fail(a, "timeout", ST, "d")
    row = journal.get("/z/a")
    assert row.state == "error" and row.last_error == "timeout"
    assert journal.needs_scan("/z/a", ST, "", "d")
    journal.forget("/z/b")  # claimed: kept
    assert journal.get("/z/b") is not None
    journal.defer(b, now + 100)
    journal.forget("/z/b")
    assert journal.get("/z/b") is None
    assert journal.oldest_pending_age() == 0.0


def test_journal_is_shared_across_threads(journal: Journal) -> None:
    """Each thread gets its own connection; concurrent enqueues all land."""
    import threading

    def put(k: int) -> None:
        journal.enqueue_many((f"/z/{k}-{i}", "z", None, None) for i in range(200))

    ts = [threading.Thread(target=put, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert journal.depth() == 800
    assert os.path.exists(journal.path)
