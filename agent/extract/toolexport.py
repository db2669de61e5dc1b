"""Tools that export a file into a directory tree (pffexport, extract_chmLib), run bounded, read as members.

The tool runs with no shell in a private temporary directory (0700, removed afterwards) under
prlimit (address space, CPU time, size of any file it writes) and the per-file wall-time left,
while the parent watches the tree it writes: more bytes than the unpacked budget left, or more files
than the member budget left, and it is killed (``limit_bytes`` / ``limit_members``). The tree is
then walked through directory descriptors without following links, and every file is handed to the
dispatcher as a member named by its path in the tree.
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess  # nosec B404 - fixed argv, no shell, bounded by prlimit, a timeout and a watchdog
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO

from agent.extract.archive import depth_error, join_member
from agent.extract.context import Context, Item, Recurse
from agent.extract.legacy import TOOL_MEMORY_BYTES, ToolFailed, as_fd

#: Reads one exported file: (directory fd, file name, member name, depth) -> items.
FileReader = Callable[[int, str, str, int], Iterator[Item]]

_WATCH_SECONDS = 0.2
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


Bounded = ToolFailed  # the tool failed or was stopped; ``reason`` is an ERROR_REASONS value


@contextmanager
def private_dir(prefix: str) -> Iterator[str]:
    tmp = tempfile.mkdtemp(prefix=prefix)  # 0700, private to this process
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def export(tool: str, args: Callable[[str], list[str]], f: IO[bytes], ctx: Context, tmp: str) -> None:
    """Run ``tool *args(source)`` on ``f`` in ``tmp``, bounded in time, memory, file size and output.

    ``source`` is ``/dev/fd/N``, the open file itself (a temp copy when it lives in memory)."""
    exe, prlimit = shutil.which(tool), shutil.which("prlimit")
    if exe is None or prlimit is None:
        raise Bounded("unsupported_format", f"{tool} is not installed")
    remaining = max(1.0, ctx.deadline - time.monotonic())
    bounds = [
        f"--as={TOOL_MEMORY_BYTES}",
        f"--cpu={int(remaining) + 1}",
        f"--fsize={ctx.limits.max_member_bytes}",
    ]
    with as_fd(f) as fd:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [prlimit, *bounds, "--core=0", "--", exe, *args(f"/dev/fd/{fd}")],
            pass_fds=(fd,),
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"LANG": "C"},
            start_new_session=True,
        )
        try:
            watch(proc, ctx, tmp, time.monotonic() + remaining)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        raise Bounded("malformed", f"{tool} exited with status {proc.returncode}")


def watch(proc: subprocess.Popen[bytes], ctx: Context, tmp: str, deadline: float) -> None:
    """Wait for the tool, measuring what it wrote; raise (the caller kills it) past a budget."""
    lim = ctx.limits
    while True:
        try:
            proc.wait(timeout=_WATCH_SECONDS)
            done = True
        except subprocess.TimeoutExpired:
            done = False
        files, size = _tree_size(tmp)
        if ctx.unpacked + size > lim.max_unpacked_bytes:
            raise Bounded("limit_bytes", f"more than {lim.max_unpacked_bytes} bytes unpacked in all")
        if ctx.members + files > lim.max_members:
            raise Bounded("limit_members", f"more than {lim.max_members} members exported")
        if done:
            return
        if time.monotonic() > deadline:
            raise Bounded("timeout", f"time limit of {lim.timeout_seconds:g} s exceeded")


def _tree_size(top: str) -> tuple[int, int]:
    """Regular files and their bytes under ``top`` (links not followed)."""
    files = size = 0
    for _dir, _dirs, names, dfd in os.fwalk(top, follow_symlinks=False):
        for name in names:
            try:
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
    return files, size


def walk_tree(
    root: str, ctx: Context, chain: str | None, depth: int, read: FileReader, nested: Callable[[str], bool]
) -> Iterator[Item]:
    """Every regular file below ``root`` as a member, in name order; links and devices are skipped.

    ``nested(dir_name)`` tells directories that hold an embedded item (an attached message), which
    count against the nesting depth like archives inside archives."""
    fd = os.open(root, OPEN_FLAGS | os.O_DIRECTORY)
    try:
        yield from _walk(fd, ctx, chain, depth, read, nested, "", 0)
    finally:
        os.close(fd)


def _walk(
    dir_fd: int,
    ctx: Context,
    chain: str | None,
    depth: int,
    read: FileReader,
    nested: Callable[[str], bool],
    rel: str,
    nest: int,
) -> Iterator[Item]:
    for entry in sorted(os.scandir(dir_fd), key=lambda e: e.name):
        ctx.check()
        name = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_dir(follow_symlinks=False):
            sub_nest = nest + int(nested(entry.name))
            if (err := depth_error(ctx, join_member(chain, name), depth + 1 + sub_nest)) is not None:
                yield err
                continue
            sub = os.open(entry.name, OPEN_FLAGS | os.O_DIRECTORY, dir_fd=dir_fd)
            try:
                yield from _walk(sub, ctx, chain, depth, read, nested, name, sub_nest)
            finally:
                os.close(sub)
        elif entry.is_file(follow_symlinks=False):
            yield from read(dir_fd, entry.name, join_member(chain, name), depth + nest)


def read_file(
    dir_fd: int, name: str, ctx: Context, member: str, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """One exported file, counted as a member and its bytes as unpacked, handed to the dispatcher."""
    ctx.count_member()
    fd = os.open(name, OPEN_FLAGS, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        ctx.unpacked += os.fstat(fd).st_size
        yield from recurse(f, member, depth + 1)
