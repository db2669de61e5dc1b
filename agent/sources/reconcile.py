"""Reconcile: crawl the zones and queue every file the journal has not seen in this version.

inotify is lossy (queue overflow, files created in a new directory before its watch exists, events
while the agent was down), so a crawl diffed against the journal runs at start-up, after every
overflow, after a directory appears, and periodically. A file whose (dev, inode, size, mtime_ns)
matches its journal row is unchanged and not queued again.
"""

from __future__ import annotations

import fnmatch
import os
import queue
import stat as stat_mod
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import structlog

from agent.journal import FileStat, Journal

log = structlog.get_logger(__name__)

BATCH = 500
RETRY_SECONDS = 2.0


class ZoneLike(Protocol):
    name: str
    path: str
    include: tuple[str, ...]
    exclude: tuple[str, ...]


@dataclass(frozen=True)
class ZoneFilter:
    """include/exclude globs, matched against the path relative to the zone root (and its basename)."""

    root: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, zone: ZoneLike) -> ZoneFilter:
        return cls(zone.path.rstrip("/") or "/", tuple(zone.include), tuple(zone.exclude))

    def _rel(self, path: str) -> str | None:
        if path == self.root:
            return ""
        prefix = self.root if self.root.endswith("/") else self.root + "/"
        return path[len(prefix) :] if path.startswith(prefix) else None

    def _hit(self, rel: str, globs: tuple[str, ...]) -> bool:
        base = rel.rsplit("/", 1)[-1]
        return any(fnmatch.fnmatchcase(rel, g) or fnmatch.fnmatchcase(base, g) for g in globs)

    def contains(self, path: str) -> bool:
        return self._rel(path) is not None

    def wants_dir(self, path: str) -> bool:
        rel = self._rel(path)
        return rel is not None and not (rel and self._hit(rel, self.exclude))

    def wants_file(self, path: str) -> bool:
        rel = self._rel(path)
        if not rel:
            return False
        parts = rel.split("/")
        for i in range(1, len(parts)):  # a file below an excluded directory is excluded
            if self._hit("/".join(parts[:i]), self.exclude):
                return False
        if self._hit(rel, self.exclude):
            return False
        return not self.include or self._hit(rel, self.include)


