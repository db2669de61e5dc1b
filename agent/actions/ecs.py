"""Elastic Common Schema (ECS 8.x) shape of an alert, for SIEMs that ingest ECS JSON.

Built from the serialised alert (``alert_to_dict``), so the JSONL sink and the webhook outbox (which
stores that form) produce the same document. Standard fields where ECS has one (event.*, file.*,
rule.*, host.name, labels, tags), everything else of Dropwarden's under ``dropwarden.*``. Like every
alert it carries only the redacted excerpt and the keyed fingerprint.
"""

from __future__ import annotations

import posixpath
from typing import Any

ECS_VERSION = "8.11.0"

#: event.severity is numeric in ECS; these follow the agent's severity order.
SEVERITY_NUMBER = {"low": 21, "medium": 47, "high": 73, "critical": 99}


def ecs_document(alert: dict[str, Any]) -> dict[str, Any]:
    """One ECS event for one serialised alert."""
    path = str(alert.get("path") or "")
    severity = str(alert.get("severity") or "")
    where = f"{path}!{alert['member']}" if alert.get("member") else path
    labels = {k: alert[k] for k in ("zone", "role", "entity") if alert.get(k)}
    doc: dict[str, Any] = {
        "@timestamp": alert.get("time"),
        "ecs": {"version": ECS_VERSION},
        "message": f"{alert.get('rule')} ({alert.get('entity')}, {severity}) in {where}",
        "event": {
            "kind": "alert",
            "category": ["file"],
            "type": ["info"],
            "id": alert.get("id"),
            "module": "dropwarden",
            "dataset": "dropwarden.finding",
            "severity": SEVERITY_NUMBER.get(severity, 0),
        },
        "host": {"name": alert.get("host")},
        "file": {"path": path, "name": posixpath.basename(path), "directory": posixpath.dirname(path)},
        "rule": {"id": alert.get("rule"), "name": alert.get("rule"), "ruleset": alert.get("policy")},
        "labels": labels,
        "tags": list(alert.get("tags") or []),
        "dropwarden": {
            k: alert.get(k)
            for k in (
                "severity",
                "entity",
                "member",
                "excerpt",
                "fingerprint",
                "count",
                "line",
                "zone",
                "role",
            )
        },
    }
    if alert.get("desc"):
        doc["rule"]["description"] = alert["desc"]
    for extra in ("incident_id", "evidence_id"):
        if alert.get(extra):
            doc["dropwarden"][extra] = alert[extra]
    return doc
