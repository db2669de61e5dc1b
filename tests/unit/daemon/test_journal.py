"""The journal: a durable, coalescing work queue with per-file state."""

from __future__ import annotations

import os
import sqlite3
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


def test_the_settle_an_event_asked_for_travels_with_its_deadline(journal: Journal) -> None:
    """The newest event decides the settle (close-after-write: short); an older crawl view that only
    pushes the deadline brings its own (unknown: None); a defer keeps what the event said."""
    now = time.time()
    journal.enqueue("/z/a", "z", now, now + 1.0, settle=1.0)  # modify: full settle
    journal.enqueue("/z/a", "z", now + 0.5, now + 0.75, settle=0.25)  # close-after-write: short
    (item,) = journal.claim(1, now=now + 1.0)
    assert item.settle == 0.25 and item.not_before == pytest.approx(now + 0.75)
    journal.defer(item, now + 5.0)
    (item,) = journal.claim(1, now=now + 5.0)
    assert item.settle == 0.25
    _ack(journal, item)
    journal.enqueue("/z/a", "z", now + 6, now + 6.25, settle=0.25)
    journal.enqueue("/z/a", "z", now + 1, now + 9.0)  # an older crawl view pushing the deadline
    (item,) = journal.claim(1, now=now + 9.0)
    assert item.settle is None


def test_rescan_after_a_policy_change_asks_for_the_full_settle(journal: Journal) -> None:
    """A rescan is no event: nothing says the writer is done, so the full settle applies."""
    journal.enqueue("/z/a", "z", settle=0.25)
    (item,) = journal.claim(1)
    _ack(journal, item, digest="d1")
    assert journal.rescan_all("d2") == 1
    (item,) = journal.claim(1)
    assert item.settle is None


#: The files table as the first release wrote it (before the settle column).
_OLD_SCHEMA = """
CREATE TABLE files (
    path TEXT PRIMARY KEY, zone TEXT, dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER,
    content_hash TEXT, max_severity TEXT, findings INTEGER NOT NULL DEFAULT 0, last_error TEXT,
    policy_digest TEXT, scanned_at REAL, scans INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0, enqueued_at REAL,
    event_time REAL, not_before REAL NOT NULL DEFAULT 0, worker TEXT, rerun INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX files_queue ON files(state, not_before);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO files(path, zone, state, event_time, not_before, enqueued_at)
    VALUES ('/z/old', 'z', 'pending', 1, 1.25, 1);
INSERT INTO files(path, zone, state, content_hash, policy_digest, scanned_at, scans, dev, ino, size, mtime_ns)
    VALUES ('/z/done', 'z', 'done', 'h0', 'd0', 5, 3, 1, 2, 3, 4);
INSERT INTO meta VALUES ('policy_digest', 'd0');
"""


def test_a_journal_from_an_older_agent_is_upgraded_in_place(tmp_path: Path) -> None:
    """An old-schema journal file opens: the settle column is added, rows and meta survive, a pending
    row from before asks for the full settle, and opening it again changes nothing."""
    path = tmp_path / "journal.db"
    with sqlite3.connect(path) as c:
        c.executescript(_OLD_SCHEMA)
    j = Journal(path)
    assert j.get_meta("policy_digest") == "d0"
    done = j.get("/z/done")
    assert done is not None and done.scans == 3 and done.content_hash == "h0" and done.stat == ST
    (old,) = j.claim(5, now=10.0)
    assert old.path == "/z/old" and old.settle is None and old.not_before == 1.25
    j.enqueue("/z/new", "z", 20.0, 20.25, settle=0.25)
    j.close()
    again = Journal(path)
    (new,) = again.claim(5, now=30.0)
    assert new.settle == 0.25
    with sqlite3.connect(path) as c:
        cols = [r[1] for r in c.execute("PRAGMA table_info(files)")]
    assert cols.count("settle") == 1
    again.close()


def test_events_that_keep_coming_delay_a_file_but_never_postpone_it_forever(tmp_path) -> None:
    """Each event re-arms the settle deadline (a writer still at work), but not past MAX_DEFER_SECONDS
    after the first: a folder renamed in a loop re-announces its files forever and must not keep them
    from ever being scanned. Also after a rerun."""
    from agent.journal import MAX_DEFER_SECONDS, Journal

    j = Journal(tmp_path / "j.db")
    t0 = time.time()  # the bound counts from when the file was first queued (wall clock)
    for k in range(200):  # an event every second for 200 s, each asking for 5 s of settle
        t = t0 + k
        j.enqueue_many([("/z/f.txt", "z", t, t + 5.0)])
    assert j.claim(1, now=t0 + MAX_DEFER_SECONDS - 1) == []
    (item,) = j.claim(1, now=t0 + MAX_DEFER_SECONDS + 0.01)
    j.enqueue("/z/f.txt", "z", t0 + 300, t0 + 305)  # an event while it is scanned: rerun
    j.ack(item, max_severity=None, findings=0, error=None, stat=None, content_hash=None, policy_digest="d")
    now = time.time()
    for k in range(100):  # events keep coming: the rerun's own bound starts at the rerun, not before
        j.enqueue_many([("/z/f.txt", "z", now + 400 + k, now + 405 + k)])
    assert j.claim(1, now=now + MAX_DEFER_SECONDS - 1) == []
    assert len(j.claim(1, now=now + MAX_DEFER_SECONDS + 1)) == 1


def test_forgetting_a_moved_folder_drops_its_finished_rows_only(tmp_path) -> None:
    """One statement for a folder moved away: the done rows below it go; queued ones stay (a crawl of
    what is there now may have queued them), and a sibling sharing the name's prefix is untouched."""
    from agent.journal import Journal

    j = Journal(tmp_path / "j.db")
    paths = ["/z/sub/a.txt", "/z/sub/deep/b.txt", "/z/sub2/c.txt", "/z/sub/queued.txt"]
    j.enqueue_many([(p, "z", 1.0, 1.0) for p in paths[:3]])
    done = {"max_severity": None, "findings": 0, "error": None, "stat": None, "content_hash": None}
    for item in j.claim(10):
        j.ack(item, **done, policy_digest="d")
    j.enqueue(paths[3], "z", 2.0, 2.0)
    j.forget_many((), ["/z/sub"])
    assert [p for p in paths if j.known(p) is not None] == ["/z/sub2/c.txt", "/z/sub/queued.txt"]
