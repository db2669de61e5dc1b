"""The daemon from a YAML config: quarantine opt-in per zone and a metrics endpoint behind basic auth."""

from __future__ import annotations

import base64
import hashlib
import signal
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from agent.security.keys import write_keypair
from tests.helpers import CARD_POLICY, AgentProc, fake_card, wait_for

pytestmark = pytest.mark.integration


class _Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_config_file_quarantine_and_basic_auth(tmp_path: Path) -> None:
    """With `quarantine: true` a card file is moved to the vault (tombstone left, alert carries the
    incident id) and POSTed to the configured webhook; /metrics refuses requests without the right
    basic-auth password."""
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY + "    actions: [alert, quarantine]\n")
    keys = write_keypair(tmp_path / "keys", "quarantine")
    a = AgentProc(tmp_path, pol)
    (tmp_path / "internal").mkdir()  # the agent watches zones, it does not create them
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        f"""
zones:
  - name: drop
    path: {a.zone}
    role: contractor-drop
    quarantine: true
  - name: internal
    path: {tmp_path / "internal"}
    role: internal
policies: [{pol}]
state_dir: {a.state}
quarantine_public_key: {keys.public}
workers: 1
settle_seconds: 0.3
sinks:
  jsonl: {{path: {a.alerts}}}
  webhooks:
    - {{name: soc, url: "http://127.0.0.1:{hook.server_port}/alerts", format: generic}}
metrics:
  address: 127.0.0.1:{a.port}
  basic_auth: {{username: prom, password_sha256: {hashlib.sha256(b"s3cret-pw").hexdigest()}}}
log_format: json
"""
    )
    a.argv = [*a.argv[:4], "--config", str(cfg)]
    a.start()
    try:
        url = f"http://127.0.0.1:{a.port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url, timeout=5)
        assert e.value.code == 401
        auth = {"Authorization": "Basic " + base64.b64encode(b"prom:s3cret-pw").decode()}

        def scrape() -> str:
            with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=5) as r:
                return r.read().decode()

        card = a.zone / "leak.txt"
        card.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: a.alerts_for(card), 5.0), a.log.read_text()[-2000:]
        (alert,) = a.alerts_for(card)
        assert alert["incident_id"]
        assert alert["incident_id"] in card.read_text()  # the tombstone names the incident
        assert list((a.state / "quarantine").glob("*.blob"))
        assert 'dropwarden_quarantined_files_total{zone="drop"} 1.0' in scrape()
        assert wait_for(lambda: any(alert["id"].encode() in b for b in _Receiver.bodies), 10.0)
        inner = tmp_path / "internal" / "ok.txt"  # a zone without the opt-in only alerts
        inner.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: a.alerts_for(inner), 5.0)
        assert a.alerts_for(inner)[0]["incident_id"] is None and "card" in inner.read_text()
        rc, secs = a.stop(signal.SIGTERM)
        assert rc == 0 and secs < 10
    finally:
        a.kill()
        hook.shutdown()
