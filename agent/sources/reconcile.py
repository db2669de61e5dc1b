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
from typing import TYPE_CHECKING, Protocol

import structlog

from agent.journal import FileStat, Journal
from agent.sources import longpath

if TYPE_CHECKING:
    from agent.metrics import Metrics

log = structlog.get_logger(__name__)

BATCH = 500
RETRY_SECONDS = 2.0
#: One directory is crawled at most this often, however many events ask for it.
DIR_INTERVAL = 1.0
#: Directories waiting for a crawl; beyond it (or past STORM_REQUESTS a second) the zone is crawled whole.
MAX_DIRTY_DIRS = 1024
#: Directory crawl requests per zone and second that make a storm (a writer renaming folders in a loop).
STORM_REQUESTS = 100
#: While a storm lasts, its zone is crawled whole at most this often (and never more than half the
#: time, for a zone whose crawl takes longer): files dropped elsewhere in the zone are found by the
#: crawl even while their inotify events wait behind the storm's.
ZONE_INTERVAL = 2.0
#: Folders whose path is longer than PATH_MAX cannot be watched (inotify_add_watch takes a path): a file
#: written into one later has no event, so each is crawled (with what lies below it) this often...
DEEP_INTERVAL = 2.0
#: ...and never more than a fifth of the time: the next poll waits DEEP_BACKOFF times as long as the
#: last one took (a writer who puts a huge tree below a deep folder cannot keep a core busy)...
DEEP_BACKOFF = 4.0
#: ...up to this many of them; past it the rest wait for the periodic crawl (and it is logged).
MAX_DEEP_DIRS = 256


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


def _depth(root: str, d: str) -> int:
    """How many folders ``d`` lies below ``root`` (0: the root itself)."""
    rel = d[len(root) :].strip("/")
    return rel.count("/") + 1 if rel else 0


def crawl(
    flt: ZoneFilter,
    start: str | None = None,
    dirs: list[int] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    deep: set[str] | None = None,
) -> Iterator[tuple[str, os.stat_result]]:
    """Every non-directory entry below ``start`` (default: the zone root) with its lstat.

    Symlinked directories are never descended (a link may leave the zone); symlinks, FIFOs and
    sockets are yielded so the worker records them (``not_regular_file``) instead of hiding them.
    Folders nested past PATH_MAX are crawled too (through descriptors); the topmost of each such
    branch (a folder too long to watch below one that is not) is added to ``deep``.
    """
    stack = [start or flt.root]
    while stack and not cancelled():
        d = stack.pop()
        if dirs is not None:
            dirs[0] += 1
        try:
            entries = longpath.listing(d)  # through a descriptor: a path past PATH_MAX is crawled too
        except OSError as exc:
            if isinstance(exc, (FileNotFoundError, NotADirectoryError)):
                log.debug(
                    "crawl_dir_vanished"
                )  # renamed or removed meanwhile: its new name has its own event
            else:
                # the zone root and the depth, never the folder's name: it may hold a value (a customer's
                # name, a card number) and the parent has no recognizers to mask it as alerts would
                error = exc.strerror or type(exc).__name__
                log.warning("crawl_dir_failed", zone_root=flt.root, depth=_depth(flt.root, d), error=error)
            continue
        subdirs = []
        for name, st in entries:
            if st is None:
                continue  # vanished between listing and stat
            path = os.path.join(d, name)
            if stat_mod.S_ISDIR(st.st_mode):
                if flt.wants_dir(path):
                    subdirs.append(path)
                    if deep is not None and longpath.too_long(path) and not longpath.too_long(d):
                        deep.add(path)
            elif flt.wants_file(path):
                yield path, st
        stack.extend(reversed(subdirs))


