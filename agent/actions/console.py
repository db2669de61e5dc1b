"""Alerts as structlog events on stdout, where journald (or a container runtime) picks them up."""

from __future__ import annotations

from typing import Any

import structlog

from agent.actions.sinks import alert_to_dict
from agent.models import Alert


class ConsoleSink:
    """Emits one ``alert_raised`` event per alert through structlog (rendered by ``agent.log``)."""

    name = "console"

    def __init__(self, logger: Any = None) -> None:
        self._log = logger if logger is not None else structlog.get_logger(__name__)

    def send(self, alert: Alert) -> None:
        fields = alert_to_dict(alert)
        # "alert_id", not "id": log pipelines (journald, Loki) give "id" meanings of their own.
        fields["alert_id"] = fields.pop("id")
        fields["alert_time"] = fields.pop("time")
        self._log.warning("alert_raised", **fields)

    def close(self) -> None:
        """Nothing to release: stdout belongs to the process."""
