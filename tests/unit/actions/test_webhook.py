"""Webhook sink against a real HTTP receiver: payload shapes, retries, outages, restarts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from agent.actions.outbox import Outbox
from agent.actions.webhook import WebhookSink
from agent.metrics import Metrics
from tests.helpers import wait_for
from tests.unit.actions.conftest import PLANTED, Receiver, make_alert

FAST = {"min_backoff": 0.02, "max_backoff": 0.2, "timeout": 2.0}
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    ob = Outbox(str(tmp_path / "journal.db"))
    yield ob
    ob.close()


def _sink(outbox: Outbox, url: str, **kw: object) -> WebhookSink:
    params: dict[str, object] = {**FAST, **kw}
    return WebhookSink("hook", url, outbox, **params)  # type: ignore[arg-type]


def test_generic_payload_shape(receiver: Receiver, outbox: Outbox) -> None:
    """A generic webhook gets {"alerts": [...], "source", "host"} with the full alert dicts and headers."""
    sink = _sink(outbox, receiver.url, headers={"Authorization": "Bearer t0k"}, host="fs01")
    sink.start()
    try:
        sink.send(make_alert(1))
        sink.send(make_alert(2, member="inner/a.csv"))
        assert sink.flush(10)
    finally:
        sink.stop(5)
    bodies = [r.body for r in receiver.requests]
    assert all(set(b) == {"alerts", "source", "host"} for b in bodies)
    assert bodies[0]["source"] == "dropwarden" and bodies[0]["host"] == "fs01"
    alerts = [a for b in bodies for a in b["alerts"]]
    assert [a["id"] for a in alerts] == [f"{1:032x}", f"{2:032x}"]
    assert alerts[1]["member"] == "inner/a.csv" and alerts[0]["time"].endswith("Z")
    req = receiver.requests[0]
    assert req.path == "/hook"
    assert req.headers["Authorization"] == "Bearer t0k"
    assert req.headers["Content-Type"] == "application/json"


def test_alertmanager_payload_matches_v2_schema(receiver: Receiver, outbox: Outbox) -> None:
    """An Alertmanager sink POSTs a postableAlerts array to /api/v2/alerts that satisfies the v2 schema."""
    base = f"http://127.0.0.1:{receiver.port}"
    sink = _sink(
        outbox, base, fmt="alertmanager", resolve_after=3600.0, generator_url="https://dlp.example/ui"
    )
    assert sink.url == base + "/api/v2/alerts"
    sink.start()
    try:
        sink.send(make_alert(1))
        sink.send(make_alert(2, zone=None, member="x.zip!y.txt"))
        assert sink.flush(10)
    finally:
        sink.stop(5)
    assert {r.path for r in receiver.requests} == {"/api/v2/alerts"}
    alerts = [a for r in receiver.requests for a in r.body]
    assert len(alerts) == 2
    for a in alerts:
        assert isinstance(receiver.requests[0].body, list)
        assert set(a) <= {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
        assert a["labels"], "labels is required and must not be empty"
        for labelset in (a["labels"], a["annotations"]):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in labelset.items())
        assert all(LABEL_NAME.match(k) for k in a["labels"])
        assert all(v != "" for v in a["labels"].values())
        assert RFC3339.match(a["startsAt"]) and RFC3339.match(a["endsAt"])
        starts = datetime.fromisoformat(a["startsAt"].replace("Z", "+00:00"))
        ends = datetime.fromisoformat(a["endsAt"].replace("Z", "+00:00"))
        assert (ends - starts).total_seconds() >= 3600.0
        assert ends.timestamp() > time.time()  # delivered late, still firing on arrival
        assert a["generatorURL"] == "https://dlp.example/ui"
        assert a["labels"]["alertname"] == "DropwardenFinding"
        assert a["labels"]["instance"] == "fs01"
        assert {"summary", "description", "path", "excerpt", "fingerprint"} <= set(a["annotations"])
        # The excerpt is redacted upstream: no run of more than 4 digits of the planted value survives.
        planted_digits = re.sub(r"\D", "", PLANTED)
        for value in a["annotations"].values():
            for run in re.findall(r"\d{5,}", value):
                assert run not in planted_digits
            assert planted_digits not in re.sub(r"\D", "", value)
    first, second = alerts
    assert first["labels"]["zone"] == "contractors" and "zone" not in second["labels"]
    assert second["annotations"]["path"].endswith("!x.zip!y.txt")
    assert first["labels"]["alert_id"] != second["labels"]["alert_id"]


def test_receiver_down_then_up_delivers_all_exactly_once(down_receiver: Receiver, outbox: Outbox) -> None:
    """100 alerts sent while the receiver's port is closed all arrive exactly once after it comes up."""
    m = Metrics()
    sink = _sink(outbox, down_receiver.url, batch_size=20, metrics=m)
    sink.start()
    try:
        for i in range(100):
            sink.send(make_alert(i))
        assert wait_for(lambda: m.webhook_failures.labels(sink="hook")._value.get() >= 1, 10.0)
        assert outbox.size("hook") == 100
        assert m.outbox_size.labels(sink="hook")._value.get() == 100
        down_receiver.start()
        assert sink.flush(15)
    finally:
        sink.stop(5)
    ids = down_receiver.alert_ids()
    assert sorted(ids) == sorted(f"{i:032x}" for i in range(100))
    assert len(ids) == len(set(ids)) == 100
    assert all(len(r.body["alerts"]) <= 20 for r in down_receiver.requests)
    assert m.webhook_deliveries.labels(sink="hook")._value.get() == 100
    assert m.outbox_size.labels(sink="hook")._value.get() == 0


