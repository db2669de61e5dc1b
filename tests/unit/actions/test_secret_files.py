"""Secrets outside the YAML: webhook headers and the metrics password from files or systemd
credentials ($CREDENTIALS_DIRECTORY, LoadCredential=), reaching a real HTTP receiver / endpoint."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from agent.daemon.exporter import start_metrics_server
from agent.daemon.settings import ConfigError, parse_settings, read_secret
from agent.daemon.wiring import build_dispatcher
from agent.metrics import Metrics
from tests.unit.actions.conftest import Receiver, free_port, make_alert

TOKEN = "Bearer fake-siem-token-0123456789"  # noqa: S105 (a generated fake)


@pytest.fixture
def creds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "credentials"
    d.mkdir()
    (d / "siem-token").write_text(TOKEN + "\n")
    (d / "metrics-password").write_text("s3cret-scrape\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(d))
    return d


def test_read_secret_from_a_credential_and_refusals(creds: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert read_secret("credential:siem-token") == TOKEN
    assert read_secret(str(creds / "siem-token")) == TOKEN
    for bad in ("credential:../siem-token", "credential:", "credential:missing"):
        with pytest.raises(ConfigError, match=bad.replace(".", r"\.")):
            read_secret(bad)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    with pytest.raises(ConfigError, match="CREDENTIALS_DIRECTORY is not set"):
        read_secret("credential:siem-token")


def test_webhook_header_from_a_credential(creds: Path, tmp_path: Path, receiver: Receiver) -> None:
    (tmp_path / "state").mkdir()
    settings = parse_settings(
        {
            "zones": [{"name": "z", "path": str(creds)}],
            "state_dir": str(tmp_path / "state"),
            "sinks": {
                "webhooks": [
                    {"url": receiver.url, "header_files": {"Authorization": "credential:siem-token"}}
                ]
            },
        }
    )
    assert TOKEN not in repr(settings)  # the YAML and the settings hold the reference only
    dispatcher = build_dispatcher(settings, Metrics())
    try:
        dispatcher.send(make_alert(1))
        deadline = time.monotonic() + 10
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        dispatcher.close()
    assert receiver.requests
    assert receiver.requests[0].headers["Authorization"] == TOKEN


def test_metrics_password_from_a_credential(creds: Path, tmp_path: Path) -> None:
    port = free_port()
    settings = parse_settings(
        {
            "zones": [{"name": "z", "path": str(creds)}],
            "state_dir": str(tmp_path / "state"),
            "metrics": {
                "address": f"127.0.0.1:{port}",
                "basic_auth": {"username": "prom", "password_file": "credential:metrics-password"},
            },
        }
    )
    httpd = start_metrics_server(settings, Metrics())
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url, timeout=5)
        assert denied.value.code == 401
        auth = base64.b64encode(b"prom:s3cret-scrape").decode()
        req = urllib.request.Request(url, headers={"Authorization": f"Basic {auth}"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200
    finally:
        httpd.shutdown()
        httpd.server_close()
