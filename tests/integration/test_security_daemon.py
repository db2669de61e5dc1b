"""Security of the agent itself, end to end: a real `python -m agent run` with a config file, real
X25519/Ed25519 keys from `dropwarden keys generate`, signed packs, the vault, sealed evidence, the
audit chain, and the race/FIFO/symlink defences of the scanner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from agent.extract.safeopen import OpenFailure, open_for_scan
from tests.helpers import REPO, AgentProc, fake_card, wait_for

pytestmark = pytest.mark.integration


PACK = """\
pack: test-secure
version: 1
desc: Cards are quarantined in zones that opted in.
rules:
  - id: card-quarantine
    desc: Payment card number.
    severity: high
    entities: [CREDIT_CARD]
    min_score: 0.3
    actions: [alert, quarantine]
    exceptions:
      value_sets: [allowed-cards.txt]
"""


def cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


class SecureAgent(AgentProc):
    """An agent started from a YAML config: quarantine zone, encrypted evidence, signed policies."""

    def __init__(self, base: Path, keys: Path, **overrides: object) -> None:
        self._layout(base)
        self.keys, self.pol = keys, base / "policies"
        cfg = {
            "zones": [{"name": "drop", "path": str(self.zone), "quarantine": True}],
            "policies": [str(self.pol)],
            "state_dir": str(self.state),
            "workers": 2,
            "settle_seconds": 0.3,
            "file_timeout": 5.0,
            "sinks": {"jsonl": {"path": str(self.alerts)}},
            "metrics": {"address": f"127.0.0.1:{self.port}"},
            "require_signed": True,
            "signing_public_keys": [str(keys / "signing.pub")],
            "quarantine_public_key": str(keys / "quarantine.pub"),
            "evidence": "encrypted",
            "log_format": "json",
            **overrides,
        }
        self.config = base / "agent.yaml"
        self.config.write_text(yaml.safe_dump(cfg))
        self.argv = [sys.executable, "-m", "agent", "run", "--config", str(self.config)]

    def audit_events(self) -> list[str]:
        return [json.loads(ln)["event"] for ln in (self.state / "audit.jsonl").read_text().splitlines()]


def write_pack(pol: Path, keys: Path, sign: bool = True) -> None:
    pol.mkdir(exist_ok=True)
    (pol / "secure.yaml").write_text(PACK)
    (pol / "allowed-cards.txt").write_text("# test numbers nobody alerts on\n4000000000000002\n")
    if sign:
        r = cli(
            "sign",
            str(pol / "secure.yaml"),
            str(pol / "allowed-cards.txt"),
            "--key",
            str(keys / "signing.key"),
        )
        assert r.returncode == 0, r.stderr
        r = cli("manifest", str(pol), "--key", str(keys / "signing.key"), "--version", "1")
        assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("teamkeys")
    r = cli("keys", "generate", "--out", str(d))
    assert r.returncode == 0, r.stderr
    return d


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory, keys: Path):
    """One running agent: quarantine zone, encrypted evidence, require_signed with a signed pack."""
    base = tmp_path_factory.mktemp("secure")
    a = SecureAgent(base, keys)
    write_pack(a.pol, keys)
    a.start()
    yield a
    a.kill()


def test_quarantine_alert_evidence_list_restore_round_trip(
    agent: SecureAgent, keys: Path, tmp_path: Path
) -> None:
    """A dropped card file becomes a tombstone, its alert names the incident and a sealed evidence id
    that opens to the value, `quarantine list` shows it, and `restore --key` returns identical bytes and
    mtime; the tombstone itself is never rescanned into a second quarantine."""
    card = fake_card()
    path = agent.zone / "card.txt"
    body = f"Please charge card {card} for the order.\n".encode()
    path.write_bytes(body)
    os.utime(path, ns=(1_700_000_000_123_456_789, 1_700_000_000_123_456_789))
    mtime = path.stat().st_mtime_ns
    assert wait_for(lambda: agent.alerts_for(path), 10.0), agent.log.read_text()[-3000:]
    (alert,) = agent.alerts_for(path)
    assert alert["incident_id"] and alert["evidence_id"]
    assert card not in json.dumps(alert)
    assert (
        b"withheld by Dropwarden" in path.read_bytes() and alert["incident_id"].encode() in path.read_bytes()
    )

    listed = cli("quarantine", "list", "--state-dir", str(agent.state), "--json")
    recs = [json.loads(ln) for ln in listed.stdout.splitlines()]
    assert [r["incident_id"] for r in recs] == [alert["incident_id"]] and recs[0]["state"] == "done"
    assert card not in listed.stdout and card.encode() not in b"".join(
        p.read_bytes() for p in (agent.state / "quarantine").iterdir()
    )

    shown = cli("evidence", "show", alert["evidence_id"], "--key", str(keys / "quarantine.key"),
                "--state-dir", str(agent.state))  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    doc = json.loads(shown.stdout)
    assert doc["rule"] == "card-quarantine" and doc["matches"][0]["value"] == card
    assert card in doc["matches"][0]["context"]
    assert card.encode() not in (agent.state / "evidence" / f"{alert['evidence_id']}.sealed").read_bytes()

    # the tombstone's create event is handled (cached), never quarantined again
    assert agent.quiesce(), agent.log.read_text()[-3000:]
    assert agent.metric("dropwarden_quarantined_files_total") == 1
    assert len(list((agent.state / "quarantine").glob("*.blob"))) == 1

    out = tmp_path / "restored.txt"
    r = cli("quarantine", "restore", alert["incident_id"], "--key", str(keys / "quarantine.key"),
            "--to", str(out), "--state-dir", str(agent.state))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == body and out.stat().st_mtime_ns == mtime
    flipped = agent.state / "quarantine" / f"{alert['incident_id']}.blob"
    raw = bytearray(flipped.read_bytes())
    raw[len(raw) // 2] ^= 0x04
    flipped.write_bytes(bytes(raw))
    r = cli("quarantine", "restore", alert["incident_id"], "--key", str(keys / "quarantine.key"),
            "--to", str(tmp_path / "again.txt"), "--state-dir", str(agent.state))  # fmt: skip
    assert r.returncode == 1 and "failed verification" in r.stderr
    assert not (tmp_path / "again.txt").exists()
    events = agent.audit_events()
    assert {"agent_started", "file_quarantined", "file_restored"} <= set(events)
    assert cli("audit", "verify", "--state-dir", str(agent.state)).returncode == 0


def test_sighup_with_tampered_pack_or_value_set_keeps_old_policy(agent: SecureAgent, keys: Path) -> None:
    """Tampering the signed pack (then its signed allow-list) and SIGHUP: each reload is refused, counted
    in dropwarden_signature_rejections_total{kind="policy"}, audited, and the old policy still alerts."""
    assert agent.proc is not None
    before = agent.metric("dropwarden_signature_rejections_total", kind="policy")
    pack = agent.pol / "secure.yaml"
    original = pack.read_bytes()
    pack.write_bytes(original.replace(b"severity: high", b"severity: low"))  # sig no longer matches
    agent.proc.send_signal(signal.SIGHUP)
    assert wait_for(
        lambda: agent.metric("dropwarden_signature_rejections_total", kind="policy") == before + 1, 30
    )
    pack.write_bytes(original)
    allow = agent.pol / "allowed-cards.txt"
    allowed = allow.read_bytes()
    allow.write_bytes(allowed + f"{fake_card()}\n".encode())
    agent.proc.send_signal(signal.SIGHUP)
    assert wait_for(
        lambda: agent.metric("dropwarden_signature_rejections_total", kind="policy") == before + 2, 30
    )
    assert wait_for(lambda: agent.metric("dropwarden_policy_reloads_total", outcome="failure") >= 2, 10)
    assert agent.metric("dropwarden_policy_last_reload_success") == 0
    later = agent.zone / "later.txt"
    later.write_text(f"card {fake_card()}\n")
    assert wait_for(lambda: agent.alerts_for(later), 10.0)
    assert agent.alerts_for(later)[0]["severity"] == "high"  # the old (signed) rule
    events = agent.audit_events()
    assert events.count("signature_rejected") >= 2 and "reload_failed" in events
    allow.write_bytes(allowed)
    # a signed EDM index is accepted on reload; the same index tampered is refused, counted as kind=index
    from agent.classify.indexes.edm import EdmIndex

    idx = agent.base / "customers.edm"
    key = (agent.state / "agent.key").read_bytes()
    EdmIndex.build(["name", "account"], [["Jane Roe", "4820917365"]], key).save(idx)
    assert cli("sign", str(idx), "--key", str(keys / "signing.key")).returncode == 0
    cfg = yaml.safe_load(agent.config.read_text())
    agent.config.write_text(yaml.safe_dump({**cfg, "indexes": {"edm": [str(idx)]}}))
    agent.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: agent.metric("dropwarden_policy_reloads_total", outcome="success") >= 1, 30)
    raw = bytearray(idx.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    idx.write_bytes(bytes(raw))
    agent.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: agent.metric("dropwarden_signature_rejections_total", kind="index") == 1, 30)
    assert wait_for(lambda: agent.metric("dropwarden_policy_last_reload_success") == 0, 10)
    r = cli("keys", "generate", "--kind", "signing", "--out", str(agent.base / "newkeys"),
            "--state-dir", str(agent.state))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert agent.audit_events()[-1] == "keys_generated"
    assert cli("audit", "verify", "--state-dir", str(agent.state)).returncode == 0


def test_symlink_out_of_zone_and_fifo_do_not_stall_or_leak(agent: SecureAgent, tmp_path: Path) -> None:
    """A symlink in the zone to a card file outside is recorded as symlink_outside, its target never read; a
    FIFO does not block a worker: a card file written right after it is still alerted within seconds."""
    outside = tmp_path / "outside.txt"
    outside.write_text(f"card {fake_card()}\n")
    link = agent.zone / "link.txt"
    link.symlink_to(outside)
    os.mkfifo(agent.zone / "pipe")
    after = agent.zone / "after-fifo.txt"
    after.write_text(f"card {fake_card()}\n")
    t = time.monotonic()
    assert wait_for(lambda: agent.alerts_for(after), 10.0)
    assert time.monotonic() - t < 8.0
    assert wait_for(lambda: (agent.row(link) or {}).get("last_error") == "symlink_outside", 10.0)
    assert wait_for(
        lambda: (agent.row(agent.zone / "pipe") or {}).get("last_error") == "not_regular_file", 10.0
    )
    # the link itself is reported as unread (the shipped unscanned rule), its target's card never
    assert {a["entity"] for a in agent.alerts_for(link)} <= {"UNSCANNED_CONTENT"}
    assert outside.read_text().split()[-1] not in agent.alerts.read_text()
    assert outside.exists() and link.is_symlink()
    assert "withheld" not in outside.read_text()


def test_audit_tampering_is_detected(agent: SecureAgent, tmp_path: Path) -> None:
    """Editing one line of a copy of the daemon's audit chain makes `audit verify` exit 1 naming the line."""
    copy = tmp_path / "audit.jsonl"
    lines = (agent.state / "audit.jsonl").read_text().splitlines()
    assert len(lines) >= 2
    (tmp_path / "audit.jsonl.head").write_bytes((agent.state / "audit.jsonl.head").read_bytes())
    lines[0] = lines[0].replace('"agent_started"', '"agent_stopped"')
    copy.write_text("\n".join(lines) + "\n")
    r = cli("audit", "verify", "--file", str(copy), "--agent-key", str(agent.state / "agent.key"))
    assert r.returncode == 1 and "line 1" in r.stderr


