"""The durable outbox table: idempotent enqueue, due ordering, backoff bookkeeping, sharing the DB file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from agent.actions.outbox import Outbox


def test_enqueue_idempotent_and_per_sink(tmp_path: Path) -> None:
    """The same alert id is queued once per sink, and sinks do not see each other's rows."""
    ob = Outbox(str(tmp_path / "j.db"))
    assert ob.enqueue("a", "id1", "{}", now=10.0)
    assert not ob.enqueue("a", "id1", '{"x":1}', now=11.0)
    assert ob.enqueue("b", "id1", "{}", now=10.0)
    assert ob.size("a") == 1 and ob.size() == 2
    assert [i.payload for i in ob.due("a", 10, now=10.0)] == ["{}"]
    ob.close()


def test_due_defer_expedite(tmp_path: Path) -> None:
    """Deferred rows are not due until their time; expedite pulls retryable rows forward, not rejected."""
    ob = Outbox(str(tmp_path / "j.db"))
    for n in range(4):
        ob.enqueue("s", f"id{n}", "{}", now=100.0 + n)
    items = ob.due("s", 2, now=200.0)
    assert [i.alert_id for i in items] == ["id0", "id1"]  # oldest first, limited
    ob.defer([(items[0].id, 500.0)])
    ob.defer([(items[1].id, 500.0)], rejected=True)
    assert [i.alert_id for i in ob.due("s", 10, now=200.0)] == ["id2", "id3"]
    assert ob.next_due("s") == 102.0
    assert ob.expedite("s", now=200.0) == 1
    due = {i.alert_id: i for i in ob.due("s", 10, now=200.0)}
    assert set(due) == {"id0", "id2", "id3"} and due["id0"].attempts == 1
    assert ob.delete(i.id for i in due.values()) == 3
    assert ob.size("s") == 1 and ob.next_due("s") == 500.0
    ob.close()


def test_shares_the_journal_file_in_wal_mode(tmp_path: Path) -> None:
    """The outbox lives beside other tables in the same SQLite file, which is switched to WAL."""
    db = tmp_path / "journal.db"
    other = sqlite3.connect(db)
    other.execute("CREATE TABLE files(path TEXT)")
    other.commit()
    ob = Outbox(str(db))
    ob.enqueue("s", "id", "{}")
    tables = {r[0] for r in other.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"files", "outbox"} <= tables
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert other.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    other.close()
    ob.close()
