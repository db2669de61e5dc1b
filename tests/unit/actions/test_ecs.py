"""ECS-shaped alerts for SIEMs: the JSONL sink and the webhook (to a real HTTP receiver)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from agent.actions.ecs import ECS_VERSION
from agent.actions.jsonl import JsonlSink
from agent.actions.outbox import Outbox
from agent.actions.webhook import WebhookSink
from agent.metrics import Metrics
from tests.unit.actions.conftest import PLANTED, REDACTED, Receiver, make_alert


def _check_ecs(doc: dict, alert_id: str) -> None:
    assert doc["ecs"]["version"] == ECS_VERSION
    assert doc["event"]["kind"] == "alert"
    assert doc["event"]["category"] == ["file"]
    assert doc["event"]["id"] == alert_id
    assert doc["event"]["severity"] == 73  # high
    assert doc["file"]["path"].endswith(".xlsx")
    assert doc["file"]["name"] == doc["file"]["path"].rsplit("/", 1)[1]
    assert doc["rule"] == {
        "id": "card-number-bulk", "name": "card-number-bulk", "ruleset": "pci",
        "description": "Payment card numbers",
    }  # fmt: skip
    assert doc["host"]["name"] == "fs01"
    assert doc["labels"] == {"zone": "contractors", "role": "contractor-drop", "entity": "CREDIT_CARD"}
    assert doc["dropwarden"]["excerpt"] == REDACTED
    assert doc["@timestamp"].endswith("Z")


def test_jsonl_sink_writes_ecs(tmp_path: Path) -> None:
    sink = JsonlSink(str(tmp_path / "alerts.jsonl"), fmt="ecs")
    alert = make_alert(3)
    sink.send(alert)
    sink.close()
    text = (tmp_path / "alerts.jsonl").read_text()
    assert PLANTED not in text
    _check_ecs(json.loads(text), alert.id)


def test_webhook_posts_an_array_of_ecs_events(tmp_path: Path, receiver: Receiver) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"))
    sink = WebhookSink("siem", receiver.url, outbox, fmt="ecs", metrics=Metrics())
    sink.start()
    try:
        alert = make_alert(4)
        sink.send(alert)
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sink.close()
    body = receiver.requests[0].body
    assert isinstance(body, list)
    _check_ecs(body[0], alert.id)
