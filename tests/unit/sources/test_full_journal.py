"""Events survive a journal that cannot be written: SQLite's own size cap (max_page_count) makes the
writes fail with a real SQLITE_FULL, nothing of it is mocked."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.journal import Journal
from agent.sources import watcher
from agent.sources.watcher import EventBatcher


def _cap(j: Journal, pages: int | None) -> None:
    c = j._conn()
    n = c.execute("PRAGMA page_count").fetchone()[0] if pages is None else pages
    c.execute(f"PRAGMA max_page_count = {n}")


def test_events_are_kept_while_the_journal_is_full_and_written_when_it_frees(tmp_path: Path) -> None:
    """2,000 events that cannot be written stay buffered; once the journal takes writes again the
    next flush writes every one of them and nothing is reported lost."""
    j = Journal(tmp_path / "journal.db")
    lost, failures = [], []
    b = EventBatcher(
        j, settle=0.0, on_write_failed=lambda: failures.append(1), on_lost=lambda: lost.append(1)
    )
    _cap(j, None)
    for i in range(2000):
        b.add(f"/z/f{i:04d}.txt", "z")
    with pytest.raises(sqlite3.OperationalError, match="full"):
        b.flush()
    assert b.failing and b.buffered() == 2000 and failures == [1] and j.depth() == 0
    b.add("/z/f0001.txt", "z", closed=True)  # a newer event for a buffered path wins
    _cap(j, 1 << 30)
    assert b.flush() == 2000
    assert j.depth() == 2000 and not b.failing and b.buffered() == 0 and lost == []
    j.close()


def test_events_beyond_the_buffer_are_dropped_and_reported_lost_on_recovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With more events than the buffer holds, the excess is dropped and, once writes succeed again,
    on_lost asks for the reconcile crawl that finds those files."""
    monkeypatch.setattr(watcher, "MAX_BUFFERED", 100)
    j = Journal(tmp_path / "journal.db")
    lost: list[int] = []
    b = EventBatcher(j, settle=0.0, on_lost=lambda: lost.append(1))
    _cap(j, None)
    for i in range(250):
        b.add(f"/z/f{i:04d}.txt", "z")
    with pytest.raises(sqlite3.OperationalError):
        b.flush()
    assert b.buffered() == 100 and b.dropped == 150
    _cap(j, 1 << 30)
    assert b.flush() == 100 and lost == [1]
    j.close()