def test_outbox_survives_restart(down_receiver: Receiver, tmp_path: Path) -> None:
    """Alerts queued before an agent restart are delivered, each id once, by the next process's sink."""
    db = str(tmp_path / "journal.db")
    ob = Outbox(db)
    sink = _sink(ob, down_receiver.url)
    sink.start()
    for i in range(100):
        sink.send(make_alert(i))
    # stop only once a delivery failed against the closed port: the restart must pick up tried alerts
    assert wait_for(lambda: any(i.attempts for i in ob.due("hook", 100, now=time.time() + 3600)), 10.0)
    assert sink.stop(5)
    ob.close()

    ob2 = Outbox(db)
    sink2 = _sink(ob2, down_receiver.url)
    for i in range(50):  # the rescan after restart raises half of them again: idempotent
        sink2.send(make_alert(i))
    assert ob2.size("hook") == 100
    down_receiver.start()
    sink2.start()
    try:
        assert sink2.flush(15)
    finally:
        sink2.stop(5)
        ob2.close()
    ids = down_receiver.alert_ids()
    assert len(ids) == len(set(ids)) == 100


def test_server_error_is_retried(receiver: Receiver, outbox: Outbox) -> None:
    """A 500 then a 503 are retried with backoff until the receiver answers 200."""
    receiver.statuses = [500, 503]
    m = Metrics()
    sink = _sink(outbox, receiver.url, metrics=m)
    sink.start()
    try:
        sink.send(make_alert(7))
        assert sink.flush(10)
    finally:
        sink.stop(5)
    assert receiver.alert_ids() == [f"{7:032x}"]
    assert m.webhook_failures.labels(sink="hook")._value.get() == 2
    assert m.webhook_deliveries.labels(sink="hook")._value.get() == 1


def test_enqueue_is_durable_before_delivery(tmp_path: Path) -> None:
    """send() commits the alert so another connection sees it before any delivery thread runs."""
    db = str(tmp_path / "journal.db")
    ob = Outbox(db)
    sink = _sink(ob, "http://127.0.0.1:9/never")
    sink.send(make_alert(1))
    sink.send(make_alert(1))
    other = Outbox(db)
    try:
        assert other.size("hook") == 1
        (item,) = other.due("hook", 10)
        assert item.alert_id == f"{1:032x}" and PLANTED not in item.payload
    finally:
        other.close()
        ob.close()


