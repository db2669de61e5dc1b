"""The hostile share (tests/adversarial/conftest.py) dropped into a real agent's watched zone: real
inotify, quarantine into the vault, sealed evidence, the audit chain and every alert sink (JSONL file,
stdout, syslog over UDP, a webhook over HTTP), then `quarantine list`, `quarantine restore`,
`evidence show` and `audit verify`. Every file is alerted and quarantined, every sink gets every
alert as valid UTF-8 with no raw control character, nothing shows a value from a name in clear, and
a file restored in place comes back under its exact bytes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agent.security.keys import write_keypair
from tests.adversarial.conftest import BODY_CARD, NAME_CARD, UNREADABLE, Share, build_share, secrets_in_names
from tests.helpers import REPO, AgentProc, free_port, wait_for
from tests.unit.actions.conftest import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PACK = """\
pack: oddtext
version: 1
desc: Cloud keys are alerted, card numbers also go to the vault.
rules:
  - {id: cloud-key, desc: Cloud access key., severity: high, entities: [AWS_ACCESS_KEY]}
  - {id: card-vault, desc: Card number., severity: high, entities: [CREDIT_CARD], min_score: 0.3,
     actions: [alert, quarantine]}
"""
#: Characters no sink may carry raw (JSON escapes C0 itself; syslog and the console escape them all).
RAW = ("\x1b", "\x07", "\x7f", "\x85", "\u2028", "\u2029", "\u202e")


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "agent", *args], cwd=REPO, capture_output=True, timeout=120)


class _Syslog:
    """A UDP syslog receiver collecting every datagram."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.messages: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.messages.append(self.sock.recv(65535))
            except TimeoutError:
                continue

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


class _Agent(AgentProc):
    def __init__(self, base: Path, keys: Path, syslog: _Syslog, hook: Receiver) -> None:
        self._layout(base)
        pol = base / "policies"
        pol.mkdir()
        (pol / "oddtext.yaml").write_text(PACK)
        cfg = {
            "zones": [{"name": "drop", "path": str(self.zone), "quarantine": True}],
            "policies": [str(pol)],
            "state_dir": str(self.state),
            "workers": 2,
            "settle_seconds": 0.3,
            "sinks": {
                "stdout": True,
                "jsonl": {"path": str(self.alerts)},
                "syslog": {"address": f"127.0.0.1:{syslog.sock.getsockname()[1]}", "transport": "udp"},
                "webhooks": [{"name": "hook", "url": hook.url}],
            },
            "metrics": {"address": f"127.0.0.1:{self.port}"},
            "quarantine_public_key": str(keys / "quarantine.pub"),
            "evidence": "encrypted",
            "log_format": "json",
        }
        config = base / "agent.yaml"
        config.write_text(yaml.safe_dump(cfg))
        self.argv = [sys.executable, "-m", "agent", "run", "--config", str(config)]


Run = tuple[_Agent, Share, _Syslog, Receiver]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The security team's quarantine key pair (vault, sealed evidence)."""
    d = tmp_path_factory.mktemp("teamkeys")
    write_keypair(d, "quarantine")
    return d


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, keys: Path
) -> Iterator[tuple[_Agent, Share, _Syslog, Receiver]]:
    """The agent, after the hostile share was dropped into its zone and every file was handled."""
    syslog, hook = _Syslog(), Receiver(port=free_port())
    hook.start()
    agent = _Agent(tmp_path_factory.mktemp("daemon"), keys, syslog, hook)
    try:
        agent.start()
        share = build_share(agent.zone)
        want = len(share.files)
        quarantined = lambda: agent.metric("dropwarden_quarantined_files_total")  # noqa: E731
        ok = wait_for(lambda: quarantined() >= want - len(UNREADABLE) and agent.quiesce(5.0), 120.0, 0.5)
        assert ok, agent.log.read_bytes()[-3000:]
        assert wait_for(lambda: len(hook.alert_ids()) == len(_alerts(agent)), 30.0)
        assert wait_for(lambda: len(syslog.messages) == len(_alerts(agent)), 30.0)
        yield agent, share, syslog, hook
    finally:
        agent.kill()
        syslog.close()
        hook.stop()


def _alerts(agent: _Agent) -> list[dict[str, object]]:
    return [json.loads(x) for x in agent.alerts.read_bytes().decode("utf-8").splitlines()]


def _no_secret(data: bytes, where: str) -> None:
    for secret in secrets_in_names():
        assert secret.encode() not in data, f"{where} shows a value from a file name in clear"


