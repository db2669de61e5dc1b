"""The vault under attack by whoever writes into the zone: real symlinks, real racing processes.

Nothing here is mocked: the attacker plants real links at names the tombstone lets them predict, and
a separate process exchanges the file's parent directory with a symlink while the agent quarantines.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

from agent.actions.quarantine import QuarantineError, QuarantineStore
from tests.unit.security.exchange import Swapper

SWAPS = 100_000


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    """A zone with zone/sub/card.txt, the agent's own files outside it, and a root-only directory."""
    zone, own, secure = tmp_path / "zone", tmp_path / "agent-state", tmp_path / "cron.d"
    (zone / "sub").mkdir(parents=True)
    own.mkdir()
    secure.mkdir(mode=0o700)
    (zone / "sub" / "card.txt").write_bytes(b"card 4111 1111 1111 1111\n")
    (own / "card.txt").write_bytes(b"the agent's own audit log\n")  # same name, outside the zone
    return {"zone": zone, "sub": zone / "sub", "own": own, "secure": secure, "state": tmp_path / "state"}


def test_restore_never_writes_through_a_planted_symlink(keys, site) -> None:
    """Symlinks planted at the restore's old temp name and at the original name (the incident id is in
    the tombstone) never lead a restore into the root-only directory; the restored file belongs to
    the restorer, mode 0600, whatever owner and mode (setuid included) the writer gave the original."""
    f = site["sub"] / "card.txt"
    os.chown(f, 65534, 65534)
    f.chmod(0o4777)
    store = QuarantineStore(site["state"], keys.q_pub)
    rec = store.quarantine(f, "drop", "r", "why", root=str(site["zone"]))
    victim = site["secure"] / "job"
    (site["sub"] / f".dropwarden-{rec.incident_id}.restore.tmp").symlink_to(victim)
    out = store.restore(rec.incident_id, keys.q_priv)
    assert out.parent == site["sub"] and out.name.startswith("card.txt.restored-")
    assert out.read_bytes() == b"card 4111 1111 1111 1111\n"
    st = out.lstat()
    assert (st.st_uid, st.st_mode & 0o7777) == (os.geteuid(), 0o600)
    f.unlink()
    f.symlink_to(victim)  # the tombstone swapped for a link into the root-only directory
    with pytest.raises(QuarantineError) as exc:
        store.restore(rec.incident_id, keys.q_priv, in_place=True)
    assert exc.value.reason == "exists"
    assert store.restore(rec.incident_id, keys.q_priv, in_place=True, force=True) == f
    assert not f.is_symlink() and f.read_bytes() == b"card 4111 1111 1111 1111\n"
    assert not os.path.lexists(victim) and list(site["secure"].iterdir()) == []


def test_restore_refuses_a_zone_path_that_now_leads_elsewhere(keys, site) -> None:
    """The tombstone's directory swapped for a link to a root-only directory: the restore refuses
    (outside_zone) and writes nothing there, in place or beside."""
    f = site["sub"] / "card.txt"
    store = QuarantineStore(site["state"], keys.q_pub)
    rec = store.quarantine(f, "drop", "r", "why", root=str(site["zone"]))
    os.rename(site["sub"], site["zone"] / "old")
    site["sub"].symlink_to(site["secure"])
    for in_place in (False, True):
        with pytest.raises(QuarantineError) as exc:
            store.restore(rec.incident_id, keys.q_priv, in_place=in_place, force=True)
        assert exc.value.reason == "outside_zone"
    assert list(site["secure"].iterdir()) == []