def test_unsigned_or_tampered_inputs_refuse_start(tmp_path: Path, keys: Path) -> None:
    """With require_signed, an unsigned pack, and then a tampered EDM index, refuse the start: exit 2,
    one clear line, no traceback."""
    a = SecureAgent(tmp_path / "a", keys)
    write_pack(a.pol, keys, sign=False)
    a.start(wait=False)
    assert a.proc is not None and a.proc.wait(60) == 2
    out = a.log.read_text()
    assert "policy error" in out and "signature rejected (unsigned)" in out and "Traceback" not in out

    import numpy as np

    from agent.classify.indexes.indexfile import write_index

    idx = tmp_path / "customers.edm"
    write_index(idx, "edm", {"n": 1}, {"hashes": np.array([1], dtype="<u8")})
    assert cli("sign", str(idx), "--key", str(keys / "signing.key")).returncode == 0
    idx.write_bytes(idx.read_bytes()[:-1] + b"\0")
    b = SecureAgent(tmp_path / "b", keys, indexes={"edm": [str(idx)]})
    write_pack(b.pol, keys)
    b.start(wait=False)
    assert b.proc is not None and b.proc.wait(60) == 2
    out = b.log.read_text()
    assert "signature" in out and "Traceback" not in out, out[-2000:]


def test_killing_the_agent_after_each_quarantine_step_loses_nothing(tmp_path: Path, keys: Path) -> None:
    """For every fault point of the quarantine, an agent SIGKILLs itself right after it; restarted, each
    ends with the file in the vault (restorable byte-identical), a tombstone in its place, one incident,
    no temp leftovers in the zone, and an alert naming the incident."""
    from agent.actions.quarantine import FAULT_POINTS, QuarantineStore
    from agent.security.keys import load_quarantine_private

    agents, bodies = [], {}
    for step in FAULT_POINTS:
        a = SecureAgent(tmp_path / step, keys, workers=1, evidence="none")
        write_pack(a.pol, keys)
        agents.append(a.start(wait=False, env={"DROPWARDEN_FAULT_QUARANTINE": step}))
    try:
        for a in agents:
            assert wait_for(lambda a=a: b'"agent_ready"' in a.log.read_bytes(), 90), a.log.read_text()[-2000:]
            bodies[a] = f"card {fake_card()} on file\n".encode()
            (a.zone / "card.txt").write_bytes(bodies[a])
        for a in agents:
            assert a.proc is not None and a.proc.wait(30) == -signal.SIGKILL, a.log.read_text()[-2000:]
            a.start(wait=False)
        priv = load_quarantine_private(keys / "quarantine.key")
        for a in agents:
            path = a.zone / "card.txt"
            assert wait_for(lambda a=a, p=path: a.alerts_for(p), 90), a.log.read_text()[-2000:]
            store = QuarantineStore(a.state, hash_key=(a.state / "agent.key").read_bytes())
            assert wait_for(lambda s=store: [r.alerted for r in s.list()] == [True], 10), store.list()
            (rec,) = store.list()
            assert rec.state == "done"
            assert a.alerts_for(path)[-1]["incident_id"] == rec.incident_id
            assert rec.incident_id.encode() in path.read_bytes()
            assert sorted(p.name for p in a.zone.iterdir()) == ["card.txt"]
            out = store.restore(rec.incident_id, priv, to=tmp_path / f"{a.base.name}.restored")
            assert out.read_bytes() == bodies[a]
    finally:
        for a in agents:
            a.kill()


