"""The durable work queue and per-file state: one SQLite row per path (WAL).

Every watcher event and every reconcile finding lands here before anything else, so a crash (even
``kill -9``) loses nothing: on start-up ``requeue_claimed`` puts in-flight files back, and the
reconcile crawl finds files whose events never reached us. One row per path makes coalescing free:
the newest event for a pending file sets its ``not_before`` (the settle/debounce deadline: short
after a close-after-write, full after a create/modify, so a close right after a modify shortens it
and a reopen after a close lengthens it again), an older one (a crawl's view) can only push it; an
event for a file being scanned sets ``rerun`` so it is scanned again once the current scan is acked.

Paths are stored as the file name's bytes (a BLOB): a name that is not UTF-8 is a valid Linux name
and must not make a write fail (issue 14, item 3); the API takes and returns ``os.fsdecode`` strings.

``synchronous=NORMAL`` under WAL: a committed transaction survives a process crash; a power loss can
drop the last few, which the start-up reconcile crawl recovers (it diffs the disk against this table).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from agent.security.dirfd import private_sqlite

log = structlog.get_logger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    zone TEXT,
    dev INTEGER, ino INTEGER, size INTEGER, mtime_ns INTEGER,
    content_hash TEXT,
    max_severity TEXT,
    findings INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    policy_digest TEXT,
    scanned_at REAL,
    scans INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    enqueued_at REAL,
    event_time REAL,
    not_before REAL NOT NULL DEFAULT 0,
    worker TEXT,
    rerun INTEGER NOT NULL DEFAULT 0,
    settle REAL
);
CREATE INDEX IF NOT EXISTS files_queue ON files(state, not_before);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""

#: Errors that belong to one row (its values), not to the database (full, locked, I/O): retried one by one.
_ROW_ERRORS = (
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    sqlite3.DataError,
    sqlite3.IntegrityError,
    ValueError,
    TypeError,
)

#: Bytes a checkpointed WAL is truncated to (without it, the WAL keeps its largest size for ever).
WAL_LIMIT = 1 << 20

#: Columns added since the first release: (name, SQL type). A journal written by an older agent gets
#: them (NULL) when it is opened; NULL means what the older agent meant (see ``WorkItem.settle``).
_ADDED_COLUMNS = (("settle", "REAL"),)

#: Claimed this many times without an ack (the agent died each time): the file is given up on.
MAX_ATTEMPTS = 3

#: However many events keep coming for a pending file, it is due at most this long after the first:
#: a writer (or a folder renamed in a loop, each rename re-announcing every file in it) can delay a
#: scan, never postpone it forever.
MAX_DEFER_SECONDS = 30.0

_ENQUEUE = """
INSERT INTO files(path, zone, state, enqueued_at, event_time, not_before, settle, attempts)
VALUES (:path, :zone, 'pending', :now, :event_time, :not_before, :settle, 0)
ON CONFLICT(path) DO UPDATE SET
    zone = excluded.zone,
    rerun = CASE WHEN state = 'claimed' THEN 1 ELSE rerun END,
    enqueued_at = CASE WHEN state IN ('done', 'error') THEN excluded.enqueued_at ELSE enqueued_at END,
    attempts = CASE WHEN state IN ('done', 'error') THEN 0 ELSE attempts END,
    event_time = CASE WHEN state IN ('done', 'error') OR event_time IS NULL THEN excluded.event_time
                      ELSE max(event_time, excluded.event_time) END,
    not_before = CASE WHEN state IN ('done', 'error') THEN excluded.not_before
                      ELSE min(CASE WHEN excluded.event_time >= coalesce(event_time, 0)
                                         THEN excluded.not_before
                                    ELSE max(not_before, excluded.not_before) END,
                               max(not_before, coalesce(enqueued_at, :now) + :max_defer)) END,
    settle = CASE WHEN state IN ('done', 'error') OR excluded.event_time >= coalesce(event_time, 0)
                       OR excluded.not_before > not_before THEN excluded.settle
                  ELSE settle END,
    state = CASE WHEN state = 'claimed' THEN 'claimed' ELSE 'pending' END
