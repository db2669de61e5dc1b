"""The security sub-commands: exit codes, one-line errors, and an end-to-end run through `python -m agent`."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.actions.quarantine import QuarantineStore
from agent.commands.security import register
from agent.log import reset_logging
from agent.security.audit import AuditLog, audit_path
from agent.security.evidence import EvidenceStore
from agent.security.keys import load_quarantine_public

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _fresh_logging():
    """The handlers configure logging to the (captured) stderr when unconfigured: undo it after each test."""
    yield
    reset_logging()


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dropwarden")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def keydir(tmp_path: Path) -> Path:
    d = tmp_path / "keys"
    pp = tmp_path / "pass.txt"
    pp.write_text("correct horse battery staple\n")
    assert run(["keys", "generate", "--out", str(d), "--passphrase-file", str(pp)]) == 0
    return d


def test_keys_generate_writes_private_0600_encrypted(keydir, tmp_path, capsys) -> None:
    """Both pairs are written, private keys 0600 and passphrase-encrypted; no silent overwrite."""
    names = sorted(p.name for p in keydir.iterdir())
    assert names == ["quarantine.key", "quarantine.pub", "signing.key", "signing.pub"]
    for n in ("quarantine.key", "signing.key"):
        assert (keydir / n).stat().st_mode & 0o777 == 0o600
        assert b"ENCRYPTED PRIVATE KEY" in (keydir / n).read_bytes()
    assert keydir.stat().st_mode & 0o777 == 0o700
    capsys.readouterr()
    assert run(["keys", "generate", "--out", str(keydir), "--kind", "signing"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and err.count("\n") == 1


def test_restore_with_encrypted_key_and_errors(keydir, tmp_path, capsys) -> None:
    """Restore needs the right passphrase; wrong or missing ones are one-line exit-2 errors."""
    state, drop = tmp_path / "state", tmp_path / "drop"
    state.mkdir()
    drop.mkdir()
    f = drop / "x.csv"
    f.write_text("name;iban\n")
    audit = AuditLog(audit_path(state))
    rec = QuarantineStore(state, load_quarantine_public(keydir / "quarantine.pub"), audit=audit).quarantine(
        f, "drop", "iban-bulk", "test"
    )
    key = str(keydir / "quarantine.key")
    base = ["quarantine", "restore", rec.incident_id, "--key", key, "--state-dir", str(state)]
    capsys.readouterr()
    assert run(base) == 2
    assert "encrypted; pass --passphrase-file" in capsys.readouterr().err
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope")
    assert run([*base, "--passphrase-file", str(wrong)]) == 2
    unknown = "20990101T000000Z-000000000000"
    argv = ["quarantine", "restore", unknown, "--key", key, "--state-dir", str(state)]
    assert run([*argv, "--passphrase-file", str(tmp_path / "pass.txt")]) == 2
    assert "no quarantined item" in capsys.readouterr().err
    assert run([*base, "--passphrase-file", str(tmp_path / "pass.txt")]) == 0
    (restored,) = drop.glob("x.csv.restored-*")  # beside the tombstone, under a fresh name
    assert restored.read_text() == "name;iban\n" and rec.incident_id in f.read_text()
    assert run(["audit", "verify", "--state-dir", str(state)]) == 0
    assert [json.loads(ln)["event"] for ln in audit_path(state).read_text().splitlines()] == [
        "file_quarantined",
        "file_restored",
    ]


def test_quarantine_list_table_and_json(keys, tmp_path, capsys) -> None:
    """list shows metadata only, as a table or one JSON object per line."""
    state, drop = tmp_path / "state", tmp_path / "drop"
    state.mkdir()
    drop.mkdir()
    (drop / "a.txt").write_text("secret content")
    rec = QuarantineStore(state, keys.q_pub).quarantine(drop / "a.txt", "drop", "marking", "r")
    capsys.readouterr()
    assert run(["quarantine", "list", "--state-dir", str(state)]) == 0
    table = capsys.readouterr().out
    assert rec.incident_id in table and "marking" in table and "secret content" not in table
    assert run(["quarantine", "list", "--state-dir", str(state), "--json"]) == 0
    rows = [json.loads(ln) for ln in capsys.readouterr().out.splitlines()]
    assert rows[0]["incident_id"] == rec.incident_id and rows[0]["state"] == "done"
    assert run(["quarantine", "list", "--state-dir", str(tmp_path / "nope")]) == 2


def test_sign_verify_and_audit_exit_codes(keys, tmp_path, capsys) -> None:
    """verify exits 0 on a good file and 1 on a tampered one; audit verify exits 1 on a broken chain."""
    pack = tmp_path / "pack.yaml"
    pack.write_text("rules: []\n")
    assert run(["sign", str(pack), "--key", str(keys.dir / "signing.key")]) == 0
    assert run(["verify", str(pack), "--pub", str(keys.dir / "signing.pub")]) == 0
    pack.write_text("rules: [evil]\n")
    capsys.readouterr()
    assert run(["verify", str(pack), "--pub", str(keys.dir / "signing.pub")]) == 1
    assert "tampered" in capsys.readouterr().err
    assert run(["verify", str(pack), "--pub", str(keys.dir / "quarantine.pub")]) == 2  # wrong key type
    log = tmp_path / "audit.jsonl"
    AuditLog(log).append("policy_reloaded", rules=1)
    AuditLog(log).append("policy_reloaded", rules=2)
    assert run(["audit", "verify", "--file", str(log)]) == 0
    log.write_text(log.read_text().replace('"rules":1', '"rules":9'))
    capsys.readouterr()
    assert run(["audit", "verify", "--file", str(log)]) == 1
    assert "hash_mismatch at line 1" in capsys.readouterr().err
    assert run(["audit", "verify"]) == 2


def test_evidence_show(keys, tmp_path, capsys) -> None:
    """evidence show decrypts with the private key and exits 1 when the blob was altered."""
    eid = EvidenceStore(tmp_path, keys.q_pub).put(b"context: card 4111 1111 1111 1111")
    argv = ["evidence", "show", eid, "--key", str(keys.dir / "quarantine.key"), "--state-dir", str(tmp_path)]
    assert run(argv) == 0
    assert "context: card" in capsys.readouterr().out
    p = tmp_path / "evidence" / f"{eid}.sealed"
    p.write_bytes(p.read_bytes()[:-1] + b"\x00")
    assert run(argv) == 1
    assert run([*argv[:2], "../x", *argv[3:]]) == 2


def test_end_to_end_through_python_m_agent(tmp_path) -> None:
    """The real CLI: generate keys, quarantine (pub only), restore, verify audit; no traceback on errors."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "agent", *argv], env=env, capture_output=True, text=True, timeout=60
        )

    keydir, state, drop = tmp_path / "k", tmp_path / "s", tmp_path / "d"
    state.mkdir()
    drop.mkdir()
    r = cli("keys", "generate", "--out", str(keydir), "--kind", "quarantine")
    assert r.returncode == 0, r.stderr
    f = drop / "leak.txt"
    f.write_bytes(b"top secret\n")
    rec = QuarantineStore(state, load_quarantine_public(keydir / "quarantine.pub"),
                          audit=AuditLog(audit_path(state))).quarantine(f, "d", "r", "x")  # fmt: skip
    r = cli(
        "quarantine",
        "restore",
        rec.incident_id,
        "--key",
        str(keydir / "quarantine.key"),
        "--state-dir",
        str(state),
        "--in-place",
    )
    assert r.returncode == 0, r.stderr
    assert f.read_bytes() == b"top secret\n"
    r = cli("audit", "verify", "--state-dir", str(state))
    assert r.returncode == 0 and "2 lines" in r.stdout
    r = cli("verify", str(f), "--pub", str(keydir / "missing.pub"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_keyed_audit_uses_state_dir_agent_key(keys, tmp_path, capsys) -> None:
    """With <state>/agent.key present, restore extends the keyed chain and audit verify checks it."""
    state, drop = tmp_path / "state", tmp_path / "drop"
    state.mkdir()
    drop.mkdir()
    agent_key = b"A" * 32
    (state / "agent.key").write_bytes(agent_key)
    f = drop / "k.txt"
    f.write_bytes(b"payload")
    audit = AuditLog(audit_path(state), key=agent_key)
    rec = QuarantineStore(state, keys.q_pub, hash_key=agent_key, audit=audit).quarantine(f, "z", "r", "x")
    argv = ["quarantine", "restore", rec.incident_id, "--key", str(keys.dir / "quarantine.key")]
    assert run([*argv, "--state-dir", str(state), "--in-place"]) == 0
    assert f.read_bytes() == b"payload"
    assert run(["audit", "verify", "--state-dir", str(state)]) == 0
    assert run(["audit", "verify", "--file", str(audit_path(state))]) == 2  # keyed, no key given
    assert "key_required" in capsys.readouterr().err