def test_every_file_is_alerted_and_every_card_file_quarantined(
    run: Run,
) -> None:
    agent, share, _, _ = run
    alerts = _alerts(agent)
    by_path: dict[str, set[str]] = {}
    for a in alerts:
        by_path.setdefault(str(a["path"]), set()).add(str(a["entity"]))
    assert len(by_path) == len(share.files), sorted(by_path)
    unscanned = {p for p, e in by_path.items() if "UNSCANNED_CONTENT" in e}
    assert {os.path.basename(p).encode() for p in unscanned} == set(UNREADABLE)
    # every other file is now a tombstone naming its incident
    tombstones = [f for f in share.files if os.path.basename(f) not in UNREADABLE]
    assert all(b"withheld by Dropwarden" in Path(os.fsdecode(f)).read_bytes() for f in tombstones)
    assert agent.metric("dropwarden_quarantined_files_total") == len(tombstones)


def test_every_sink_got_every_alert_valid_and_escaped(run: Run) -> None:
    agent, _, syslog, hook = run
    raw = agent.alerts.read_bytes()
    text = raw.decode("utf-8")
    assert not any(c in text for c in RAW)
    assert len(text.splitlines()) == len(_alerts(agent))  # no U+2028/U+0085 splits a record
    assert sorted(hook.alert_ids()) == sorted(str(a["id"]) for a in _alerts(agent))
    for msg in syslog.messages:
        line = msg.decode("utf-8")
        assert not any(c in line for c in RAW) and not any(ord(c) < 0x20 for c in line), line
    log = agent.log.read_bytes()
    log.decode("utf-8")
    assert b"Traceback" not in log and b"sink_failed" not in log and b"_failed" not in log, log[-3000:]
    assert b"\\udc" not in log  # names as alerts show them (\xNN), not lone-surrogate escapes
    console = [x for x in map(json.loads, log.splitlines()) if x.get("logger") == "agent.actions.console"]
    assert len(console) == len(_alerts(agent))  # the stdout sink
    for where, data in [("alerts.jsonl", raw), ("agent log", log), ("syslog", b"\n".join(syslog.messages)),
                        ("webhook", json.dumps([r.body for r in hook.requests]).encode())]:  # fmt: skip
        _no_secret(data, where)


def test_vault_records_and_tombstones_keep_names_masked(run: Run) -> None:
    agent, share, _, _ = run
    for args in ((), ("--json",)):
        r = cli("quarantine", "list", "--state-dir", str(agent.state), *args)
        assert r.returncode == 0, r.stderr
        out = r.stdout.decode("utf-8")
        assert not any(c in out for c in RAW)
        _no_secret(r.stdout + r.stderr, f"quarantine list {args}")
    vault = b"".join(p.read_bytes() for p in (agent.state / "quarantine").glob("*.json"))
    _no_secret(vault, "vault metadata")
    _no_secret((agent.state / "audit.jsonl").read_bytes(), "audit log")
    for f in share.files:
        _no_secret(Path(os.fsdecode(f)).read_bytes(), "tombstone")
    assert cli("audit", "verify", "--state-dir", str(agent.state)).returncode == 0


def test_restore_in_place_brings_back_the_exact_name(run: Run, keys: Path) -> None:
    """The file named after a card under the undecodable folder, restored in place: the same bytes under
    the same bytes name; the audit line and the vault record keep the name masked. The command tells the
    holder of the private key the real path (as `evidence show` shows values), escaped."""
    agent, share, _, _ = run
    (target,) = [f for f in share.files if f.startswith(share.root + b"/dir-\xff\xfe/card ")]
    (alert,) = [a for a in _alerts(agent) if a["entity"] == "CREDIT_CARD"
                and str(a["path"]).startswith(f"{share.root_str}/dir-\\xff\\xfe/card ")]  # fmt: skip
    r = cli("quarantine", "restore", str(alert["incident_id"]), "--key", str(keys / "quarantine.key"),
            "--state-dir", str(agent.state), "--in-place")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode("utf-8").endswith(f"/dir-\\xff\\xfe/card {NAME_CARD} \\xff.txt\n")
    assert b"card " + BODY_CARD.encode() in Path(os.fsdecode(target)).read_bytes()
    _no_secret((agent.state / "audit.jsonl").read_bytes(), "audit log after restore")
    _no_secret(b"".join(p.read_bytes() for p in (agent.state / "quarantine").glob("*.json")), "vault")
    assert cli("audit", "verify", "--state-dir", str(agent.state)).returncode == 0


def test_evidence_of_a_hostile_name_opens(run: Run, keys: Path) -> None:
    """`evidence show` (the security team, with its private key) prints valid JSON for a finding under
    a name that is not UTF-8; the evidence holds the content's value, as it should."""
    agent, share, _, _ = run
    (alert,) = [a for a in _alerts(agent) if a["entity"] == "CREDIT_CARD" and a.get("evidence_id")
                and str(a["path"]).startswith(f"{share.root_str}/dir-\\xff\\xfe/undecodable-")]  # fmt: skip
    r = cli("evidence", "show", str(alert["evidence_id"]), "--key", str(keys / "quarantine.key"),
            "--state-dir", str(agent.state))  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout.decode("utf-8"))
    assert doc["matches"][0]["value"] == BODY_CARD
    assert NAME_CARD.encode() not in r.stdout
