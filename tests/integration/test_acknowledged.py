"""The acknowledgement file in the real daemon: an acknowledged finding is counted, not alerted;
`ack expire` (or the expiry time passing) makes it alert again; every change is in the audit log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from tests.helpers import CARD_POLICY, REPO, AgentProc, fake_card, wait_for

pytestmark = pytest.mark.integration


def _agent(tmp_path: Path) -> tuple[AgentProc, Path]:
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    agent = AgentProc(tmp_path, pol)
    cfg = tmp_path / "agent.yaml"
    data = {
        "zones": [{"name": "drop", "path": str(agent.zone)}],
        "policies": [str(pol)],
        "state_dir": str(agent.state),
        "sinks": {"jsonl": {"path": str(agent.alerts)}},
        "metrics": {"address": f"127.0.0.1:{agent.port}"},
        "settle_seconds": 0.3,
        "workers": 1,
        "acknowledged": str(tmp_path / "acknowledged.yaml"),
        "log_format": "json",
    }
    cfg.write_text(yaml.safe_dump(data))
    agent.argv = [sys.executable, "-m", "agent", "run", "--config", str(cfg)]
    return agent, cfg


def _ack(cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "ack", *args, "--config", str(cfg)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip


def _reload(agent: AgentProc) -> None:
    before = agent.log.read_text().count('"reload_succeeded"')
    agent.send(signal.SIGHUP)
    assert wait_for(lambda: agent.log.read_text().count('"reload_succeeded"') > before, 60)


def _audit_events(agent: AgentProc) -> list[dict]:
    return [json.loads(line) for line in (agent.state / "audit.jsonl").read_text().splitlines()]


def _alerted_card(agent: AgentProc, name: str) -> tuple[str, Path, str]:
    """(card, file, fingerprint the agent's alert gave it) for a fresh card dropped as ``name``."""
    card = fake_card()
    path = agent.zone / name
    path.write_text(f"card {card}\n")
    assert wait_for(lambda: agent.alerts_for(path), 30), agent.log.read_text()[-2000:]
    return card, path, agent.alerts_for(path)[0]["fingerprint"]


def test_acknowledged_finding_is_counted_not_alerted_until_it_expires(tmp_path: Path) -> None:
    agent, cfg = _agent(tmp_path)
    agent.start()
    try:
        card, first, fingerprint = _alerted_card(agent, "first.txt")

        tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
        done = _ack(
            cfg, "add", "--rule", "card-number", "--fingerprint", fingerprint, "--path", f"{agent.zone}/*",
            "--reason", "test card of the payment team, TICKET-1", "--author", "alice", "--expires", tomorrow,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        ack_id = done.stdout.split()[1]
        _reload(agent)

        second = agent.zone / "second.txt"
        second.write_text(f"same card {card}\n")
        assert wait_for(
            lambda: agent.metric("dropwarden_acknowledged_findings_total", rule="card-number") >= 1, 30
        )
        other = agent.zone / "other.txt"  # another value is not acknowledged
        other.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: agent.alerts_for(other), 30)
        assert agent.alerts_for(second) == []
        listed = _ack(cfg, "list")
        assert ack_id in listed.stdout
        assert "active" in listed.stdout

        assert _ack(cfg, "expire", ack_id, "--author", "bob").returncode == 0
        _reload(agent)  # the files with findings are re-evaluated: the acknowledged one alerts now
        assert wait_for(lambda: agent.alerts_for(second), 30), agent.log.read_text()[-2000:]
        assert len(agent.alerts_for(first)) == 1  # already alerted once: not again

        events = [(e["event"], e["fields"].get("id")) for e in _audit_events(agent)]
        assert ("ack_added", ack_id) in events
        assert ("ack_expired", ack_id) in events
        assert (
            subprocess.run(
                [sys.executable, "-m", "agent", "audit", "verify", "--state-dir", str(agent.state)], cwd=REPO
            ).returncode
            == 0
        )
    finally:
        agent.kill()


def test_expiry_time_passing_makes_it_alert_again(tmp_path: Path) -> None:
    agent, cfg = _agent(tmp_path)
    agent.start()
    try:
        card, _, fingerprint = _alerted_card(agent, "probe.txt")
        soon = (datetime.now(UTC) + timedelta(seconds=8)).isoformat()
        done = _ack(
            cfg, "add", "--rule", "card-number", "--fingerprint", fingerprint, "--reason", "short test",
            "--author", "alice", "--expires", soon,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        _reload(agent)
        held = agent.zone / "held.txt"
        held.write_text(f"card again {card}\n")
        assert wait_for(lambda: agent.metric("dropwarden_acknowledged_findings_total") >= 1, 30)
        assert agent.alerts_for(held) == []
        assert wait_for(lambda: agent.alerts_for(held), 60), agent.log.read_text()[-2000:]
        assert '"acknowledgements_expired"' in agent.log.read_text()
    finally:
        agent.kill()


def test_broken_file_is_refused_at_start_with_one_line(tmp_path: Path) -> None:
    agent, _ = _agent(tmp_path)
    (tmp_path / "acknowledged.yaml").write_text("acknowledged:\n  - rule: x\n")
    done = subprocess.run(agent.argv, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2
    assert "acknowledged.0.fingerprint" in done.stderr
    assert "Traceback" not in done.stderr
