"""Alert serialisation, the console sink and the dispatcher's isolation of failing sinks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import structlog

from agent.actions.console import ConsoleSink
from agent.actions.jsonl import JsonlSink
from agent.actions.outbox import Outbox
from agent.actions.sinks import ALERT_FIELDS, Dispatcher, Sink, alert_to_dict
from agent.actions.webhook import WebhookSink
from agent.metrics import Metrics
from agent.models import Alert
from tests.unit.actions.conftest import PLANTED, Receiver, make_alert


class Exploding:
    """A sink whose every operation raises, with a message that quotes the alert (must not be logged)."""

    name = "exploding"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, alert: Alert) -> None:
        self.calls += 1
        raise RuntimeError(f"boom {PLANTED} {alert.path}")

    def reopen(self) -> None:
        raise RuntimeError("reopen boom")

    def close(self) -> None:
        raise RuntimeError("close boom")


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []
        self.closed = False

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)

    def close(self) -> None:
        self.closed = True


def test_alert_to_dict_is_stable_and_json_safe() -> None:
    """The serialised alert has the fixed field order, ISO-8601 UTC time and JSON-native types."""
    d = alert_to_dict(make_alert(1, tags=("pci", "bulk"), incident_id="inc-1"))
    assert tuple(d) == ALERT_FIELDS
    assert d["time"] == "2026-11-18T11:06:41.250Z"
    assert d["tags"] == ["pci", "bulk"] and d["incident_id"] == "inc-1"
    assert json.loads(json.dumps(d)) == d


def test_console_emits_alert_raised_json() -> None:
    """The console sink renders one JSON event 'alert_raised' with the alert's fields and redacted excerpt."""
    buf = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(file=buf),
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
    )
    ConsoleSink(logger=logger).send(make_alert(4, member="a.zip!b.csv"))
    event = json.loads(buf.getvalue())
    assert event["event"] == "alert_raised" and event["level"] == "warning"
    assert event["alert_id"] == f"{4:032x}" and event["member"] == "a.zip!b.csv"
    for key in ("zone", "path", "policy", "rule", "severity", "entity", "excerpt", "fingerprint", "count"):
        assert key in event
    assert PLANTED not in buf.getvalue()


def test_failing_sinks_do_not_block_the_others(tmp_path: Path, receiver: Receiver) -> None:
    """A raising sink and a JSONL log on /dev/full fail; console, JSONL and webhook still get every alert."""
    good_log = tmp_path / "alerts.jsonl"
    full = JsonlSink("/dev/full", name="jsonl-full")
    good = JsonlSink(str(good_log))
    ob = Outbox(str(tmp_path / "journal.db"))
    hook = WebhookSink("hook", receiver.url, ob, min_backoff=0.02, max_backoff=0.1)
    rec, boom = Recording(), Exploding()
    m = Metrics()
    seen: list[tuple[str, str]] = []
    sinks: list[Sink] = [boom, full, ConsoleSink(), good, hook, rec]
    assert all(isinstance(s, Sink) for s in sinks)
    d = Dispatcher(sinks, metrics=m, on_failure=lambda name, exc: seen.append((name, type(exc).__name__)))
    hook.start()
    with structlog.testing.capture_logs() as logs:
        assert d.send(make_alert(1)) == ("exploding", "jsonl-full")
        assert d.send(make_alert(2)) == ("exploding", "jsonl-full")
        d.reopen()
    assert hook.flush(10)
    d.close()
    ob.close()
    assert [a.id for a in rec.alerts] == [f"{1:032x}", f"{2:032x}"] and rec.closed
    assert len(good_log.read_text().splitlines()) == 2
    assert sorted(receiver.alert_ids()) == [f"{1:032x}", f"{2:032x}"]
    assert m.sink_failures.labels(sink="exploding")._value.get() == 4  # two sends, reopen and close
    assert m.sink_failures.labels(sink="jsonl-full")._value.get() == 2
    assert m.sink_failures.labels(sink="console")._value.get() == 0
    assert seen[:2] == [("exploding", "RuntimeError"), ("jsonl-full", "OSError")]
    failures = [e for e in logs if e["event"] == "sink_failed"]
    assert {e["sink"] for e in failures} == {"exploding", "jsonl-full"}
    assert PLANTED not in repr(failures) and "/srv/drop" not in repr(failures)


def test_duplicate_sink_names_are_refused() -> None:
    """Two sinks with one name would share metrics and outbox rows, so the dispatcher refuses them."""
    import pytest

    with pytest.raises(ValueError, match="sink names must be unique"):
        Dispatcher([Recording(), Recording()])
