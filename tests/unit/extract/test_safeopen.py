"""open_for_scan: least-privilege open that refuses special files, links and swapped files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.extract.safeopen import OpenFailure, open_for_scan


def _reason(path: Path | str, root: str | None, follow: bool = False) -> str:
    try:
        fd, _ = open_for_scan(str(path), root, follow)
    except OpenFailure as exc:
        return exc.reason
    os.close(fd)
    pytest.fail(f"{path} was opened")


def test_regular_file_opened_read_only_blocking(tmp_path: Path) -> None:
    """A regular file gives a read-only, blocking, close-on-exec descriptor of the very inode listed."""
    p = tmp_path / "f.txt"
    p.write_text("data")
    fd, st = open_for_scan(str(p), str(tmp_path))
    try:
        assert (st.st_ino, st.st_dev) == (p.stat().st_ino, p.stat().st_dev)
        flags = os.get_blocking(fd), os.get_inheritable(fd)
        assert flags == (True, False)
        assert os.read(fd, 10) == b"data"
        with pytest.raises(OSError, match="Bad file descriptor"):
            os.write(fd, b"x")
    finally:
        os.close(fd)


def test_refusals(tmp_path: Path) -> None:
    """FIFO/device -> not_regular_file, missing -> vanished, links -> loop/outside/not followed."""
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "real.txt").write_text("r")
    (tmp_path / "in").symlink_to(tmp_path / "real.txt")
    (tmp_path / "out").symlink_to("/etc/hostname")
    (tmp_path / "l1").symlink_to(tmp_path / "l2")
    (tmp_path / "l2").symlink_to(tmp_path / "l1")
    root = str(tmp_path)
    assert _reason(tmp_path / "fifo", root) == "not_regular_file"
    assert _reason("/dev/null", None) == "not_regular_file"
    assert _reason(tmp_path / "missing", root) == "vanished"
    assert _reason(tmp_path / "in", root) == "not_regular_file"
    assert _reason(tmp_path / "out", root) == "symlink_outside"
    assert _reason(tmp_path / "out", root, follow=True) == "symlink_outside"
    assert _reason(tmp_path / "l1", root, follow=True) == "symlink_loop"
    fd, st = open_for_scan(str(tmp_path / "in"), root, follow_symlinks=True)
    os.close(fd)
    assert stat.S_ISREG(st.st_mode)


def test_parent_directory_link_cannot_escape_root(tmp_path: Path) -> None:
    """A path whose parent directory is a link out of the root is refused as symlink_outside."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.txt").write_text("x")
    root = tmp_path / "root"
    root.mkdir()
    (root / "sub").symlink_to(outside)
    assert _reason(root / "sub" / "x.txt", str(root)) == "symlink_outside"
