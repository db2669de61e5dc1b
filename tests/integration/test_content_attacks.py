"""Attacks on what the agent reads, run against the real daemon (`dropwarden run` subprocess, real
inotify, real files built with real writers): nothing of it is mocked."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import pytest
import yaml
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from tests.helpers import CARD_POLICY, AgentProc, fake_card, free_port, wait_for
from tests.unit.extract.builders import nested_zip, zip_bytes

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def slow_pdf(path: Path, last_page_text: str, slow_pages: int = 12, ops: int = 150_000) -> None:
    """``slow_pages`` pages of ``ops`` text-show operators each (slow to interpret, tiny once
    compressed), then a page holding ``last_page_text``; written by pypdf."""
    w = PdfWriter()
    font = w._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    for i in range(slow_pages + 1):
        page = w.add_blank_page(612, 792)
        page[NameObject("/Resources")] = resources
        if i < slow_pages:
            body = b"BT /F1 1 Tf " + b"1 0 0 1 0 0 Tm ( ) Tj " * ops + b"ET"
        else:
            body = b"BT /F1 12 Tf 72 700 Td (" + last_page_text.encode() + b") Tj ET"
        stream = DecodedStreamObject()
        stream.set_data(body)
        page[NameObject("/Contents")] = w._add_object(stream)
        page.compress_content_streams()
    with open(path, "wb") as f:
        w.write(f)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):
    """An agent with a card rule and the shipped unscanned pack, 0.5 s per file."""
    base = tmp_path_factory.mktemp("content")
    pol = base / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    shutil.copy(REPO / "policies" / "unscanned.yaml", pol / "unscanned.yaml")
    a = AgentProc(base, pol, "--file-timeout", "0.5", settle=0.3).start()
    assert wait_for(lambda: b'"workers_ready"' in a.log.read_bytes(), 60), a.log.read_text()[-3000:]
    yield a
    a.kill()


def test_slow_pdf_that_times_out_raises_an_unscanned_alert(agent: AgentProc, tmp_path: Path) -> None:
    """12 slow pages and a card on page 13: the time limit hits before the card, and the file still
    raises an UNSCANNED_CONTENT alert naming the reason instead of passing as clean."""
    built = tmp_path / "slow.pdf"
    slow_pdf(built, f"Card {fake_card()}")
    target = agent.zone / "report.pdf"
    shutil.copy(built, agent.zone / ".report.pdf.part")
    (agent.zone / ".report.pdf.part").rename(target)
    alerts = wait_for(
        lambda: [a for a in agent.alerts_for(target) if a["entity"] == "UNSCANNED_CONTENT"], 60, 0.2
    )
    assert alerts, agent.log.read_text()[-3000:]
    a = alerts[0]
    assert (a["rule"], a["severity"]) == ("unscanned-content", "medium")
    assert a["excerpt"] == "not read completely: timeout"
    assert agent.metric("dropwarden_scan_errors_total", reason="timeout") >= 1
    assert json.dumps(a).count("UNSCANNED_CONTENT") == 1


class _Receiver(BaseHTTPRequestHandler):
    """A real HTTP receiver: every POST body, by path (/generic, /am)."""

    bodies: ClassVar[dict[str, list[bytes]]] = {}

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        first = "/" + self.path.lstrip("/").split("/", 1)[0]  # the Alertmanager sink appends /api/v2/alerts
        _Receiver.bodies.setdefault(first, []).append(self.rfile.read(n))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return None


class Sinks:
    """Every alert sink of a real agent: JSONL, a generic webhook, an Alertmanager webhook, UDP syslog."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp.settimeout(0.2)
        self.syslog: list[bytes] = []
        self._stop = threading.Event()
        threading.Thread(target=self._listen, daemon=True).start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                self.syslog.append(self.udp.recv(65536))
            except OSError:
                continue

    def config(self) -> dict[str, object]:
        url = f"http://127.0.0.1:{self.http.server_address[1]}"
        return {
            "jsonl": {"path": str(self.base / "alerts.jsonl")},
            "webhooks": [
                {"name": "generic", "url": f"{url}/generic", "format": "generic"},
                {"name": "am", "url": f"{url}/am", "format": "alertmanager"},
            ],
            "syslog": {"address": f"127.0.0.1:{self.udp.getsockname()[1]}", "transport": "udp"},
        }

    def outputs(self) -> dict[str, str]:
        """What each sink received so far, as text."""
        jsonl = self.base / "alerts.jsonl"
        return {
            "jsonl": jsonl.read_text() if jsonl.exists() else "",
            "generic webhook": b"\n".join(_Receiver.bodies.get("/generic", [])).decode(),
            "alertmanager webhook": b"\n".join(_Receiver.bodies.get("/am", [])).decode(),
            "syslog": b"\n".join(self.syslog).decode(),
        }

    def counts(self, needle: str) -> dict[str, int]:
        """Alerts whose text holds ``needle``, per sink."""
        out = self.outputs()
        generic = [a for body in _Receiver.bodies.get("/generic", []) for a in _alerts(body)]
        am = [a for body in _Receiver.bodies.get("/am", []) for a in _alerts(body)]
        return {
            "jsonl": sum(needle in line for line in out["jsonl"].splitlines()),
            "generic webhook": sum(needle in json.dumps(a) for a in generic),
            "alertmanager webhook": sum(needle in json.dumps(a) for a in am),
            "syslog": sum(needle in m.decode() for m in self.syslog),
        }

    def close(self) -> None:
        self._stop.set()
        self.http.shutdown()
        self.udp.close()