"""


def _key(path: str) -> bytes:
    """The stored form of a path: its bytes (lossless for any Linux file name)."""
    return os.fsencode(path)


def _name(stored: bytes | str) -> str:
    return os.fsdecode(stored)


#: (path, zone, event time, settle deadline) or the same with the settle seconds the event asked for.
QueueEntry = (
    tuple[str, str | None, float | None, float | None]
    | tuple[str, str | None, float | None, float | None, float | None]
)


def _entry_row(entry: QueueEntry, now: float) -> dict[str, object]:
    path, zone, event_time, not_before = entry[:4]
    return {
        "path": _key(path),
        "zone": zone,
        "now": now,
        "event_time": event_time if event_time is not None else now,
        "not_before": not_before if not_before is not None else now,
        "settle": entry[4] if len(entry) > 4 else None,
        "max_defer": MAX_DEFER_SECONDS,
    }


@dataclass(frozen=True)
class FileStat:
    """The identity of a file version: same (dev, ino, size, mtime_ns) means unchanged."""

    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileStat:
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class WorkItem:
    """A claimed file, with what the journal knew about its last scan (for the hash cache)."""

    path: str
    zone: str | None
    event_time: float
    enqueued_at: float
    attempts: int
    prev_hash: str | None
    prev_digest: str | None
    prev_state_done: bool
    not_before: float = 0.0  # the settle deadline it was claimed at
    #: The settle time of the event that set ``not_before`` (close-after-write: the short one);
    #: None when no event said (a crawl, a rescan, a journal from an older agent): the full settle.
    settle: float | None = None


@dataclass(frozen=True)
class Row:
    path: str
    zone: str | None
    state: str
    stat: FileStat | None
    content_hash: str | None
    policy_digest: str | None
    scans: int
    last_error: str | None
    max_severity: str | None
    findings: int
    scanned_at: float | None


class Journal:
    """SQLite journal; safe to share between threads (one connection per thread)."""

    def __init__(self, path: str | os.PathLike[str], busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private_sqlite(self.path)  # 0600 before SQLite creates it (its -wal/-shm copy that mode)
        self._busy = busy_timeout
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().executescript(SCHEMA)
        self._migrate()
        self._migrate_paths()

    def _migrate(self) -> None:
        """Add the columns an older agent's journal lacks (idempotent, safe against a concurrent open)."""
        with self._tx() as c:
            have = {r["name"] for r in c.execute("PRAGMA table_info(files)")}
            for name, sql_type in _ADDED_COLUMNS:
                if name not in have:
                    c.execute(f"ALTER TABLE files ADD COLUMN {name} {sql_type}")

    def _migrate_paths(self) -> None:
        """Journals written before paths were bytes hold TEXT keys: convert them once."""
        if self.get_meta("path_type") == "blob":
            return
        with self._tx() as c:
            c.execute("DELETE FROM files WHERE typeof(path) = 'text' AND CAST(path AS BLOB) IN "
                      "(SELECT path FROM files WHERE typeof(path) = 'blob')")  # fmt: skip
            c.execute("UPDATE files SET path = CAST(path AS BLOB) WHERE typeof(path) = 'text'")
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('path_type', 'blob')")

    # -- connections --------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=self._busy, isolation_level=None, check_same_thread=False)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            # checkpoint every 1 MB of WAL (default 4 MB) and shrink it back after: on a small or nearly
            # full state volume the WAL is what fills it, and a WAL that holds all the free space
            # cannot be checkpointed any more (the database would have to grow first)
            c.execute(f"PRAGMA wal_autocheckpoint={WAL_LIMIT // 4096}")
            c.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            c.row_factory = sqlite3.Row
            self._local.conn = c
            with self._lock:
                self._conns.append(c)
        return c

    class _Tx:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self.c = conn

        def __enter__(self) -> sqlite3.Connection:
            self.c.execute("BEGIN IMMEDIATE")
            return self.c

        def __exit__(self, exc_type: object, exc: object, *_: object) -> None:
            # A failed COMMIT (SQLITE_FULL) leaves the transaction open, holding the write lock: every
            # other connection would then wait out its busy timeout, forever. Roll it back, always.
            if exc_type is None:
                try:
                    self.c.execute("COMMIT")
                    return
                except sqlite3.Error as e:
                    self._rollback()
                    self._relieve(e)
                    raise
            self._rollback()
            if isinstance(exc, sqlite3.Error):
                self._relieve(exc)

        def _relieve(self, e: BaseException) -> None:
            """The volume is full: the WAL is usually what filled it (it grows until a checkpoint
            can reset it). Copy it into the database and truncate it, so the space comes back."""
            if getattr(e, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                with contextlib.suppress(sqlite3.Error):
                    self.c.execute("PRAGMA wal_checkpoint(TRUNCATE)")

        def _rollback(self) -> None:
            with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already
                self.c.execute("ROLLBACK")

    def _tx(self) -> Journal._Tx:
        return Journal._Tx(self._conn())

    def close(self) -> None:
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    c.close()
            self._conns.clear()
        self._local = threading.local()

    # -- the queue ----------------------------------------------------------------------------
    def enqueue(
        self,
        path: str,
        zone: str | None,
        event_time: float | None = None,
        not_before: float | None = None,
        settle: float | None = None,
    ) -> None:
        """Queue a path (idempotent: a pending row is coalesced; a claimed one is marked for a rerun)."""
        self.enqueue_many([(path, zone, event_time, not_before, settle)])

    def enqueue_many(self, items: Iterable[QueueEntry]) -> int:
        """Queue many paths in one transaction; each entry is (path, zone, event time, settle
        deadline[, settle seconds the event asked for])."""
        now = time.time()
        rows = [_entry_row(entry, now) for entry in items]
        if not rows:
            return 0
        try:
            with self._tx() as c:
                c.executemany(_ENQUEUE, rows)
        except _ROW_ERRORS:
            return self._enqueue_each(rows)  # one bad row must not drop the others
        return len(rows)

    def _enqueue_each(self, rows: Sequence[Mapping[str, object]]) -> int:
        done = 0
        for row in rows:
            try:
                with self._tx() as c:
                    c.execute(_ENQUEUE, row)
                done += 1
            except _ROW_ERRORS as e:
                log.error("journal_row_rejected", error=type(e).__name__)
        return done

    def claim(self, n: int, worker_id: str = "", now: float | None = None) -> list[WorkItem]:
        """Take up to ``n`` pending items whose settle deadline has passed, oldest deadline first."""
        if n <= 0:
            return []
        now = time.time() if now is None else now
        with self._tx() as c:
            rows = c.execute(
                "SELECT path, zone, event_time, enqueued_at, attempts, content_hash, policy_digest, "
                "scanned_at, last_error, not_before, settle FROM files "
                "WHERE state = 'pending' AND not_before <= ? ORDER BY not_before LIMIT ?",
                (now, n),
            ).fetchall()
            c.executemany(
                "UPDATE files SET state = 'claimed', worker = ?, attempts = attempts + 1 WHERE path = ?",
                [(worker_id, r["path"]) for r in rows],
            )
        return [
            WorkItem(
                path=_name(r["path"]),
                zone=r["zone"],
                event_time=r["event_time"] or now,
                enqueued_at=r["enqueued_at"] or now,
                attempts=r["attempts"] + 1,
                prev_hash=r["content_hash"],
                prev_digest=r["policy_digest"],
                prev_state_done=r["scanned_at"] is not None and r["last_error"] is None,
                not_before=r["not_before"] or 0.0,
                settle=r["settle"],
            )
            for r in rows
        ]

    def defer(self, item: WorkItem, not_before: float) -> None:
        """Put a claimed item back: the file is still changing (its mtime is too recent)."""
        with self._tx() as c:
            c.execute(
                "UPDATE files SET state = 'pending', rerun = 0, attempts = max(attempts - 1, 0), "
                "not_before = max(not_before, ?) WHERE path = ? AND state = 'claimed'",
                (not_before, _key(item.path)),
            )

    def ack(
        self,
        item: WorkItem,
        *,
        max_severity: str | None,
        findings: int,
        error: str | None,
        stat: FileStat | None,
        content_hash: str | None,
        policy_digest: str,
        scanned: bool = True,
    ) -> None:
        """Record a verdict (``scanned=False``: a hash-cache hit, the previous verdict stands)."""
        now = time.time()
        st = stat or FileStat(0, 0, 0, 0)
        with self._tx() as c:
            if scanned:
                c.execute(
                    "UPDATE files SET state = CASE WHEN rerun = 1 THEN 'pending' ELSE 'done' END, "
                    "not_before = CASE WHEN rerun = 1 THEN ? ELSE not_before END, rerun = 0, "
                    "enqueued_at = CASE WHEN rerun = 1 THEN ? ELSE enqueued_at END, "
                    "dev = ?, ino = ?, size = ?, mtime_ns = ?, content_hash = ?, max_severity = ?, "
                    "findings = ?, last_error = ?, policy_digest = ?, scanned_at = ?, scans = scans + 1, "
                    "attempts = 0, worker = NULL WHERE path = ?",
                    (now, now, st.dev, st.ino, st.size, st.mtime_ns, content_hash, max_severity, findings,
                     error, policy_digest, now, _key(item.path)),
                )  # fmt: skip
            else:
                c.execute(
                    "UPDATE files SET state = CASE WHEN rerun = 1 THEN 'pending' ELSE 'done' END, "
                    "not_before = CASE WHEN rerun = 1 THEN ? ELSE not_before END, rerun = 0, "
                    "enqueued_at = CASE WHEN rerun = 1 THEN ? ELSE enqueued_at END, "
                    "dev = ?, ino = ?, size = ?, mtime_ns = ?, attempts = 0, worker = NULL WHERE path = ?",
                    (now, now, st.dev, st.ino, st.size, st.mtime_ns, _key(item.path)),
                )

    def fail(
        self, item: WorkItem, reason: str, stat: FileStat | None = None, policy_digest: str = ""
    ) -> None:
        """Record a file that could not be scanned at all (timeout, worker crash)."""
        now = time.time()
        st = stat or FileStat(0, 0, 0, 0)
        with self._tx() as c:
            c.execute(
                "UPDATE files SET state = CASE WHEN rerun = 1 THEN 'pending' ELSE 'error' END, rerun = 0, "
                "last_error = ?, dev = ?, ino = ?, size = ?, mtime_ns = ?, content_hash = NULL, "
                "policy_digest = ?, scanned_at = ?, worker = NULL WHERE path = ?",
                (reason, st.dev, st.ino, st.size, st.mtime_ns, policy_digest, now, _key(item.path)),
            )

    def forget(self, path: str) -> None:
        """Drop the row of a file that is gone (unless a scan of it is in flight)."""
        self.forget_many((path,))

    def forget_many(self, paths: Iterable[str], dirs: Iterable[str] = ()) -> None:
        """:meth:`forget` for many paths, and the finished rows below each of ``dirs`` (folders moved
        away), in one transaction: a folder renamed in a loop costs one statement, not one per file.

        Below ``dirs`` only rows that are done go: inotify reports a rename loop long after the fact,
        and a crawl may have queued what is there now meanwhile; a queued path that is really gone
        is dropped when its turn comes (``vanished``)."""
        keys = [(_key(p),) for p in paths]
        below = [(_key(d.rstrip("/")) + b"/", _key(d.rstrip("/")) + b"0") for d in dirs]  # "0" follows "/"
        if not keys and not below:
            return
        with self._tx() as c:
            c.executemany("DELETE FROM files WHERE path = ? AND state != 'claimed'", keys)
            c.executemany(
                "DELETE FROM files WHERE path >= ? AND path < ? AND state IN ('done', 'error')", below
            )

    def requeue_claimed(self) -> tuple[int, int]:
        """At start-up: put items claimed by a dead agent back; give up on ones that killed it thrice."""
        now = time.time()
        with self._tx() as c:
            gave_up = c.execute(
                "UPDATE files SET state = 'error', last_error = 'internal', rerun = 0, worker = NULL "
                "WHERE state = 'claimed' AND attempts >= ?",
                (MAX_ATTEMPTS,),
            ).rowcount
            back = c.execute(
                "UPDATE files SET state = 'pending', not_before = ?, worker = NULL, rerun = 0 "
                "WHERE state = 'claimed'",
                (now,),
            ).rowcount
        return back, gave_up

    def rescan_all(self, policy_digest: str) -> int:
        """Queue every finished file scanned under another policy digest (policies changed)."""
        now = time.time()
        with self._tx() as c:
            return c.execute(
                "UPDATE files SET state = 'pending', not_before = ?, enqueued_at = ?, event_time = ?, "
                "settle = NULL, attempts = 0 WHERE state IN ('done', 'error') AND "
                "(policy_digest IS NULL OR policy_digest != ?)",
                (now, now, now, policy_digest),
            ).rowcount

    def rescan_flagged(self) -> int:
        """Queue every finished file whose last verdict had findings for a real re-evaluation (the
        content cache is bypassed): the acknowledgements changed or one expired."""
        now = time.time()
        with self._tx() as c:
            return c.execute(
                "UPDATE files SET state = 'pending', policy_digest = NULL, not_before = ?, enqueued_at = ?, "
                "event_time = ?, attempts = 0 WHERE state = 'done' AND findings > 0",
                (now, now, now),
            ).rowcount

    # -- queries ------------------------------------------------------------------------------
    def needs_scan(self, path: str, stat: FileStat | None, content_hash: str, policy_digest: str) -> bool:
        """False when the last scan saw this very content under these very policies."""
        r = self.get(path)
        if r is None or r.state not in ("done", "claimed") or r.last_error is not None:
            return True
        return not (content_hash and r.content_hash == content_hash and r.policy_digest == policy_digest)

    def get(self, path: str) -> Row | None:
        r = self._conn().execute("SELECT * FROM files WHERE path = ?", (_key(path),)).fetchone()
        if r is None:
            return None
        st = FileStat(r["dev"], r["ino"], r["size"], r["mtime_ns"]) if r["dev"] is not None else None
        return Row(
            path=_name(r["path"]),
            zone=r["zone"],
            state=r["state"],
            stat=st,
            content_hash=r["content_hash"],
            policy_digest=r["policy_digest"],
            scans=r["scans"],
            last_error=r["last_error"],
            max_severity=r["max_severity"],
            findings=r["findings"],
            scanned_at=r["scanned_at"],
        )

    def known(self, path: str) -> tuple[str, FileStat | None] | None:
        """(state, stat) of a path for the reconcile diff; None when never seen."""
        r = (
            self._conn()
            .execute("SELECT state, dev, ino, size, mtime_ns FROM files WHERE path = ?", (_key(path),))
            .fetchone()
        )
        if r is None:
            return None
        return r[0], (FileStat(r[1], r[2], r[3], r[4]) if r[1] is not None else None)

    def depth(self) -> int:
        return self._conn().execute("SELECT count(*) FROM files WHERE state = 'pending'").fetchone()[0]

    def oldest_pending_age(self, now: float | None = None) -> float:
        now = time.time() if now is None else now
        v = self._conn().execute("SELECT min(enqueued_at) FROM files WHERE state = 'pending'").fetchone()[0]
        return max(0.0, now - v) if v is not None else 0.0

    def next_due(self) -> float | None:
        """The earliest settle deadline among pending items (lets the dispatcher sleep until then)."""
        return self._conn().execute("SELECT min(not_before) FROM files WHERE state = 'pending'").fetchone()[0]

    def counts(self) -> dict[str, int]:
        rows = self._conn().execute("SELECT state, count(*) FROM files GROUP BY state").fetchall()
        return {r[0]: r[1] for r in rows}

    def get_meta(self, key: str) -> str | None:
        r = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return r[0] if r else None

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
