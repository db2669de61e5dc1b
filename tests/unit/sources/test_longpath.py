"""Entries past PATH_MAX are listed and stat'ed through descriptors; a link swapped into the deep part
of the path is refused, never followed."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from agent.sources import longpath

NAME = "n" * 250


def _deep(top: Path, depth: int = 18) -> str:
    """A chain of ``depth`` 250-byte folders (past PATH_MAX from about the 16th); its full path."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(NAME, dir_fd=fd)
            step = os.open(NAME, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = step
        os.close(os.open("f.txt", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
        os.mkdir("sub", dir_fd=fd)
    finally:
        os.close(fd)
    path = os.path.join(top, *[NAME] * depth)
    assert longpath.too_long(path)
    return path


def test_listing_and_lstat_past_path_max(tmp_path: Path) -> None:
    deep = _deep(tmp_path)
    with pytest.raises(OSError, match="too long"):
        os.listdir(deep)
    assert longpath.names(deep) == ["f.txt", "sub"]
    entries = dict(longpath.listing(deep))
    assert set(entries) == {"f.txt", "sub"}
    assert entries["f.txt"] is not None and entries["f.txt"].st_size == 0
    assert longpath.lstat(os.path.join(deep, "f.txt")).st_ino == entries["f.txt"].st_ino
    assert not longpath.too_long(str(tmp_path))


def test_a_link_in_the_deep_part_is_refused(tmp_path: Path) -> None:
    """The writer swaps the deepest folder for a link to a folder outside: the listing refuses it."""
    deep = _deep(tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "other.txt").write_text("x")
    parent = longpath.open_dir(os.path.dirname(deep))
    try:
        os.rename(NAME, "moved", src_dir_fd=parent, dst_dir_fd=parent)
        os.symlink(str(outside), NAME, dir_fd=parent)
    finally:
        os.close(parent)
    with pytest.raises(OSError, match=r"symbolic links|Not a directory") as exc:
        longpath.names(deep)
    assert exc.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert longpath.lstat(deep).st_mode & 0o170000 == 0o120000  # the link itself, not its target


def test_missing_deep_entry_raises_like_lstat(tmp_path: Path) -> None:
    deep = _deep(tmp_path)
    with pytest.raises(FileNotFoundError):
        longpath.lstat(os.path.join(deep, "nothing"))
    with pytest.raises(FileNotFoundError):
        longpath.names(os.path.join(deep, "nothing"))


def test_crawl_and_walk_reach_a_file_past_path_max(tmp_path: Path) -> None:
    """The reconcile crawl and the `scan` walk both yield the deep file (before: skipped in silence /
    an lstat error on its folder)."""
    from agent.models import FileRef
    from agent.sources.reconcile import ZoneFilter, crawl
    from agent.sources.walk import walk

    deep = _deep(tmp_path)
    want = os.path.join(deep, "f.txt")
    assert [p for p, _ in crawl(ZoneFilter(str(tmp_path)))] == [want]
    assert [(type(x), getattr(x, "path", None)) for x in walk([str(tmp_path)])] == [(FileRef, want)]