def _alerts(body: bytes) -> list[dict[str, object]]:
    doc = json.loads(body)
    if isinstance(doc, dict):
        doc = doc.get("alerts", [doc])
    return list(doc)


@pytest.fixture(scope="module")
def sinks_agent(tmp_path_factory: pytest.TempPathFactory):
    """A real agent from a config file: shipped packs, quarantine on, every sink."""
    from agent.security.keys import write_keypair

    base = tmp_path_factory.mktemp("sinks")
    zone, state = base / "zone", base / "state"
    zone.mkdir()
    write_keypair(base / "keys", "quarantine")
    sinks = Sinks(base)
    port = free_port()
    cfg = {
        "zones": [{"name": "drop", "path": str(zone), "quarantine": True}],
        "policies": [str(REPO / "policies")],  # the shipped packs only, whatever /etc holds
        "state_dir": str(state),
        "workers": 2,
        "settle_seconds": 0.2,
        "file_timeout": 120.0,  # a loaded CI machine reads the 4,096 members slowly
        "sinks": sinks.config(),
        "metrics": {"address": f"127.0.0.1:{port}"},
        "quarantine_public_key": str(base / "keys" / "quarantine.pub"),
        "log_format": "json",
    }
    (base / "agent.yaml").write_text(yaml.safe_dump(cfg))
    log = base / "agent.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(base / "agent.yaml")],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    assert wait_for(lambda: proc.poll() is not None or b'"workers_ready"' in log.read_bytes(), 90, 0.1)
    assert proc.poll() is None, log.read_text()[-3000:]
    yield SimpleNamespace(zone=zone, state=state, sinks=sinks, log=log, proc=proc, port=port)
    proc.terminate()
    proc.wait(20)
    sinks.close()


def _drop(zone: Path, name: str | bytes, data: bytes) -> Path:
    """Write a file under a temporary name and rename it into place (one settled event)."""
    tmp = zone / ".incoming.part"
    tmp.write_bytes(data)
    target = os.path.join(os.fsencode(zone), os.fsencode(name))
    os.rename(tmp, target)
    return Path(os.fsdecode(target))


def test_nested_zip_of_4096_carded_copies_raises_one_alert_per_sink(sinks_agent) -> None:
    """A ~14 KB zip nesting 16x16x16 copies of a carded text: one alert per sink, not 4,096."""
    card = fake_card()
    _drop(sinks_agent.zone, "bundle.zip", nested_zip(f"Card number {card} on file\n".encode()))
    sinks = sinks_agent.sinks

    def all_four() -> bool:
        return all(sinks.counts("bundle.zip").values())

    assert wait_for(all_four, 150, 0.2), (sinks.counts("bundle.zip"), sinks_agent.log.read_text()[-3000:])
    time.sleep(1.0)  # let any straggling alerts of the same file arrive: they must not exist
    counts = sinks.counts("bundle.zip")
    assert all(1 <= n <= 3 for n in counts.values()), counts
    line = next(x for x in sinks.outputs()["jsonl"].splitlines() if "payment-card-number" in x)
    alert = json.loads(line)
    assert alert["occurrences"] == 16**3 and alert["count"] == 1 and len(alert["members"]) == 10
    assert card not in json.dumps(sinks.outputs())