def test_symlink_swapped_in_between_decision_and_open_is_never_followed(tmp_path: Path) -> None:
    """A thread swapping a zone file for a symlink to a secret outside, as fast as it can, never gets
    open_for_scan to return a descriptor of the outside file."""
    zone, outside = tmp_path / "zone", tmp_path / "secret.txt"
    zone.mkdir()
    outside.write_text("outside the zone\n")
    secret_ino = outside.stat().st_ino
    victim = zone / "doc.txt"
    victim.write_text("inside\n")
    stop = threading.Event()

    def swap() -> None:
        tmp_link, tmp_file = zone / ".l", zone / ".f"
        while not stop.is_set():
            tmp_link.unlink(missing_ok=True)
            tmp_link.symlink_to(outside)
            os.replace(tmp_link, victim)
            tmp_file.write_text("inside\n")
            os.replace(tmp_file, victim)

    t = threading.Thread(target=swap, daemon=True)
    t.start()
    opened, refusals = 0, set()
    try:
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            try:
                fd, st = open_for_scan(str(victim), str(zone))
            except OpenFailure as exc:
                refusals.add(exc.reason)
                continue
            try:
                assert st.st_ino != secret_ino and os.read(fd, 100) == b"inside\n"
            finally:
                os.close(fd)
            opened += 1
    finally:
        stop.set()
        t.join()
    assert opened > 0 and refusals, (opened, refusals)
    assert refusals <= {"vanished", "symlink_outside", "not_regular_file"}