def test_rejected_alert_is_isolated_then_dropped(receiver: Receiver, outbox: Outbox) -> None:
    """A 400 on a batch is retried alert by alert: good ones arrive, the refused one is dropped after N."""
    bad = f"{3:032x}"
    receiver.decide = lambda body: 400 if any(a["id"] == bad for a in body["alerts"]) else 200
    m = Metrics()
    sink = _sink(outbox, receiver.url, metrics=m, max_rejections=2, max_backoff=0.05)
    for i in range(5):
        sink.send(make_alert(i))
    sink.start()
    try:
        assert sink.flush(10)
    finally:
        sink.stop(5)
    assert sorted(receiver.alert_ids()) == sorted(f"{i:032x}" for i in range(5) if i != 3)
    assert m.webhook_deliveries.labels(sink="hook")._value.get() == 4
    assert m.webhook_failures.labels(sink="hook")._value.get() >= 2


def test_redirect_is_not_followed(receiver: Receiver, outbox: Outbox) -> None:
    """A 3xx answer is a failed attempt (kept in the outbox), never a POST silently turned into a GET."""
    receiver.default = 302
    sink = _sink(outbox, receiver.url)
    sink.start()
    try:
        sink.send(make_alert(1))
        assert not sink.flush(0.5)
    finally:
        sink.stop(5)
    assert outbox.size("hook") == 1 and receiver.gets == 0
    (item,) = outbox.due("hook", 10, now=time.time() + 100)
    assert item.attempts >= 1 and item.rejections == 0


def test_bad_configuration_is_rejected(outbox: Outbox) -> None:
    """An unknown format or a non-HTTP URL fails at construction, not at the first alert."""
    with pytest.raises(ValueError, match="unknown format"):
        WebhookSink("x", "http://127.0.0.1/", outbox, fmt="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="url must be http or https"):
        WebhookSink("x", "file:///etc/passwd", outbox)


def _self_signed(tmp_path: Path) -> tuple[str, str]:
    """A throwaway CA-less certificate for 127.0.0.1 (key file, cert file)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    key_file, cert_file = tmp_path / "key.pem", tmp_path / "cert.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_file), str(cert_file)


def test_tls_is_verified_and_ca_file_is_honoured(receiver: Receiver, tmp_path: Path) -> None:
    """Over https an untrusted certificate keeps alerts queued; the same server is trusted via ca_file."""
    import ssl

    key_file, cert_file = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    assert receiver.server is not None
    receiver.server.socket = ctx.wrap_socket(receiver.server.socket, server_side=True)
    url = f"https://127.0.0.1:{receiver.port}/hook"

    ob = Outbox(str(tmp_path / "j.db"))
    untrusted = WebhookSink("strict", url, ob, min_backoff=0.02, max_backoff=0.1, timeout=2.0)
    trusted = WebhookSink(
        "pinned", url, ob, ca_file=cert_file, min_backoff=0.02, max_backoff=0.1, timeout=2.0
    )
    for s in (untrusted, trusted):
        s.start()
        s.send(make_alert(1))
    try:
        assert trusted.flush(10)
        assert not untrusted.flush(0.5)
    finally:
        untrusted.stop(5)
        trusted.stop(5)
    assert ob.size("strict") == 1 and ob.size("pinned") == 0
    assert receiver.alert_ids() == [f"{1:032x}"]
    ob.close()


def test_recovery_drains_backed_off_alerts_promptly(down_receiver: Receiver, outbox: Outbox) -> None:
    """Once one POST succeeds, alerts still waiting out a long backoff are sent at once, not minutes later."""
    sink = _sink(outbox, down_receiver.url, min_backoff=20.0, max_backoff=20.0)
    sink.start()
    try:
        sink.send(make_alert(1))
        # the first attempt failed: alert 1 now waits >= 10 s
        assert wait_for(lambda: not outbox.due("hook", 10, now=time.time() + 5), 10.0)
        assert outbox.size("hook") == 1 and not outbox.due("hook", 10)
        down_receiver.start()
        sink.send(make_alert(2))  # due now: its success proves the receiver is back
        wait_for(lambda: not outbox.size("hook"), 5.0)
    finally:
        sink.stop(5)
    assert sorted(down_receiver.alert_ids()) == [f"{1:032x}", f"{2:032x}"]
