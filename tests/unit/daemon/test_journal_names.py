"""The journal keeps file names as bytes: any Linux name round-trips, and one bad row drops no other."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from agent.journal import FileStat, Journal

NAMES = ["/z/caf\udce9.txt", "/z/\udcff\udcfe", "/z/new\nline", "/z/plain.txt", "/z/\u00e9t\u00e9.txt"]


def test_any_name_round_trips_through_enqueue_claim_ack_and_forget(tmp_path: Path) -> None:
    """Names decoded with surrogateescape are stored as their exact bytes and come back identical."""
    j = Journal(tmp_path / "journal.db")
    now = time.time()
    assert j.enqueue_many((n, "z", now, now) for n in NAMES) == len(NAMES)
    items = j.claim(10, now=now + 1)
    assert sorted(i.path for i in items) == sorted(NAMES)
    for i in items:
        j.ack(i, max_severity=None, findings=0, error=None, stat=FileStat(1, 2, 3, 4), content_hash="h",
              policy_digest="d")  # fmt: skip
    assert all(j.get(n) is not None and j.get(n).state == "done" for n in NAMES)  # type: ignore[union-attr]
    db = sqlite3.connect(tmp_path / "journal.db")
    stored = {bytes(r[0]) for r in db.execute("SELECT path FROM files")}
    db.close()
    assert b"/z/caf\xe9.txt" in stored and b"/z/\xff\xfe" in stored
    j.forget(NAMES[0])
    assert j.get(NAMES[0]) is None and j.known(NAMES[1]) is not None
    j.close()


def test_a_row_that_cannot_be_stored_drops_only_itself(tmp_path: Path) -> None:
    """A batch holding one row the database refuses still queues every other row."""
    j = Journal(tmp_path / "journal.db")
    now = time.time()
    batch = [("/z/a", "z", now, now), ("/z/b", object(), now, now), ("/z/c", "z", now, now)]
    assert j.enqueue_many(batch) == 2  # type: ignore[arg-type]
    assert sorted(i.path for i in j.claim(10, now=now + 1)) == ["/z/a", "/z/c"]
    j.close()


def test_journal_with_text_paths_is_migrated_once(tmp_path: Path) -> None:
    """A journal written before paths were bytes is converted: its rows are found by name again."""
    db_path = tmp_path / "journal.db"
    Journal(db_path).close()
    db = sqlite3.connect(db_path)
    db.execute("DELETE FROM meta WHERE key = 'path_type'")
    db.execute("INSERT INTO files(path, zone, state) VALUES ('/z/old.txt', 'z', 'done')")
    db.commit()
    db.close()
    j = Journal(db_path)
    row = j.get("/z/old.txt")
    assert row is not None and row.state == "done"
    assert j.get_meta("path_type") == "blob" and os.fsencode(row.path) == b"/z/old.txt"
    j.close()