def test_quarantine_refuses_a_parent_swapped_for_a_link_and_a_file_not_the_scanned_one(keys, site) -> None:
    """A parent directory replaced by a link to the agent's own files, or a file other than the one
    scanned at the path, is left alone: nothing moves into the vault, no tombstone is written."""
    store = QuarantineStore(site["state"], keys.q_pub)
    scanned = os.stat(site["sub"] / "card.txt")
    ident = (scanned.st_dev, scanned.st_ino, scanned.st_size, scanned.st_mtime_ns)
    os.rename(site["sub"], site["zone"] / "old")
    site["sub"].symlink_to(site["own"])
    with pytest.raises(QuarantineError) as exc:
        store.quarantine(site["sub"] / "card.txt", "drop", "r", "why", root=str(site["zone"]), expect=ident)
    assert exc.value.reason == "symlink_outside"
    assert (site["own"] / "card.txt").read_bytes() == b"the agent's own audit log\n"
    site["sub"].unlink()
    os.rename(site["zone"] / "old", site["sub"])
    (site["sub"] / "card.txt").write_bytes(b"a different file now\n")
    with pytest.raises(QuarantineError) as exc:
        store.quarantine(site["sub"] / "card.txt", "drop", "r", "why", root=str(site["zone"]), expect=ident)
    assert exc.value.reason == "changed"
    assert (site["sub"] / "card.txt").read_bytes() == b"a different file now\n"
    assert store.list() == []


@pytest.mark.slow
def test_parent_exchanged_with_a_link_during_quarantine_never_touches_outside(keys, site) -> None:
    """A process exchanging the zone directory with a link to the agent's own files (renameat2
    RENAME_EXCHANGE, 100,000 swaps) while the agent quarantines over and over: the outside file is
    never moved, linked, unlinked or tombstoned; every vault item is the inside file."""
    own = site["own"] / "card.txt"
    own_ino = own.stat().st_ino
    (site["zone"] / ".alt").symlink_to(site["own"])
    store = QuarantineStore(site["state"], keys.q_pub)
    real = os.open(site["sub"], os.O_RDONLY | os.O_DIRECTORY)  # the test's own hold on the real directory
    swapper = Swapper(site["sub"], site["zone"] / ".alt", SWAPS)
    done = refused = 0
    try:
        while swapper.running():
            with contextlib.suppress(FileExistsError):
                fd = os.open("card.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=real)
                os.write(fd, b"card 4111 1111 1111 1111\n")
                os.close(fd)
            try:
                rec = store.quarantine(site["sub"] / "card.txt", "drop", "r", "why", root=str(site["zone"]))
            except QuarantineError:
                refused += 1
                continue
            done += 1
            assert rec.inode != own_ino
            os.unlink("card.txt", dir_fd=real)  # the tombstone: make room for the next round
    finally:
        os.close(real)
    assert swapper.finish() == SWAPS
    assert own.stat().st_ino == own_ino and own.read_bytes() == b"the agent's own audit log\n"
    assert sorted(p.name for p in site["own"].iterdir()) == ["card.txt"]
    assert done + refused > 0, (done, refused)


def test_hostile_name_is_quarantined_and_listed_on_one_escaped_line(keys, site, capsys) -> None:
    """A file named with a non-UTF-8 byte, a newline and an escape sequence is quarantined (tombstone
    naming it escaped), restored under its own bytes, and `quarantine list` shows it on one line."""
    from agent.cli import main as run

    raw = os.path.join(os.fsencode(site["sub"]), b"pay\xff\nroll\x1b[2J.csv")
    with open(raw, "wb") as f:
        f.write(b"iban list\n")
    store = QuarantineStore(site["state"], keys.q_pub)
    rec = store.quarantine(
        os.fsdecode(raw), "drop", "r", "why", root=str(site["zone"]), shown=os.fsdecode(raw)
    )
    with open(raw, "rb") as f:
        tomb = f.read()
    assert b"pay\\xff\\nroll\\x1b[2J.csv" in tomb and b"\x1b" not in tomb
    out = store.restore(rec.incident_id, keys.q_priv)
    assert os.fsencode(out).startswith(raw + b".restored-") and out.read_bytes() == b"iban list\n"
    capsys.readouterr()
    assert run(["quarantine", "list", "--state-dir", str(site["state"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].endswith("pay\\xff\\nroll\\x1b[2J.csv") and "\x1b" not in lines[1]
