"""The safe file walk: sorted, iterative, never opens special files, reports links and loops."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from agent.models import ExtractError, FileRef
from agent.sources.walk import walk

REPO = Path(__file__).resolve().parents[3]


def _summary(items: list[FileRef | ExtractError], root: Path) -> list[tuple[str, str]]:
    out = []
    for i in items:
        rel = os.path.relpath(i.path, root)
        out.append((rel, "file" if isinstance(i, FileRef) else i.reason))
    return out


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "share"
    (root / "b" / "deep").mkdir(parents=True)
    (root / "a").mkdir()
    (root / "z.txt").write_text("z")
    (root / "a" / "1.txt").write_text("1")
    (root / "b" / "2.txt").write_text("2")
    (root / "b" / "deep" / "3.txt").write_text("3")
    return root


def test_sorted_deterministic_with_roots(tmp_path: Path) -> None:
    """Regular files come out in sorted path order, each carrying the scan root it was found under."""
    root = _tree(tmp_path)
    items = list(walk([str(root)]))
    assert _summary(items, root) == [
        ("a/1.txt", "file"),
        ("b/2.txt", "file"),
        ("b/deep/3.txt", "file"),
        ("z.txt", "file"),
    ]
    assert all(isinstance(i, FileRef) and i.root == str(root) for i in items)
    assert list(walk([str(root)])) == items


def test_special_files_reported_not_opened(tmp_path: Path) -> None:
    """A FIFO in the tree is reported as not_regular_file (the walk would hang if it opened it)."""
    root = _tree(tmp_path)
    os.mkfifo(root / "a" / "pipe")
    assert ("a/pipe", "not_regular_file") in _summary(list(walk([str(root)])), root)
    assert [i.reason for i in walk(["/dev/null"])] == ["not_regular_file"]


def test_symlinks_not_followed_by_default(tmp_path: Path) -> None:
    """Links leaving the tree -> symlink_outside; loops -> symlink_loop; links inside the tree are skipped."""
    root = _tree(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("s")
    (root / "out-file").symlink_to(outside / "secret.txt")
    (root / "out-dir").symlink_to(outside)
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    (root / "in-link").symlink_to(root / "z.txt")
    (root / "b" / "up").symlink_to(root)  # directory cycle
    summary = _summary(list(walk([str(root)])), root)
    assert ("out-file", "symlink_outside") in summary
    assert ("out-dir", "symlink_outside") in summary
    assert ("loop1", "symlink_loop") in summary and ("loop2", "symlink_loop") in summary
    assert not any(p in ("in-link", "b/up") or p.startswith("b/up/") for p, _ in summary)
    assert [p for p, k in summary if k == "file"] == ["a/1.txt", "b/2.txt", "b/deep/3.txt", "z.txt"]


def test_follow_symlinks_inside_root_and_cut_cycles(tmp_path: Path) -> None:
    """With follow_symlinks, links inside the root are followed; cycles and repeats are cut by inode."""
    root = _tree(tmp_path)
    (root / "in-link").symlink_to(root / "z.txt")
    (root / "b" / "up").symlink_to(root)
    (root / "c").symlink_to(root / "a")
    summary = _summary(list(walk([str(root)], follow_symlinks=True)), root)
    assert ("in-link", "file") in summary
    assert ("b/up", "symlink_loop") in summary  # a cycle back to an ancestor
    assert not any(p.startswith("c") for p, _ in summary)  # a second way into a/: walked once only
    assert [p for p, k in summary if k == "file"] == [
        "a/1.txt",
        "b/2.txt",
        "b/deep/3.txt",
        "in-link",
        "z.txt",
    ]


def test_exclude_patterns(tmp_path: Path) -> None:
    """Exclude patterns match the path relative to the root or the base name."""
    root = _tree(tmp_path)
    (root / "a" / "x.tmp").write_text("t")
    summary = _summary(list(walk([str(root)], exclude=["*.tmp", "b/deep"])), root)
    assert [p for p, _ in summary] == ["a/1.txt", "b/2.txt", "z.txt"]


def _remove_deep(root: Path) -> None:
    """Remove a chain root/d/d/.../d one level at a time (shutil.rmtree recurses per level)."""
    while (root / "d").exists():
        inner = root / "d"
        if (inner / "d").exists():
            os.rename(inner / "d", root / "next")
        for f in inner.iterdir():
            f.unlink()
        inner.rmdir()
        if (root / "next").exists():
            os.rename(root / "next", root / "d")


def test_deep_tree_no_recursion_limit() -> None:
    """A tree deeper than Python's recursion limit is walked without RecursionError."""
    # outside pytest's tmp_path: its recursive cleanup of old runs would hit the recursion limit
    root = Path(tempfile.mkdtemp(prefix="dropwarden-deep-"))
    fd = os.open(root, os.O_RDONLY)
    try:
        for _ in range(1100):  # relative mkdir via dir fds keeps every system call's path short
            os.mkdir("d", dir_fd=fd)
            nfd = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        with open(os.open("leaf.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as f:
            f.write("leaf")
    finally:
        os.close(fd)
    try:
        items = list(walk([str(root)]))
        assert len(items) == 1
        assert isinstance(items[0], FileRef) and items[0].path.endswith("/d/leaf.txt")
    finally:
        _remove_deep(root)
        root.rmdir()


def test_missing_path_and_single_file(tmp_path: Path) -> None:
    """A missing scan path is reported vanished; a file given directly is yielded with its parent as root."""
    (tmp_path / "f.txt").write_text("x")
    items = list(walk([str(tmp_path / "nope"), str(tmp_path / "f.txt")]))
    assert isinstance(items[0], ExtractError) and items[0].reason == "vanished"
    assert items[1] == FileRef(path=str(tmp_path / "f.txt"), root=str(tmp_path))


_AS_NOBODY = """
import json, os, sys
from agent.sources.walk import walk
os.setgroups([]); os.setgid(65534); os.setuid(65534)
print(json.dumps([[os.path.basename(i.path), getattr(i, "reason", "file")] for i in walk([sys.argv[1]])]))
"""


def test_unreadable_directory_is_permission_denied(tmp_path: Path) -> None:
    """A directory the walking user cannot list is reported permission_denied and the walk goes on."""
    root = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        root.chmod(0o755)
        (root / "closed").mkdir(mode=0o700)
        (root / "closed" / "hidden.txt").write_text("x")
        (root / "open.txt").write_text("y")
        (root / "open.txt").chmod(0o644)
        if os.geteuid() == 0:
            out = subprocess.run(
                [sys.executable, "-c", _AS_NOBODY, str(root)],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=str(REPO),
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            assert out.returncode == 0, out.stderr[-500:]
            result = json.loads(out.stdout.strip().splitlines()[-1])
        else:
            (root / "closed").chmod(0o000)
            result = [[os.path.basename(i.path), getattr(i, "reason", "file")] for i in walk([str(root)])]
        assert result == [["closed", "permission_denied"], ["open.txt", "file"]]
    finally:
        shutil.rmtree(root)
