"""A durable webhook outbox: a table in the journal's SQLite file, on its own connection.

An alert is committed here *before* any delivery attempt and deleted only after the receiver
answered 2xx, so a receiver that is down for an hour, or an agent restart in between, loses nothing.
``UNIQUE(sink, alert_id)`` makes enqueue idempotent: a rescan re-raising the same alert adds no row.
Delivery is at-least-once (a crash between the 2xx and the delete resends that batch), which is why
every payload carries the stable alert id for receivers to de-duplicate on.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from agent.security.dirfd import private_sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY,
    sink TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts INT NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    created REAL NOT NULL,
    rejections INT NOT NULL DEFAULT 0,
    UNIQUE(sink, alert_id)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(sink, next_attempt);
"""


@dataclass(frozen=True)
class OutboxItem:
    """One queued alert for one sink. ``payload`` is the alert as JSON text (already redacted)."""

    id: int
    sink: str
    alert_id: str
    payload: str
    attempts: int
    rejections: int
    next_attempt: float
    created: float


class Outbox:
    """Queue of undelivered webhook alerts, shared by every webhook sink (rows keyed by sink name)."""

    def __init__(self, db_path: str, busy_timeout: float = 10.0) -> None:
        self.db_path = db_path
        self._lock = threading.Lock()
        # Own connection, autocommit: each statement below is its own durable transaction.
        private_sqlite(db_path)  # 0600 before SQLite creates it (its -wal/-shm copy that mode)
        self._db = sqlite3.connect(
            db_path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # an enqueued alert survives power loss too
        self._db.executescript(_SCHEMA)

    def enqueue(self, sink: str, alert_id: str, payload: str, now: float | None = None) -> bool:
        """Commit one alert for ``sink``; False when it was already queued (idempotent)."""
        t = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox(sink, alert_id, payload, attempts, next_attempt, created)"
                " VALUES (?, ?, ?, 0, ?, ?)",
                (sink, alert_id, payload, t, t),
            )
            return cur.rowcount == 1

    def due(self, sink: str, limit: int, now: float | None = None) -> list[OutboxItem]:
        """The oldest ``limit`` items of ``sink`` whose next attempt is due."""
        t = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT id, sink, alert_id, payload, attempts, rejections, next_attempt, created"
                " FROM outbox WHERE sink = ? AND next_attempt <= ? ORDER BY id LIMIT ?",
                (sink, t, limit),
            ).fetchall()
        return [OutboxItem(*row) for row in rows]

    def delete(self, ids: Iterable[int]) -> int:
        """Remove delivered (or dropped) items; returns how many rows went."""
        ids = list(ids)
        if not ids:
            return 0
        with self._lock, self._transaction():
            cur = self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
            return cur.rowcount

    def defer(self, schedule: Sequence[tuple[int, float]], rejected: bool = False) -> None:
        """Record a failed attempt: ``schedule`` is (item id, next attempt time) pairs."""
        if not schedule:
            return
        sql = "UPDATE outbox SET attempts = attempts + 1, next_attempt = ?"
        if rejected:
            sql += ", rejections = rejections + 1"
        with self._lock, self._transaction():
            self._db.executemany(sql + " WHERE id = ?", [(t, i) for i, t in schedule])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One commit (one fsync) for a whole batch instead of one per row."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def expedite(self, sink: str, now: float | None = None) -> int:
        """Make every retryable item of ``sink`` due now (the receiver answered again)."""
        t = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute(
                "UPDATE outbox SET next_attempt = ? WHERE sink = ? AND rejections = 0 AND next_attempt > ?",
                (t, sink, t),
            )
            return cur.rowcount

    def next_due(self, sink: str) -> float | None:
        """When the earliest item of ``sink`` becomes due, or None when nothing is queued."""
        with self._lock:
            (t,) = self._db.execute("SELECT MIN(next_attempt) FROM outbox WHERE sink = ?", (sink,)).fetchone()
        return t

    def size(self, sink: str | None = None) -> int:
        """Items waiting for ``sink`` (every sink when None)."""
        with self._lock:
            if sink is None:
                (n,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
            else:
                (n,) = self._db.execute("SELECT COUNT(*) FROM outbox WHERE sink = ?", (sink,)).fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