def diff(
    journal: Journal,
    zone: str,
    flt: ZoneFilter,
    settle: float,
    start: str | None = None,
    dirs: list[int] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    deep: set[str] | None = None,
) -> tuple[int, int]:
    """Queue new and changed files below ``start``; return (files seen, files queued)."""
    seen = queued = 0
    batch: list[tuple[str, str | None, float | None, float | None]] = []
    for path, st in crawl(flt, start, dirs, cancelled, deep):
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
        metrics: Metrics | None = None,
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
        self._dirty: dict[tuple[str, str], None] = {}  # directories to crawl, in request order (bounded)
        self._dirty_zones: set[str] = set()  # zones to crawl whole (a storm, or too many dirty dirs)
        self._crawled: dict[tuple[str, str], float] = {}  # directory -> when it was last crawled
        self._zone_crawled: dict[str, float] = {}
        self._requests: dict[str, tuple[float, int]] = {}  # zone -> (second, crawl requests in it)
        self._deep: dict[tuple[str, str], None] = {}  # unwatchable folders (past PATH_MAX), polled
        self._deep_capped = False
        self._next_deep = time.monotonic() + DEEP_INTERVAL
        self.runs = 0

    # -- requests (any thread) ----------------------------------------------------------------
    def request_full(self, trigger: str) -> None:
        self._q.put(("full", trigger, None))

    def request_dir(self, zone: str, path: str) -> None:
        """Crawl one directory soon.

        Requests are coalesced into a bounded dirty set, and one directory is crawled at most once per
        ``DIR_INTERVAL``: a writer renaming directories in a loop costs one crawl per directory and
        interval, never one per rename. Past ``STORM_REQUESTS`` a second (or ``MAX_DIRTY_DIRS``
        waiting) the zone is crawled whole instead, at most once per ``ZONE_INTERVAL``: the storm's
        inotify events queue up ahead of everyone else's, and the crawl finds the other files anyway.
        """
        with self._lock:
            was_idle = not self._dirty and not self._dirty_zones
            if zone in self._dirty_zones:
                return
            if self._storm(zone) or len(self._dirty) >= MAX_DIRTY_DIRS:
                self._dirty = {k: None for k in self._dirty if k[0] != zone}
                self._dirty_zones.add(zone)
            else:
                self._dirty[(zone, path)] = None
        if was_idle:
            self._q.put(("dirty", None, None))  # wakes the thread; one token per idle -> busy change

    def _storm(self, zone: str) -> bool:
        """Count a crawl request; True when the zone gets more than STORM_REQUESTS in this second."""
        second = int(time.monotonic())
        at, n = self._requests.get(zone, (second, 0))
        n = n + 1 if at == second else 1
        self._requests[zone] = (second, n)
        if n == STORM_REQUESTS + 1:
            log.warning("directory_storm_detected", zone=zone, requests_per_second=n)
        return n > STORM_REQUESTS

    def _take_due(self) -> tuple[list[str], list[tuple[str, str]]]:
        """The dirty zones and directories whose last crawl is old enough, taken out of the sets."""
        now = time.monotonic()
        with self._lock:
            zones = [z for z in self._dirty_zones if now - self._zone_crawled.get(z, -1e9) >= ZONE_INTERVAL]
            self._dirty_zones.difference_update(zones)
            dirs = [k for k in self._dirty if now - self._crawled.get(k, -1e9) >= DIR_INTERVAL]
            for k in dirs:
                del self._dirty[k]
            if len(self._crawled) > MAX_DIRTY_DIRS:  # forget crawls too old to defer anything
                self._crawled = {k: t for k, t in self._crawled.items() if now - t < DIR_INTERVAL}
            for z in zones:
                self._zone_crawled[z] = now
            for k in dirs:
                self._crawled[k] = now
        return zones, dirs

    def _crawl_dirty(self) -> None:
        zones, dirs = self._take_due()
        for zone in zones:
            started = time.monotonic()
            self.run_zone(zone, "storm")
            ended = time.monotonic()
            with self._lock:  # the next one waits as long as this one took (at most half the time crawling)
                self._zone_crawled[zone] = ended + max(0.0, ended - started - ZONE_INTERVAL)
        for zone, path in dirs:
            if zone not in zones:
                self.run_dir(zone, path)

    def pending_dirs(self) -> int:
        """Directories and zones still waiting for their crawl."""
        with self._lock:
            return len(self._dirty) + len(self._dirty_zones)

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
                s, q = self._diff(name, flt, self.settle, dirs=dirs)
                seen, queued = seen + s, queued + q
                if self.metrics is not None:
                    self.metrics.watched_directories.labels(zone=name).set(dirs[0])
        except Exception as exc:
            log.error("reconcile_failed", trigger=trigger, error=type(exc).__name__)
            if self.metrics is not None:
                self.metrics.reconcile_runs.labels(trigger=trigger, outcome="failure").inc()
            raise
        self.runs += 1
        if self.metrics is not None:
            self.metrics.reconcile_runs.labels(trigger=trigger, outcome="success").inc()
            self.metrics.reconcile_last_success.set(time.time())
        log.info("reconcile_finished", trigger=trigger, files_seen=seen, files_queued=queued)
        if queued:
            self.wake()
        return seen, queued

    def run_zone(self, zone: str, trigger: str) -> int:
        """Crawl one zone whole now (a storm in it); the number of files queued."""
        flt = next((f for n, f in self.zones if n == zone), None)
        if flt is None:
            return 0
        _, queued = self._diff(zone, flt, self.dir_settle)
        if self.metrics is not None:
            self.metrics.reconcile_runs.labels(trigger=trigger, outcome="success").inc()
        log.info("reconcile_finished", trigger=trigger, zone=zone, files_queued=queued)
        if queued:
            self.wake()
        return queued

    def run_dir(self, zone: str, path: str) -> int:
        flt = next((f for n, f in self.zones if n == zone), None)
        if flt is None or not flt.wants_dir(path):
            return 0
        _, queued = self._diff(zone, flt, self.dir_settle, start=path)
        if queued:
            self.wake()
        return queued

    def _diff(
        self,
        zone: str,
        flt: ZoneFilter,
        settle: float,
        start: str | None = None,
        dirs: list[int] | None = None,
    ) -> tuple[int, int]:
        """:func:`diff` of one zone (or a folder of it), the unwatchable folders it met remembered."""
        deep: set[str] = set()
        result = diff(
            self.journal, zone, flt, settle, start=start, dirs=dirs, cancelled=self._stop.is_set, deep=deep
        )
        self._found_deep(zone, deep)
        return result

    # -- folders past PATH_MAX (no inotify watch) -------------------------------------------------
    def _found_deep(self, zone: str, found: set[str]) -> None:
        """Remember unwatchable folders a crawl met (bounded), so they are polled."""
        with self._lock:
            fresh = [(zone, p) for p in sorted(found) if (zone, p) not in self._deep]
            room = max(0, MAX_DEEP_DIRS - len(self._deep))
            self._deep.update(dict.fromkeys(fresh[:room]))
            capped, self._deep_capped = self._deep_capped, self._deep_capped or len(fresh) > room
        if len(fresh) > room and not capped:
            log.warning("deep_directories_capped", zone=zone, polled=MAX_DEEP_DIRS)
        if fresh:
            log.warning(
                "directories_unwatchable", zone=zone, count=len(fresh), reason="path longer than PATH_MAX",
                poll_seconds=DEEP_INTERVAL,
            )  # fmt: skip

    def deep_dirs(self) -> int:
        """Folders past PATH_MAX polled for new files (inotify cannot watch them)."""
        with self._lock:
            return len(self._deep)

    def _poll_deep(self) -> None:
        """Crawl every unwatchable folder (and what lies below it); forget those that went away."""
        started = time.monotonic()
        if started < self._next_deep:
            return
        self._next_deep = started + DEEP_INTERVAL
        with self._lock:
            polled = list(self._deep)
        for zone, path in polled:
            try:
                longpath.lstat(path)
            except OSError:  # gone (or swapped): its parent's crawl finds its new name, if any
                with self._lock:
                    self._deep.pop((zone, path), None)
                    self._deep_capped = False
                continue
            self.run_dir(zone, path)
        took = time.monotonic() - started
        self._next_deep = max(self._next_deep, started + took * (1 + DEEP_BACKOFF))
        if polled and self.metrics is not None:
            self.metrics.reconcile_runs.labels(trigger="deep_poll", outcome="success").inc()

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
                kind, a, _ = self._q.get(timeout=0.1)
            except queue.Empty:
                kind, a = "", None
            try:
                if kind == "full":
                    self.run_full(a or "manual")
                self._crawl_dirty()
                self._poll_deep()
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
