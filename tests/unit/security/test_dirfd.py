"""The dirfd walk under real attack: parent directories swapped for symlinks by a racing process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.extract.safeopen import OpenFailure, open_for_scan
from agent.security.dirfd import PathRefused, components, located, open_regular
from tests.unit.security.exchange import Swapper

SWAPS = 100_000


def _zone_with_trap(tmp_path: Path) -> tuple[Path, Path, Path, Path]:
    """zone/sub/doc.txt (inside) and zone/.alt -> a directory outside holding doc.txt (the secret)."""
    zone, outside = tmp_path / "zone", tmp_path / "outside"
    (zone / "sub").mkdir(parents=True)
    outside.mkdir()
    (zone / "sub" / "doc.txt").write_text("inside\n")
    (outside / "doc.txt").write_text("outside secret\n")
    (zone / ".alt").symlink_to(outside)
    return zone, zone / "sub", zone / ".alt", outside / "doc.txt"


@pytest.mark.slow
def test_parent_directory_exchanged_with_a_symlink_never_opens_outside(tmp_path: Path) -> None:
    """A process exchanging the file's parent directory with a symlink out of the zone (renameat2
    RENAME_EXCHANGE, 100,000 swaps) never gets open_for_scan to return a descriptor of the outside
    file; the inside file is still opened often, everything else is a clean refusal."""
    zone, sub, alt, secret = _zone_with_trap(tmp_path)
    secret_ino = secret.stat().st_ino
    victim = str(sub / "doc.txt")
    swapper = Swapper(sub, alt, SWAPS)
    opened = refused = escaped = 0
    odd_refusals: list[str] = []
    while swapper.running():
        try:
            fd, st = open_for_scan(victim, str(zone))
        except OpenFailure as exc:
            if exc.reason not in ("vanished", "symlink_outside"):
                odd_refusals.append(exc.reason)
            refused += 1
            continue
        try:
            escaped += st.st_ino == secret_ino or os.read(fd, 100) != b"inside\n"
        finally:
            os.close(fd)
        opened += 1
    assert swapper.finish() == SWAPS
    assert odd_refusals == []
    assert escaped == 0, f"{escaped} of {opened} opens returned the file outside the zone"
    assert opened > 0 and refused > 0, (opened, refused)


def test_every_symlinked_directory_below_the_root_is_refused(tmp_path: Path) -> None:
    """Without following, a link anywhere on the path below the root is refused, whatever its target."""
    zone, _, alt, _ = _zone_with_trap(tmp_path)
    (zone / "in").symlink_to(zone / "sub")
    for path in (alt / "doc.txt", zone / "in" / "doc.txt"):
        with pytest.raises(PathRefused) as exc:
            open_regular(str(zone), str(path))
        assert exc.value.reason == "symlink_outside"
    fd, _ = open_regular(str(zone), str(zone / "in" / "doc.txt"), follow_symlinks=True)
    assert os.read(fd, 100) == b"inside\n"
    os.close(fd)
    with pytest.raises(PathRefused) as exc:
        open_regular(str(zone), str(alt / "doc.txt"), follow_symlinks=True)
    assert exc.value.reason == "symlink_outside"


def test_relative_links_are_followed_by_hand_and_kept_inside(tmp_path: Path) -> None:
    """A relative link climbing with '..' is followed inside the root and refused once it climbs out."""
    zone, sub, _, _ = _zone_with_trap(tmp_path)
    (sub / "up").symlink_to("../sub/doc.txt")
    (sub / "esc").symlink_to("../../outside/doc.txt")
    (sub / "loop").symlink_to("loop")
    fd, _ = open_regular(str(zone), str(sub / "up"), follow_symlinks=True)
    os.close(fd)
    assert _reason(zone, sub / "esc", True) == "symlink_outside"
    assert _reason(zone, sub / "esc", False) == "symlink_outside"
    assert _reason(zone, sub / "loop", True) == "symlink_loop"
    assert _reason(zone, sub / "up", False) == "not_regular_file"
    assert _reason(zone, tmp_path / "outside" / "doc.txt", False) == "symlink_outside"


def test_located_gives_the_walked_directory_even_after_the_path_is_swapped(tmp_path: Path) -> None:
    """Acting relative to the descriptor stays in the directory that was walked, although its path
    now names a symlink to somewhere else."""
    zone, sub, alt, secret = _zone_with_trap(tmp_path)
    with located(str(zone), str(sub / "doc.txt")) as entry:
        os.rename(sub, zone / "moved")
        os.rename(alt, sub)  # the path now leads outside
        assert entry.lstat().st_ino == (zone / "moved" / "doc.txt").stat().st_ino
        assert entry.lstat().st_ino != secret.stat().st_ino


def test_components_refuses_paths_not_below_the_root() -> None:
    """'..' climbing out and sibling prefixes are not below the root."""
    assert components("/srv/zone", "/srv/zone/a/./b") == ["a", "b"]
    for bad in ("/srv/zone/../etc/passwd", "/srv/zone2/x", "/etc"):
        with pytest.raises(PathRefused):
            components("/srv/zone", bad)


def _reason(root: Path, path: Path, follow: bool) -> str:
    try:
        fd, _ = open_regular(str(root), str(path), follow)
    except PathRefused as exc:
        return exc.reason
    os.close(fd)
    pytest.fail(f"{path} was opened")
