"""Quarantine vault: round trips, tamper detection, permissions, and crash safety at every step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.actions.quarantine import FAULT_POINTS, QuarantineError, QuarantineStore
from agent.security.audit import AuditLog, verify_chain
from agent.security.evidence import HEADER_BYTES, SEGMENT_BYTES, TAG_BYTES

REPO = Path(__file__).resolve().parents[3]
MTIME_NS = 1_600_000_000_123_456_789


def _make(path: Path, size: int, seed: int = 7) -> bytes:
    data = (os.urandom(64) * (size // 64 + 1))[:size] if size else b""
    data = bytes((b + seed) % 256 for b in data[:4096]) + data[4096:]
    path.write_bytes(data)
    os.utime(path, ns=(MTIME_NS, MTIME_NS))
    return data


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    d = tmp_path / "drop"
    d.mkdir()
    return d


@pytest.fixture
def state(tmp_path: Path) -> Path:
    s = tmp_path / "state"
    s.mkdir()
    return s


@pytest.mark.parametrize("size", [0, 1, SEGMENT_BYTES, SEGMENT_BYTES * 3 + SEGMENT_BYTES // 2])
def test_round_trip_restores_bytes_mode_and_mtime(keys, drop, state, size: int) -> None:
    """Quarantine then restore gives back identical bytes, mode and mtime, over the tombstone."""
    f = drop / "payroll.csv"
    data = _make(f, size)
    f.chmod(0o640)
    store = QuarantineStore(state, keys.q_pub)
    rec = store.quarantine(f, "drop", "pci-bulk", "critical finding")
    assert rec.state == "done" and rec.size == size
    tomb = f.read_text()
    assert rec.incident_id in tomb and "withheld" in tomb
    blob = store.blob_path(rec.incident_id)
    assert blob.stat().st_size == HEADER_BYTES + size + max(1, -(-size // SEGMENT_BYTES)) * TAG_BYTES
    assert not list(drop.glob(".dropwarden-*"))
    out = QuarantineStore(state).restore(rec.incident_id, keys.q_priv, in_place=True)
    assert out == f
    assert f.read_bytes() == data
    st = f.stat()  # the mtime comes back; the mode (the writer's choice) does not: 0600, the restorer's
    assert st.st_mtime_ns == MTIME_NS and st.st_mode & 0o777 == 0o600 and st.st_uid == os.geteuid()


def test_vault_permissions_and_public_key_only(keys, drop, state) -> None:
    """The vault is 0700 with 0600 files, holds no plaintext, and quarantining needs only the .pub file."""
    from agent.security.keys import load_quarantine_public

    f = drop / "secret.txt"
    f.write_bytes(b"CONFIDENTIAL: merger plan " * 100)
    store = QuarantineStore(state, load_quarantine_public(keys.dir / "quarantine.pub"))
    rec = store.quarantine(f, None, "marking", "confidential")
    vault = state / "quarantine"
    assert vault.stat().st_mode & 0o777 == 0o700
    files = list(vault.iterdir())
    assert {p.suffix for p in files} == {".blob", ".json"}
    for p in files:
        assert p.stat().st_mode & 0o777 == 0o600
        assert b"merger" not in p.read_bytes()
    assert rec.content_hash.startswith("sha256:")


def test_keyed_content_hash_and_custom_tombstone(keys, drop, state) -> None:
    """With an agent key the content hash is an HMAC, and the tombstone follows the configured template."""
    f = drop / "a.txt"
    f.write_bytes(b"x" * 10)
    store = QuarantineStore(
        state, keys.q_pub, hash_key=b"k" * 32, tombstone_template="gone {incident_id} {path} {time}\n"
    )
    rec = store.quarantine(f, "z", "r", "why", shown=str(f))
    assert rec.content_hash.startswith("hmac-sha256:")
    assert f.read_text() == f"gone {rec.incident_id} {f} {rec.time}\n"
    QuarantineStore(state, hash_key=b"k" * 32).restore(rec.incident_id, keys.q_priv, in_place=True)
    assert f.read_bytes() == b"x" * 10
    with pytest.raises(KeyError):
        QuarantineStore(state, keys.q_pub, tombstone_template="{secret}")


@pytest.mark.parametrize("where", ["header", "first_segment", "tag", "last_byte", "truncate", "reorder"])
def test_tampered_vault_blob_is_refused_and_nothing_written(keys, drop, state, where: str) -> None:
    """A bit flip, truncation or segment swap in the blob fails restore and leaves the tombstone alone."""
    f = drop / "big.bin"
    _make(f, SEGMENT_BYTES * 2 + 100)
    store = QuarantineStore(state, keys.q_pub)
    rec = store.quarantine(f, "z", "r", "why")
    blob = store.blob_path(rec.incident_id)
    data = bytearray(blob.read_bytes())
    ct = SEGMENT_BYTES + TAG_BYTES
    if where == "header":
        data[20] ^= 1
    elif where == "first_segment":
        data[HEADER_BYTES + 1000] ^= 4
    elif where == "tag":
        data[HEADER_BYTES + ct - 1] ^= 0x80
    elif where == "last_byte":
        data[-1] ^= 1
    elif where == "truncate":
        data = data[: HEADER_BYTES + 2 * ct]  # exactly at a segment boundary
    else:
        data = (
            data[:HEADER_BYTES]
            + data[HEADER_BYTES + ct : HEADER_BYTES + 2 * ct]
            + data[HEADER_BYTES : HEADER_BYTES + ct]
            + data[HEADER_BYTES + 2 * ct :]
        )
    blob.write_bytes(bytes(data))
    tomb = f.read_bytes()
    with pytest.raises(QuarantineError) as exc:
        store.restore(rec.incident_id, keys.q_priv)
    assert exc.value.reason == "tampered"
    assert f.read_bytes() == tomb
    assert sorted(p.name for p in drop.iterdir()) == ["big.bin"]


def test_restore_refuses_to_overwrite_a_real_file(keys, drop, state, tmp_path) -> None:
    """Restore overwrites only the tombstone unless forced, and --to writes elsewhere; both audited."""
    f = drop / "a.txt"
    f.write_bytes(b"original")
    audit = AuditLog(state / "audit.jsonl")
    store = QuarantineStore(state, keys.q_pub, audit=audit)
    rec = store.quarantine(f, "z", "r", "why")
    f.write_bytes(b"new work by the contractor")
    with pytest.raises(QuarantineError) as exc:
        store.restore(rec.incident_id, keys.q_priv, in_place=True)
    assert exc.value.reason == "exists"
    assert f.read_bytes() == b"new work by the contractor"
    other = tmp_path / "restored"
    other.mkdir()
    assert store.restore(rec.incident_id, keys.q_priv, to=other) == other / "a.txt"
    assert (other / "a.txt").read_bytes() == b"original"
    store.restore(rec.incident_id, keys.q_priv, force=True, in_place=True)
    assert f.read_bytes() == b"original"
    events = [json.loads(line)["event"] for line in (state / "audit.jsonl").read_text().splitlines()]
    assert events == ["file_quarantined", "file_restored", "file_restored"]
    assert verify_chain(state / "audit.jsonl").ok
    assert len(store.get(rec.incident_id).restored) == 2


def test_refuses_symlinks_and_bad_ids(keys, drop, state) -> None:
    """A symlink is never followed into the vault, and incident ids cannot traverse paths."""
    target = drop / "t.txt"
    target.write_bytes(b"t")
    (drop / "link").symlink_to(target)
    store = QuarantineStore(state, keys.q_pub)
    with pytest.raises(QuarantineError):
        store.quarantine(drop / "link", "z", "r", "why")
    with pytest.raises(QuarantineError) as exc:
        store.restore("../../etc/passwd", keys.q_priv)
    assert exc.value.reason == "bad_id"
    assert target.read_bytes() == b"t"


def test_file_changed_after_encryption_is_rolled_back(keys, drop, state) -> None:
    """A file rewritten between encryption and removal stays in place and the vault drops its copy."""
    f = drop / "a.txt"
    f.write_bytes(b"v1")

    def write_more(step: str) -> None:
        if step == "recorded":
            with open(f, "ab") as fh:
                fh.write(b" and v2")

    store = QuarantineStore(state, keys.q_pub, fault=write_more)
    with pytest.raises(QuarantineError) as exc:
        store.quarantine(f, "z", "r", "why")
    assert exc.value.reason == "changed"
    assert f.read_bytes() == b"v1 and v2"
    assert list((state / "quarantine").iterdir()) == []


_CRASHER = textwrap.dedent(
    """
    import os, sys
    from agent.actions.quarantine import QuarantineStore
    from agent.security.keys import load_quarantine_public
    step = sys.argv[4]
    def fault(name):
        if name == step:
            os._exit(137)
    store = QuarantineStore(sys.argv[1], load_quarantine_public(sys.argv[2]), hash_key=b"k" * 32, fault=fault)
    store.quarantine(sys.argv[3], "drop", "rule", "crash test", shown=sys.argv[3])
    """
)


@pytest.mark.parametrize("step", [*FAULT_POINTS, "none"])
def test_crash_at_each_step_loses_nothing(keys, drop, state, step: str) -> None:
    """A process killed after any step leaves, after recover(), the file either in place or in the vault."""
    f = drop / "report.docx"
    data = _make(f, SEGMENT_BYTES + 5)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", _CRASHER, str(state), str(keys.dir / "quarantine.pub"), str(f), step],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == (0 if step == "none" else 137), proc.stderr.decode()[-2000:]
    store = QuarantineStore(state, hash_key=b"k" * 32)  # the agent's key opens its copy of the path
    store.recover()
    assert store.recover() == []  # idempotent
    records = store.list()
    in_place = f.exists() and f.read_bytes() == data
    assert in_place or len(records) == 1
    if step in (
        "removed",
        "linked",
        "tombstoned",
        "none",
    ):  # past the point of no return: finished, not undone
        assert not in_place
    if records:
        rec = records[0]
        assert rec.state == "done"
        assert rec.incident_id in f.read_text()
        assert store.restore(rec.incident_id, keys.q_priv, in_place=True) == f
        assert f.read_bytes() == data and f.stat().st_mtime_ns == MTIME_NS
    else:
        assert list((state / "quarantine").iterdir()) == []
    assert sorted(p.name for p in drop.iterdir()) == ["report.docx"]


def test_recover_cleans_partial_temp_blob_and_orphans(keys, drop, state) -> None:
    """A torn temp blob (crash mid-encryption) and an unrecorded blob are removed; originals untouched."""
    vault = state / "quarantine"
    vault.mkdir(mode=0o700)
    (vault / ".20261127T155012Z-aaaaaaaaaaaa.blob.tmp").write_bytes(b"DWS1 partial")
    (vault / "20261127T155013Z-bbbbbbbbbbbb.blob").write_bytes(b"DWS1 orphan")
    f = drop / "keep.txt"
    f.write_bytes(b"keep")
    done = QuarantineStore(state).recover()
    assert len(done) == 2
    assert list(vault.iterdir()) == []
    assert f.read_bytes() == b"keep"


def test_recover_rolls_back_when_original_changed(keys, drop, state) -> None:
    """A pending record whose original was rewritten before removal is rolled back, the new file kept."""
    f = drop / "a.txt"
    f.write_bytes(b"first")

    class Crash(Exception):
        pass

    def fault(step: str) -> None:
        if step == "recorded":
            raise Crash

    with pytest.raises(Crash):
        QuarantineStore(state, keys.q_pub, hash_key=b"k" * 32, fault=fault).quarantine(f, "z", "r", "why")
    f.write_bytes(b"second version")
    done = QuarantineStore(state, hash_key=b"k" * 32).recover()
    assert done and "rolled back" in done[0]
    assert f.read_bytes() == b"second version"
    assert list((state / "quarantine").iterdir()) == []


def test_file_written_during_encryption_is_left_in_place(keys, drop, state, monkeypatch) -> None:
    """A write racing the encryption aborts the quarantine before anything is recorded or removed."""
    import agent.actions.quarantine as q

    f = drop / "a.txt"
    f.write_bytes(b"v1" * 1000)
    real = q.seal_stream

    def racing(*args, **kwargs):
        with open(f, "ab") as fh:  # the contractor's client is still uploading
            fh.write(b"more")
        return real(*args, **kwargs)

    monkeypatch.setattr(q, "seal_stream", racing)
    with pytest.raises(QuarantineError) as exc:
        QuarantineStore(state, keys.q_pub).quarantine(f, "z", "r", "why")
    assert exc.value.reason == "changed"
    assert f.read_bytes() == b"v1" * 1000 + b"more"
    assert list((state / "quarantine").iterdir()) == []
