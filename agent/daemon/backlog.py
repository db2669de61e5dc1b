"""What the daemon does while its journal cannot be written (a full state volume, say).

Whoever can fill the state volume must not be able to hide a drop (issue 14, item 13). Every place
that writes the journal reports a failure here; the count is the metric
``dropwarden_journal_write_failures_total{operation}`` (alert rule DropwardenJournalWriteFailing) and
the systemd ``STATUS=`` line says so while it lasts. A file whose outcome could not be recorded (its
alert may or may not have gone out: the deduplicator decides on the retry) stays claimed in the
journal; it is kept here and put back in the queue as soon as the journal takes writes again, so it
is scanned (and alerted) again. Event loss in the watcher is handled there (buffer, then a crawl).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from agent.journal import Journal, WorkItem

log = structlog.get_logger(__name__)

OPERATIONS = ("events", "reconcile", "dispatch", "outcome")
MAX_STRANDED = 10_000


class JournalBacklog:
    """Counts journal write failures, keeps the items they stranded, and requeues them on recovery."""

    def __init__(
        self, journal: Journal, metrics: Any, status: Callable[[str], object], on_lost: Callable[[], None]
    ) -> None:
        self.journal = journal
        self.metrics = metrics
        self.status = status
        self.on_lost = on_lost
        self._stranded: dict[str, WorkItem] = {}
        self._lost = False
        self._last_failure = 0.0
        self._shown = ""
        for op in OPERATIONS:
            metrics.journal_write_failures.labels(operation=op)

    def failed(self, operation: str) -> None:
        """One failed journal write (any thread)."""
        self.metrics.journal_write_failures.labels(operation=operation).inc()
        self._last_failure = time.monotonic()

    def strand(self, item: WorkItem) -> None:
        """An outcome that could not be recorded: requeue the item once writes succeed."""
        self.failed("outcome")
        if len(self._stranded) >= MAX_STRANDED:
            self._lost = True  # the crawl after recovery finds it
            return
        self._stranded[item.path] = item

    def tick(self) -> None:
        """Called about once a second by the main loop: requeue stranded items, update STATUS=."""
        now = time.time()
        for path, item in list(self._stranded.items()):
            try:
                self.journal.defer(item, now)
            except Exception as exc:
                self.failed("outcome")
                log.debug("journal_write_failed", operation="requeue", error=type(exc).__name__)
                break
            del self._stranded[path]
        if not self._stranded and self._lost:
            self._lost = False
            self.on_lost()
        self._show()

    def _show(self) -> None:
        failing = time.monotonic() - self._last_failure < 10.0 if self._last_failure else False
        text = (
            f"journal not writable (state volume full?): {len(self._stranded)} files waiting"
            if failing or self._stranded
            else "watching"
        )
        if text != self._shown:
            self._shown = text
            self.status(text)
            (log.error if text != "watching" else log.info)("journal_status_changed", status=text)