def test_card_number_in_a_file_name_is_never_in_clear_in_any_sink(sinks_agent) -> None:
    """A real (Luhn-valid, generated) card number as a file name and as an archive member name: each is
    a finding, and neither the spaced nor the compact form reaches any sink, the log or /metrics."""
    card = fake_card()
    spaced = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    _drop(sinks_agent.zone, f"statement {spaced}.txt", b"quarterly planning notes, nothing else\n")
    _drop(sinks_agent.zone, "export.zip", zip_bytes({f"client_{card}/notes.txt": b"plain notes\n"}))
    sinks = sinks_agent.sinks

    def both_everywhere() -> bool:
        counts = [sinks.counts(needle) for needle in ("statement ", "export.zip")]
        return all(n for c in counts for n in c.values())

    assert wait_for(both_everywhere, 90, 0.2), sinks.outputs()
    with urllib.request.urlopen(f"http://127.0.0.1:{sinks_agent.port}/metrics", timeout=5) as r:
        metrics = r.read().decode()
    outputs = {**sinks.outputs(), "log": sinks_agent.log.read_text(), "metrics": metrics}
    leaked = [where for where, text in outputs.items() for v in (card, spaced) if v in text]
    assert not leaked, leaked
    assert f"statement {card[:4]} **** **** {card[-4:]}.txt" in outputs["jsonl"]


@pytest.mark.slow
def test_sighup_with_a_tampered_pack_during_a_burst_loses_nothing(tmp_path: Path) -> None:
    """300 carded files arrive while the signed pack is tampered (severity lowered) and SIGHUP is sent:
    the reload is refused, counted and logged, and every file is alerted under the signed rule. Then a
    validly signed new version of the set, with SIGHUP during a second burst: it loads, and every file
    of that burst is alerted too, the ones after the reload under the new rule."""
    from tests.integration.test_security_daemon import SecureAgent, cli

    keys = tmp_path / "keys"
    assert cli("keys", "generate", "--out", str(keys)).returncode == 0
    base = tmp_path / "a"
    a = SecureAgent(base, keys, zones=[{"name": "drop", "path": str(base / "zone")}])
    a.pol.mkdir()
    pack = a.pol / "cards.yaml"
    pack.write_text(CARD_POLICY)
    assert cli("manifest", str(a.pol), "--key", str(keys / "signing.key"), "--version", "1").returncode == 0
    a.start()
    try:
        files = [a.zone / f"burst-{i:03d}.txt" for i in range(300)]
        for i, f in enumerate(files):
            f.write_text(f"Card {fake_card()}\n")
            if i == 100:
                pack.write_text(CARD_POLICY.replace("severity: high", "severity: low"))
                assert a.proc is not None
                a.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: a.metric("dropwarden_signature_rejections_total", kind="policy") == 1, 60)
        assert wait_for(lambda: all(a.alerts_for(f) for f in files), 180, 0.5), a.log.read_text()[-3000:]
        assert {x["severity"] for f in files for x in a.alerts_for(f)} == {"high"}
        assert a.metric("dropwarden_policy_reloads_total", outcome="failure") == 1
        assert a.metric("dropwarden_policy_last_reload_success") == 0
        assert '"reload_failed"' in a.log.read_text()
        # the security team signs the change properly: version 2 of the set, SIGHUP mid-burst
        pack.write_text(CARD_POLICY.replace("severity: high", "severity: medium"))
        signed = cli("manifest", str(a.pol), "--key", str(keys / "signing.key"), "--version", "2")
        assert signed.returncode == 0, signed.stderr
        second = [a.zone / f"second-{i:03d}.txt" for i in range(100)]
        for i, f in enumerate(second):
            f.write_text(f"Card {fake_card()}\n")
            if i == 30:
                a.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: a.metric("dropwarden_policy_reloads_total", outcome="success") == 1, 60)
        assert a.metric("dropwarden_policy_last_reload_success") == 1
        assert wait_for(lambda: all(a.alerts_for(f) for f in second), 180, 0.5), a.log.read_text()[-3000:]
        after = a.zone / "after-reload.txt"
        after.write_text(f"Card {fake_card()}\n")
        assert wait_for(lambda: a.alerts_for(after), 60, 0.2)
        assert {x["severity"] for x in a.alerts_for(after)} == {"medium"}
    finally:
        a.kill()