def test_recover_removes_an_interrupted_restore(tmp_path: Path, keys: Path) -> None:
    """A restore killed before its rename leaves `.dropwarden-<id>.restore.tmp` (decrypted content) next
    to the original path; the agent's start-up recovery deletes it and leaves everything else alone."""
    from agent.actions.quarantine import QuarantineStore
    from agent.security.keys import load_quarantine_public

    zone = tmp_path / "zone"
    zone.mkdir()
    (zone / "doc.txt").write_text("secret stuff\n")
    pub = load_quarantine_public(keys / "quarantine.pub")
    store = QuarantineStore(tmp_path / "state", pub, hash_key=b"k" * 32)
    rec = store.quarantine(zone / "doc.txt", "drop", "r", "p/r: X", shown=str(zone / "doc.txt"))
    store.note_restoring(rec.incident_id, str(zone / "doc.txt"))  # what restore does before writing
    leftover = zone / f".dropwarden-{rec.incident_id}.restore.tmp"
    leftover.write_text("secret stuff\n")
    other = zone / ".dropwarden-20260101T000000Z-000000000000.restore.tmp"  # not one of ours
    other.write_text("x")
    assert any("interrupted restore" in line for line in store.recover())
    assert not leftover.exists() and other.exists() and (zone / "doc.txt").exists()
    assert store.get(rec.incident_id).agent_path is None  # cleaned up: the path is sealed only again
