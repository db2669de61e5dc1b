"""The Sink protocol, the one alert serialisation every sink shares, and the fan-out dispatcher.

Sinks are independent on purpose: a full disk under the JSONL log or a dead syslog server must never
keep an alert from the webhook, so the dispatcher isolates every sink behind its own ``try``. Failure
logs carry the sink name and exception type only — an exception message may quote a path or a value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import structlog

from agent.models import Alert
from agent.redact import shown

if TYPE_CHECKING:
    from agent.metrics import Metrics

log = structlog.get_logger(__name__)

#: Field order of the serialised alert; stable so JSONL lines and golden files diff cleanly.
ALERT_FIELDS: tuple[str, ...] = (
    "id",
    "time",
    "host",
    "zone",
    "role",
    "path",
    "member",
    "policy",
    "rule",
    "entity",
    "severity",
    "excerpt",
    "fingerprint",
    "desc",
    "count",
    "tags",
    "line",
    "incident_id",
)


def iso_utc(ts: float) -> str:
    """RFC 3339 / ISO-8601 UTC with millisecond precision and a ``Z`` suffix."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def alert_to_dict(alert: Alert) -> dict[str, Any]:
    """Serialise an alert for every sink (JSON-safe, stable key order, UTC time).

    An :class:`Alert` carries only redacted excerpts and keyed fingerprints, so everything here
    may leave the host. ``evidence_id`` (the id of a sealed blob only the security team can open)
    is appended when set, so alerts without evidence keep their exact shape.
    """
    values: dict[str, Any] = {
        "id": alert.id,
        "time": iso_utc(alert.time),
        "host": alert.host,
        "zone": alert.zone,
        "role": alert.role,
        "path": shown(alert.path),
        "member": shown(alert.member) if alert.member is not None else None,
        "policy": alert.policy,
        "rule": alert.rule,
        "entity": alert.entity,
        "severity": alert.severity,
        "excerpt": shown(alert.excerpt),
        "fingerprint": alert.fingerprint,
        "desc": alert.desc,
        "count": alert.count,
        "tags": list(alert.tags),
        "line": alert.line,
        "incident_id": alert.incident_id,
    }
    out = {k: values[k] for k in ALERT_FIELDS}
    if alert.evidence_id is not None:
        out["evidence_id"] = alert.evidence_id
    if alert.occurrences > 1:  # a file's findings of one rule grouped into this alert
        out.update(
            occurrences=alert.occurrences,
            members=[shown(m) for m in alert.members],
            excerpts=[shown(x) for x in alert.excerpts],
        )
    return out


@runtime_checkable
class Sink(Protocol):
    """Where alerts go. ``send`` may raise: the dispatcher counts it and moves on."""

    name: str

    def send(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


class Dispatcher:
    """Hands every alert to every sink; one failing sink never stops the others."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        metrics: Metrics | None = None,
        on_failure: Callable[[str, Exception], None] | None = None,
    ) -> None:
        names = [s.name for s in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must be unique: {names}")
        self.sinks: tuple[Sink, ...] = tuple(sinks)
        self._metrics = metrics
        self._on_failure = on_failure
        if metrics is not None:
            for name in names:
                metrics.sink_failures.labels(sink=name)

    def send(self, alert: Alert) -> tuple[str, ...]:
        """Deliver ``alert`` to every sink; return the names of the sinks that failed."""
        failed: list[str] = []
        for sink in self.sinks:
            try:
                sink.send(alert)
            except Exception as exc:
                failed.append(sink.name)
                self._failed(sink.name, "send", exc)
        return tuple(failed)

    def reopen(self) -> None:
        """Reopen files after log rotation (SIGHUP); sinks without ``reopen`` are skipped."""
        for sink in self.sinks:
            reopen = getattr(sink, "reopen", None)
            if reopen is None:
                continue
            try:
                reopen()
            except Exception as exc:
                self._failed(sink.name, "reopen", exc)

    def close(self) -> None:
        """Close every sink (webhook sinks stop their delivery thread; the outbox keeps the rest)."""
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:
                self._failed(sink.name, "close", exc)

    def _failed(self, name: str, op: str, exc: Exception) -> None:
        # The type only: messages of OSError & co. quote paths, and HTTP errors may quote bodies.
        log.warning("sink_failed", sink=name, op=op, error=type(exc).__name__)
        if self._metrics is not None:
            self._metrics.sink_failures.labels(sink=name).inc()
        if self._on_failure is not None:
            try:
                self._on_failure(name, exc)
            except Exception as cb_exc:
                log.error("sink_failure_callback_failed", sink=name, error=type(cb_exc).__name__)
