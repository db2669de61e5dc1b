"""inotify (watchdog) events -> the journal, debounced, with overflow detection.

Each event sets the file's settle deadline (``not_before``) in the journal: a create or modify
gives ``settle`` seconds (the writer may still be writing: a slow writer is scanned once, at its
final content), a close-after-write (IN_CLOSE_WRITE) only ``close_settle`` (the writer is done;
the short wait coalesces a quick reopen, whose modify event brings the full settle back).
Events are coalesced in memory for a few tens of milliseconds and written in one transaction (a
20,000-file burst is ~60,000 events).

A journal that cannot be written (the state volume is full, say) loses nothing it can keep: events
stay in memory (at most ``MAX_BUFFERED`` paths) and the flush is retried every ``RETRY_SECONDS``;
when the bound forced events to be dropped, ``on_lost`` is called once writes succeed again, and the
daemon answers with a reconcile crawl (whoever can fill the volume must not be able to hide a drop).

Overflow: watchdog 7 handles IN_Q_OVERFLOW itself (it rebuilds recursive watches) and only logs a
warning ("Inotify queue overflowed ..."); older versions log similar text or nothing. We attach a
logging handler to the ``watchdog`` logger that turns any overflow record into a reconcile crawl:
it depends only on the public logger name, works across versions, and the crawl is debounced and
runs after watchdog's own watch rebuild (which happens in the same call, right after the log).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from agent.journal import Journal
from agent.sources.reconcile import ZoneFilter, ZoneLike

log = structlog.get_logger(__name__)

EVENT_FILTER = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]


class OverflowDetector(logging.Handler):
    """Calls ``on_overflow`` for every watchdog log record that reports an inotify queue overflow."""

    LOGGER = "watchdog"

    def __init__(self, on_overflow: Callable[[], None]) -> None:
        super().__init__(level=logging.WARNING)
        self.on_overflow = on_overflow
        self._last = 0.0

    def emit(self, record: logging.LogRecord) -> None:
        try:
            msg = record.getMessage()
        except Exception:
            return
        if "overflow" in msg.lower():
            self.on_overflow()

    def install(self) -> OverflowDetector:
        lg = logging.getLogger(self.LOGGER)
        if lg.getEffectiveLevel() > logging.WARNING:
            lg.setLevel(logging.WARNING)
        lg.addHandler(self)
        return self

    def uninstall(self) -> None:
        logging.getLogger(self.LOGGER).removeHandler(self)


#: Paths kept in memory while the journal cannot be written; beyond it events are dropped (and a
#: reconcile crawl finds their files once writes succeed again).
MAX_BUFFERED = 100_000
RETRY_SECONDS = 0.5


class EventBatcher:
    """Coalesces events in memory and flushes them to the journal every ``interval`` seconds."""

    def __init__(
        self,
        journal: Journal,
        settle: float,
        interval: float = 0.05,
        wake: Callable[[], None] = lambda: None,
        close_settle: float | None = None,
        on_write_failed: Callable[[], None] = lambda: None,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self.journal = journal
        self.on_write_failed = on_write_failed
        self.on_lost = on_lost
        self.failing = False
        self.dropped = 0  # events dropped since the last successful write (the buffer was full)
        self.settle = settle
        self.close_settle = min(settle, close_settle if close_settle is not None else settle)
        self.interval = interval
        self.wake = wake
        self._pending: dict[str, tuple[str, float, float]] = {}  # path -> (zone, event time, settle)
        self._gone: set[str] = set()
        self._gone_dirs: set[str] = set()  # folders moved away: every row below them goes
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._kick = threading.Event()  # set when there is something to flush (or on stop)
        self.events = 0

    def add(self, path: str, zone: str, when: float | None = None, closed: bool = False) -> None:
        """One event; ``closed``: a close-after-write (the last event of a batch decides the settle)."""
        with self._lock:
            self.events += 1
            self._pending[path] = (zone, when or time.time(), self.close_settle if closed else self.settle)
            self._gone.discard(path)
        self._kick.set()

    def gone(self, path: str) -> None:
        with self._lock:
            self._pending.pop(path, None)
            self._gone.add(path)
        self._kick.set()

    def gone_below(self, folder: str) -> None:
        """A folder moved away (or out): forget what is known below it, in one go (queued paths stay
        queued, see Journal.forget_many). Written now, not with the next flush: the crawl of the
        folder's new name (or of the same name, when it comes back) is requested right after."""
        try:
            self.journal.forget_many((), (folder,))
        except Exception as exc:  # not writable now: with the next flush (retried like any event)
            log.debug("journal_write_failed", operation="forget_below", error=type(exc).__name__)
            with self._lock:
                self._gone_dirs.add(folder)
            self._kick.set()

    def flush(self) -> int:
        with self._lock:
            pending, self._pending = self._pending, {}
            gone, self._gone = self._gone, set()
            gone_dirs, self._gone_dirs = self._gone_dirs, set()
        try:
            self.journal.forget_many(gone, gone_dirs)
            n = self.journal.enqueue_many((p, z, t, t + d, d) for p, (z, t, d) in pending.items())
        except Exception:
            with self._lock:
                self._gone_dirs |= gone_dirs
            self._keep(pending, gone)
            raise
        if self.failing:
            self._recovered()
        if n:
            self.wake()
        return n

    def _keep(self, pending: dict[str, tuple[str, float, float]], gone: set[str]) -> None:
        """Put what could not be written back (events that came meanwhile are newer and win), bounded."""
        with self._lock:
            for p, v in pending.items():
                if p not in self._pending and p not in self._gone:
                    self._pending[p] = v
            self._gone |= {p for p in gone if p not in self._pending}
            over = len(self._pending) + len(self._gone) - MAX_BUFFERED
            if over > 0:
                for p in list(self._pending)[:over]:
                    del self._pending[p]
                self.dropped += over
        if not self.failing:
            log.error("journal_write_failing", buffered=len(self._pending))
        self.failing = True
        self.on_write_failed()

    def _recovered(self) -> None:
        dropped, self.dropped, self.failing = self.dropped, 0, False
        log.warning("journal_write_recovered", events_dropped=dropped)
        if dropped:
            self.on_lost()

    def buffered(self) -> int:
        with self._lock:
            return len(self._pending) + len(self._gone)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="event-batcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(5.0)
        self.flush()

    def _loop(self) -> None:
        # Sleeps until an event arrives (an idle agent watching 10,000 folders does not wake 20 times
        # a second), then lets a burst coalesce for `interval` before writing it in one transaction.
        while not self._stop.is_set():
            self._kick.wait(RETRY_SECONDS if self.failing else None)
            if self._stop.wait(self.interval):
                return
            self._kick.clear()
            try:
                self.flush()
            except Exception as exc:  # busy or full: the events are kept and retried (see _keep)
                log.debug("journal_write_failed", error=type(exc).__name__)


