"""Attacks on the running daemon and on what it keeps (issue 14 leftovers), each against the real agent:
`python -m agent run` with a config file, real keys, signed packs, real inotify, real racing writers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.helpers import fake_card, wait_for
from tests.integration.test_security_daemon import SecureAgent, cli, keys, write_pack

__all__ = ["keys"]  # the module-scoped key pair fixture, shared

pytestmark = pytest.mark.integration


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _modes(root: Path) -> dict[str, int]:
    """Every entry below ``root`` (not following links) and its permission bits."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            p = Path(dirpath) / name
            out[str(p.relative_to(root))] = stat.S_IMODE(p.lstat().st_mode)
    return out


def test_every_state_file_is_private_from_a_0777_state_dir_under_umask_0(tmp_path: Path, keys: Path) -> None:
    """The state dir and its vault/evidence subdirectories pre-created 0777 holding 0644 files, and the
    agent started under umask 0 (SQLite creates 0644 files): after a quarantined, alerted card with
    sealed evidence and a webhook outbox, every directory in the state dir is 0700 and every file 0600
    (journal.db and its -wal/-shm, outbox, dedup db, vault, evidence, key, audit log, manifest state)."""
    state = tmp_path / "state"
    for sub in ("", "quarantine", "evidence"):
        (state / sub).mkdir(exist_ok=True)
        (state / sub).chmod(0o777)
    leftover = state / "evidence" / "old.note"
    leftover.write_text("from an earlier run\n")
    leftover.chmod(0o644)
    webhook = {"name": "soc", "url": "http://127.0.0.1:9/never", "format": "generic"}  # never delivered
    sinks = {"jsonl": {"path": str(tmp_path / "alerts.jsonl")}, "webhooks": [webhook]}
    a = SecureAgent(tmp_path, keys, sinks=sinks)
    write_pack(a.pol, keys)
    with umask(0):
        a.start()
    try:
        f = a.zone / "c.txt"
        f.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: a.alerts_for(f), 30.0), a.log.read_text()[-2000:]
        assert wait_for(lambda: "Incident" in f.read_text(), 10.0)
        modes = _modes(state)
        for name in ("journal.db", "journal.db-wal", "outbox.db", "agent.key", "audit.jsonl"):
            assert name in modes, sorted(modes)
        assert any(n.startswith("quarantine/") and n.endswith(".blob") for n in modes)
        assert any(n.startswith("evidence/") and n != "evidence/old.note" for n in modes)
        wide = {n: oct(m) for n, m in modes.items() if m & 0o077 or (m & 0o100 and not (state / n).is_dir())}
        assert not wide, wide
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
    finally:
        a.kill()


def test_a_link_planted_as_a_state_file_is_refused_with_a_clear_error(tmp_path: Path, keys: Path) -> None:
    """A symlink at journal.db pointing outside the state dir: the agent never opens or chmods through
    it; it refuses to start (exit 2) naming the file, and the link's target keeps its mode."""
    target = tmp_path / "elsewhere.db"
    target.write_bytes(b"")
    target.chmod(0o644)
    a = SecureAgent(tmp_path, keys)
    write_pack(a.pol, keys)
    a.state.mkdir()
    (a.state / "journal.db").symlink_to(target)
    a.start(wait=False)
    assert a.proc is not None
    assert a.proc.wait(60) == 2
    out = a.log.read_text()
    assert "journal.db" in out and "symbolic link" in out, out[-2000:]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644 and target.read_bytes() == b""


def test_a_card_in_a_quarantined_name_stays_out_of_the_vault_records(tmp_path: Path, keys: Path) -> None:
    """A carded file whose name is a card number, quarantined by the real agent: the vault's records,
    the audit chain and `quarantine list` show the name masked; `quarantine restore` (with the team's
    private key) still brings the file back under its real name."""
    a = SecureAgent(tmp_path, keys)
    write_pack(a.pol, keys)
    a.start()
    try:
        card = fake_card()
        f = a.zone / f"refund {card}.txt"
        f.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: f.exists() and "Incident" in f.read_text(), 30.0), a.log.read_text()[-2000:]
        assert wait_for(lambda: a.alerts_for(f) or list(a.alerts.read_text().splitlines()), 10.0)
    finally:
        a.kill()
    vault = a.state / "quarantine"
    records = list(vault.glob("*.json"))
    assert len(records) == 1
    kept = b"".join(p.read_bytes() for p in [*records, a.state / "audit.jsonl", f])
    assert card.encode() not in kept
    listed = cli("quarantine", "list", "--state-dir", str(a.state))
    assert listed.returncode == 0 and "refund " in listed.stdout and card not in listed.stdout
    incident = records[0].stem
    r = cli(
        "quarantine", "restore", incident, "--key", str(keys / "quarantine.key"), "--state-dir", str(a.state)
    )
    assert r.returncode == 0, r.stderr
    (back,) = [p for p in a.zone.iterdir() if p.name.startswith(f.name + ".restored-")]
    assert back.read_text().startswith("card ")
    assert card.encode() not in b"".join(
        p.read_bytes() for p in [*vault.glob("*.json"), a.state / "audit.jsonl"]
    )


_STORM = r"""
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
while True:  # until killed: rename every folder away and back
    for i in range(n):
        a, b = os.path.join(root, f"d{i}"), os.path.join(root, f"e{i}")
        os.rename(a, b)
        os.rename(b, a)
"""


@pytest.mark.slow
def test_a_directory_rename_storm_does_not_starve_other_files(tmp_path: Path) -> None:
    """A writer renames 20 folders (5 files each) away and back in a loop inside the zone, tens of
    thousands of renames a second, for as long as the test runs. A carded file dropped into another
    folder of the same zone meanwhile is alerted while the storm still runs (before: 50-100 s and more,
    the storm's crawl requests and inotify events queued ahead of it)."""
    from tests.helpers import CARD_POLICY, AgentProc

    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    a = AgentProc(tmp_path, pol)
    busy, other = a.zone / "busy", a.zone / "other"
    other.mkdir()
    for i in range(20):
        (busy / f"d{i}").mkdir(parents=True)
        for j in range(5):
            (busy / f"d{i}" / f"f{j}.txt").write_text("minutes of a meeting\n")
    a.start()
    storm = subprocess.Popen([sys.executable, "-c", _STORM, str(busy), "20"])
    try:
        time.sleep(3)  # the storm is in full swing
        dropped = [other / f"refund-{k}.txt" for k in range(3)]
        for f in dropped:
            f.write_text(f"Card {fake_card()}\n")
            assert wait_for(lambda f=f: a.alerts_for(f), 40.0, 0.1), a.log.read_text()[-2000:]
            assert storm.poll() is None  # alerted during the storm, not after it
        assert '"directory_storm_detected"' in a.log.read_text()
    finally:
        storm.kill()
        storm.wait()
        a.kill()