def crawl(
    flt: ZoneFilter,
    start: str | None = None,
    dirs: list[int] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> Iterator[tuple[str, os.stat_result]]:
    """Every non-directory entry below ``start`` (default: the zone root) with its lstat.

    Symlinked directories are never descended (a link may leave the zone); symlinks, FIFOs and
    sockets are yielded so the worker records them (``not_regular_file``) instead of hiding them.
    """
    stack = [start or flt.root]
    while stack and not cancelled():
        d = stack.pop()
        if dirs is not None:
            dirs[0] += 1
        try:
            with os.scandir(d) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            log.warning("crawl_dir_failed", path=d, error=exc.strerror or type(exc).__name__)
            continue
        subdirs = []
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue  # vanished between listing and stat
            if stat_mod.S_ISDIR(st.st_mode):
                if flt.wants_dir(e.path):
                    subdirs.append(e.path)
            elif flt.wants_file(e.path):
                yield e.path, st
        stack.extend(reversed(subdirs))


def diff(
    journal: Journal,
    zone: str,
    flt: ZoneFilter,
    settle: float,
    start: str | None = None,
    dirs: list[int] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
) -> tuple[int, int]:
    """Queue new and changed files below ``start``; return (files seen, files queued)."""
    seen = queued = 0
    batch: list[tuple[str, str | None, float | None, float | None]] = []
    for path, st in crawl(flt, start, dirs, cancelled):
        seen += 1
        known = journal.known(path)
        if known is not None:
            state, old = known
            if state in ("pending", "claimed") or old == FileStat.of(st):
                continue
        now = time.time()
        mtime = st.st_mtime_ns / 1e9
        batch.append((path, zone, min(mtime, now), max(now, mtime + settle)))
        if len(batch) >= BATCH:
            queued += journal.enqueue_many(batch)
            batch.clear()
    queued += journal.enqueue_many(batch)
    return seen, queued


class Reconciler:
    """A background thread running crawls on request (start-up, overflow, new directory, timer)."""

    def __init__(
        self,
        journal: Journal,
        zones: list[ZoneLike],
        settle: float,
        interval: float = 3600.0,
        metrics: object | None = None,
        wake: Callable[[], None] = lambda: None,
        overflow_delay: float = 0.5,
        dir_settle: float | None = None,
        on_write_failed: Callable[[], None] = lambda: None,
    ) -> None:
        self.journal = journal
        self.on_write_failed = on_write_failed
        self._retry_at: float | None = None  # a crawl failed (journal not writable): crawl again then
        self.zones = [(z.name, ZoneFilter.of(z)) for z in zones]
        self.settle = settle
        # a new directory is watched before it is crawled: its files get the short close settle
        # (watcher._Handler explains why that loses nothing)
        self.dir_settle = settle if dir_settle is None else min(settle, dir_settle)
        self.interval = interval
        self.metrics = metrics
        self.wake = wake
        self.overflow_delay = overflow_delay
        self._q: queue.Queue[tuple[str, str | None, str | None]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_periodic = time.monotonic() + interval if interval > 0 else float("inf")
        self._overflow_at: float | None = None
        self._lock = threading.Lock()
        self._dirs_queued: set[tuple[str, str]] = set()
        self.runs = 0

    # -- requests (any thread) ----------------------------------------------------------------
    def request_full(self, trigger: str) -> None:
        self._q.put(("full", trigger, None))

    def request_dir(self, zone: str, path: str) -> None:
        """Crawl one directory soon; a request already waiting for the same one is not queued twice
        (a writer renaming a directory back and forth must not queue one crawl per rename)."""
        with self._lock:
            if (zone, path) in self._dirs_queued:
                return
            self._dirs_queued.add((zone, path))
        self._q.put(("dir", zone, path))

    def overflowed(self) -> None:
        """inotify dropped events: crawl everything once the burst of overflow signals is over."""
        with self._lock:
            self._overflow_at = time.monotonic()

    # -- the crawl ------------------------------------------------------------------------------
    def run_full(self, trigger: str) -> tuple[int, int]:
        """Crawl every zone now (in the calling thread); count the run by trigger and outcome."""
        seen = queued = 0
        try:
            for name, flt in self.zones:
                dirs = [0]
                s, q = diff(self.journal, name, flt, self.settle, dirs=dirs, cancelled=self._stop.is_set)
                seen, queued = seen + s, queued + q
                if self.metrics is not None:
                    self.metrics.watched_directories.labels(zone=name).set(dirs[0])  # type: ignore[attr-defined]
        except Exception as exc:
            log.error("reconcile_failed", trigger=trigger, error=type(exc).__name__)
            if self.metrics is not None:
                self.metrics.reconcile_runs.labels(trigger=trigger, outcome="failure").inc()  # type: ignore[attr-defined]
            raise
        self.runs += 1
        if self.metrics is not None:
            self.metrics.reconcile_runs.labels(trigger=trigger, outcome="success").inc()  # type: ignore[attr-defined]
            self.metrics.reconcile_last_success.set(time.time())  # type: ignore[attr-defined]
        log.info("reconcile_finished", trigger=trigger, files_seen=seen, files_queued=queued)
        if queued:
            self.wake()
        return seen, queued

    def run_dir(self, zone: str, path: str) -> int:
        flt = next((f for n, f in self.zones if n == zone), None)
        if flt is None or not flt.wants_dir(path):
            return 0
        _, queued = diff(self.journal, zone, flt, self.dir_settle, start=path, cancelled=self._stop.is_set)
        if queued:
            self.wake()
        return queued

    # -- the thread -----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="reconcile", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._q.put(("stop", None, None))
        if self._thread is not None:
            self._thread.join(timeout)

    def _due_overflow(self) -> bool:
        with self._lock:
            if self._overflow_at is not None and time.monotonic() - self._overflow_at >= self.overflow_delay:
                self._overflow_at = None
                return True
        return False

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                kind, a, b = self._q.get(timeout=0.1)
            except queue.Empty:
                kind, a, b = "", None, None
            try:
                if kind == "full":
                    self.run_full(a or "manual")
                elif kind == "dir" and a is not None and b is not None:
                    with self._lock:
                        self._dirs_queued.discard((a, b))  # events from now on ask for a new crawl
                    self.run_dir(a, b)
                if self._due_overflow():
                    self.run_full("overflow")
                if time.monotonic() >= self._next_periodic:
                    self._next_periodic = time.monotonic() + self.interval
                    self.run_full("periodic")
                self._retry_if_due()
            except Exception as exc:  # a crawl failure must not kill the thread: retried in full
                log.error("reconcile_request_failed", kind=kind, error=type(exc).__name__)
                self._retry_at = time.monotonic() + RETRY_SECONDS
                self.on_write_failed()

    def _retry_if_due(self) -> None:
        """A failed crawl (or directory crawl) left files unqueued: crawl everything until one succeeds."""
        if self._retry_at is not None and time.monotonic() >= self._retry_at:
            self._retry_at = None
            self.run_full("retry")
