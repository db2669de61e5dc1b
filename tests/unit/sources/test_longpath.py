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
    fd = longpath.open_dir(deep)
    try:
        os.symlink("/elsewhere/x", "link", dir_fd=fd)
    finally:
        os.close(fd)
    assert longpath.readlink(os.path.join(deep, "link")) == "/elsewhere/x"


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
    deep: set[str] = set()
    assert [p for p, _ in crawl(ZoneFilter(str(tmp_path)), deep=deep)] == [want]
    chain = [os.path.join(tmp_path, *[NAME] * i) for i in range(1, 19)]
    first = next(p for p in chain if longpath.too_long(p))
    assert deep == {first}  # the topmost unwatchable folder only: its crawl covers what lies below
    assert [(type(x), getattr(x, "path", None)) for x in walk([str(tmp_path)])] == [(FileRef, want)]


@pytest.mark.slow
def test_reconciler_polls_folders_too_deep_to_watch(tmp_path: Path) -> None:
    """inotify cannot watch a folder past PATH_MAX: a file written into one after the crawl is queued by
    the reconciler's poll of that folder (a real thread, a real journal), and a folder that goes away
    is no longer polled."""
    from agent.journal import Journal
    from agent.sources import reconcile
    from tests.helpers import wait_for
    from tests.unit.daemon.test_sources import Z

    zone = tmp_path / "zone"
    zone.mkdir()
    deep = _deep(zone)
    journal = Journal(tmp_path / "journal.db")
    rec = reconcile.Reconciler(journal, [Z("z", str(zone))], settle=0.0, interval=0)
    rec.run_full("startup")
    assert journal.known(os.path.join(deep, "f.txt")) is not None and rec.deep_dirs() == 1
    fd = longpath.open_dir(deep)
    try:
        os.close(os.open("later.txt", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    finally:
        os.close(fd)
    rec.start()
    try:
        assert wait_for(lambda: journal.known(os.path.join(deep, "later.txt")), 20.0)
        top = next(iter(rec._deep))[1]
        parent = longpath.open_dir(os.path.dirname(top))
        try:
            os.rename(os.path.basename(top), "gone", src_dir_fd=parent, dst_dir_fd=parent)
        finally:
            os.close(parent)
        assert wait_for(lambda: rec.deep_dirs() == 0, 20.0)
    finally:
        rec.stop()


def test_a_relative_link_past_path_max_is_refused_not_raised(tmp_path: Path) -> None:
    """Opening a deep relative link for reading (the worker's walk from the root) reports why it is not
    read instead of raising ENAMETOOLONG out of the extractor."""
    from agent.security.dirfd import PathRefused, open_regular

    deep = _deep(tmp_path)
    fd = longpath.open_dir(deep)
    try:
        os.symlink("f.txt", "rel-link", dir_fd=fd)
    finally:
        os.close(fd)
    with pytest.raises(PathRefused) as refused:
        open_regular(str(tmp_path), os.path.join(deep, "rel-link"))
    assert refused.value.reason == "not_regular_file"


def test_folders_too_far_past_path_max_are_refused_and_the_crawl_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_STEPS components beyond the longest head that fits, a folder is refused (bounded opens
    per folder, whatever the depth) with ENAMETOOLONG; the crawl skips it (it logs crawl_dir_failed)
    and still yields the rest of the zone."""
    from agent.sources.reconcile import ZoneFilter, crawl

    deep = _deep(tmp_path)
    (tmp_path / "shallow.txt").write_text("x")
    monkeypatch.setattr(longpath, "MAX_STEPS", 1)
    with pytest.raises(OSError, match="folders past PATH_MAX") as exc:
        longpath.names(deep)
    assert exc.value.errno == errno.ENAMETOOLONG
    found = [p for p, _ in crawl(ZoneFilter(str(tmp_path)))]
    assert found == [str(tmp_path / "shallow.txt")]
    monkeypatch.setattr(longpath, "MAX_STEPS", 200)
    assert os.path.join(deep, "f.txt") in [p for p, _ in crawl(ZoneFilter(str(tmp_path)))]