#: How long after its creation a directory counts as fresh (see _Handler).
FRESH_DIR_SECONDS = 5.0


class _Handler(FileSystemEventHandler):
    """Turns watchdog events into journal entries.

    A file created in a directory that appeared moments ago may have been written and closed before
    inotify watched that directory: its close event is lost, and only watchdog's synthetic
    "created" event or the directory crawl report it. Such files get the short close settle rather
    than the full one: the directory is watched by then, so a writer still at work produces modify
    and close events that re-arm the settle, and nothing is scanned before its final content without
    being scanned again at it (at worst one early scan). Without this, a third of the files dropped
    into new folders waited the full settle (p99 close->alert just over 1 s at a 1 s settle).
    """

    def __init__(self, watcher: Watcher, zone: str, flt: ZoneFilter) -> None:
        self.w, self.zone, self.flt = watcher, zone, flt
        self._fresh_dirs: dict[str, float] = {}  # directory -> monotonic time it was created

    def _in_fresh_dir(self, path: str) -> bool:
        created = self._fresh_dirs.get(os.path.dirname(path))
        return created is not None and time.monotonic() - created < FRESH_DIR_SECONDS

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._handle(event)
        except Exception as exc:  # never let one odd event kill watchdog's dispatch thread
            log.error("event_handling_failed", kind=type(event).__name__, error=type(exc).__name__)

    def _handle(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(event.dest_path) if event.dest_path else ""
        if isinstance(event, (FileCreatedEvent, FileModifiedEvent, FileClosedEvent)):
            if self.flt.wants_file(src):
                closed = isinstance(event, FileClosedEvent) or (
                    isinstance(event, FileCreatedEvent) and self._in_fresh_dir(src)
                )
                self.w.batcher.add(src, self.zone, closed=closed)
        elif isinstance(event, (FileMovedEvent, DirMovedEvent)) and event.is_synthetic:
            return  # watchdog's replay of each file in a moved folder: the folder's own event covers them
        elif isinstance(event, FileMovedEvent):
            if src and self.flt.contains(src):
                self.w.batcher.gone(src)
            if dest and self.flt.wants_file(dest):  # renamed into place: the writer is done with it
                self.w.batcher.add(dest, self.zone, closed=True)
        elif isinstance(event, FileDeletedEvent):
            if self.flt.contains(src):
                self.w.batcher.gone(src)
        elif isinstance(event, (DirCreatedEvent, DirMovedEvent)):
            self._dir_event(src, dest if isinstance(event, DirMovedEvent) else None)

    def _dir_event(self, src: str, moved_to: str | None) -> None:
        """A folder created (``moved_to`` None) or moved: crawl it where it is now."""
        if moved_to is not None and src and self.flt.contains(src):
            self.w.batcher.gone_below(src)  # its files live under the new name now (crawled below)
        target = src if moved_to is None else moved_to
        if target and self.flt.wants_dir(target):
            now = time.monotonic()
            if len(self._fresh_dirs) > 10_000:  # a burst of new folders: forget the stale ones
                self._fresh_dirs = {d: t for d, t in self._fresh_dirs.items() if now - t < FRESH_DIR_SECONDS}
            self._fresh_dirs[target] = now
            # files created before the new directory's watch was set got no event: crawl it once
            self.w.on_dir(self.zone, target)


def zone_problem(path: str) -> str | None:
    """Why a zone folder cannot be watched now (``missing``, ``not_directory``, ``unreadable``), or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"unreadable: {exc.strerror or type(exc).__name__}"
    if not stat.S_ISDIR(st.st_mode):
        return "not_directory"
    if not os.access(path, os.R_OK | os.X_OK):
        return "unreadable"
    return None


class Watcher:
    """One watchdog Observer over every zone, recursive, feeding the journal through the batcher."""

    def __init__(
        self,
        zones: Sequence[ZoneLike],
        journal: Journal,
        settle: float,
        on_dir: Callable[[str, str], None] = lambda zone, path: None,
        on_overflow: Callable[[], None] = lambda: None,
        wake: Callable[[], None] = lambda: None,
        close_settle: float | None = None,
        on_write_failed: Callable[[], None] = lambda: None,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self.zones = list(zones)
        self.batcher = EventBatcher(
            journal, settle, wake=wake, close_settle=close_settle, on_write_failed=on_write_failed,
            on_lost=on_lost,
        )  # fmt: skip
        self.on_dir = on_dir
        self.detector = OverflowDetector(on_overflow)
        self.observer: Observer | None = None  # type: ignore[valid-type]
        self.down: dict[str, str] = {}  # zone name -> why it is not watched (missing, unreadable, ...)
        self._watches: dict[str, Any] = {}

    def start(self) -> None:
        self.detector.install()
        self.batcher.start()
        obs = Observer()
        obs.start()
        self.observer = obs
        for z in self.zones:
            self._arm(z)
        log.info("watches_set", zones=[z.name for z in self.zones if z.name not in self.down])

    def _arm(self, z: ZoneLike) -> bool:
        """Watch zone ``z`` when its folder is usable; else record why (``down``) and log it once."""
        problem = zone_problem(z.path)
        if problem is None and self.observer is None:
            problem = "watcher_stopped"
        if problem is None:
            try:
                self._watches[z.name] = self.observer.schedule(
                    _Handler(self, z.name, ZoneFilter.of(z)),
                    z.path,
                    recursive=True,
                    follow_symlink=bool(getattr(z, "follow_symlinks", False)),
                    event_filter=EVENT_FILTER,
                )
            except OSError as exc:
                problem = f"watch_failed: {exc.strerror or type(exc).__name__}"
        if problem is not None:
            if self.down.get(z.name) != problem:
                log.warning("zone_unavailable", zone=z.name, reason=problem, retry_seconds=1)
            self.down[z.name] = problem
            return False
        if self.down.pop(z.name, None) is not None:
            log.info("zone_available", zone=z.name)
        return True

    def check_zones(self) -> list[ZoneLike]:
        """Re-arm zones whose folder came (back), drop the watch of zones whose folder went away.

        Returns the zones armed just now: their content must be crawled (events before the watch
        are lost). Cheap (a stat per zone): the agent calls it every second."""
        armed: list[ZoneLike] = []
        for z in self.zones:
            if z.name in self.down:
                if self.observer is not None and self._arm(z):
                    armed.append(z)
            elif (problem := zone_problem(z.path)) is not None:
                watch = self._watches.pop(z.name, None)
                if watch is not None and self.observer is not None:
                    with contextlib.suppress(KeyError, OSError):
                        self.observer.unschedule(watch)
                log.warning("zone_unavailable", zone=z.name, reason=problem, retry_seconds=1)
                self.down[z.name] = problem
        return armed

    def is_up(self, zone: str) -> bool:
        return zone not in self.down

    def stop(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(2.0)
            self.observer = None
        self.batcher.stop()
        self.detector.uninstall()
