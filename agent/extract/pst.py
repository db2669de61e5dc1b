"""Outlook PST/OST (and PAB) through Debian's ``pffexport`` (pff-tools, libpff), a bounded subprocess.

Why pffexport: libpff is the maintained free reader of the Personal Folder File format (Unicode and
ANSI PST, OST, compressible and high "encryption"), packaged by Debian with its tools; the Python
binding (``python3-pypff``) is the same library without the item export, and no maintained pure
Python reader exists. pffexport writes every item as files into a directory tree:
``Folder/Message00001/{OutlookHeaders.txt, InternetHeaders.txt, Recipients.txt, Message.txt|.html|.rtf,
Attachments/…}``, contacts as ``Contact.txt``, appointments as ``Appointment.txt`` and so on.

The tool runs with no shell in a private temporary directory (0700, removed afterwards) under
prlimit (address space, CPU time, size of any file it writes) and the per-file wall-time left, while
the parent watches the tree it writes: more bytes than the unpacked budget left, or more files
than the member budget left, and it is killed (``limit_bytes`` / ``limit_members``). The tree is
then walked through directory descriptors without following links, and every file is handed to the
dispatcher as a member named by its path in the store (``Inbox/Message00001/Message.txt``), so
attachments of any format are read like archive members. Internet headers keep only the content
headers (subject, from, to...): DKIM/ARC signatures, Received IDs and Message-IDs are transport
noise that looks like secrets.
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
from email.parser import BytesHeaderParser
from typing import IO

from agent.extract.archive import depth_error, join_member
from agent.extract.context import Context, Item
from agent.extract.legacy import TOOL_MEMORY_BYTES, as_fd
from agent.extract.mail import content_headers, spooled

Recurse = Callable[[IO[bytes], str, int], Iterator[Item]]

#: Files pffexport writes that hold no content: binary conversation threading, the item's raw values.
_SKIP_FILES = frozenset({"ConversationIndex.txt", "ItemValues.txt", "RecipientsItemValues.txt"})
_WATCH_SECONDS = 0.2
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


class _Bounded(Exception):
    """pffexport was stopped; ``reason`` is an ERROR_REASONS value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def extract_pst(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Every item of a PST/OST and every attachment, as members; failures as one error record."""
    if (err := depth_error(ctx, member, depth + 1)) is not None:
        yield err
        return
    if shutil.which("pffexport") is None or shutil.which("prlimit") is None:
        yield ctx.error(member, "unsupported_format", "pffexport (pff-tools) is not installed")
        return
    tmp = tempfile.mkdtemp(prefix="dropwarden-pst-")  # 0700, private to this process
    try:
        try:
            _export(f, ctx, tmp)
        except _Bounded as e:
            yield ctx.error(member, e.reason, e.detail)
            return
        root = os.path.join(tmp, "store.export")
        if not os.path.isdir(root):
            yield ctx.error(member, "malformed", "pffexport exported no items")
            return
        fd = os.open(root, _OPEN_FLAGS | os.O_DIRECTORY)
        try:
            yield from walk_export(fd, ctx, member, depth, recurse)
        finally:
            os.close(fd)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _export(f: IO[bytes], ctx: Context, tmp: str) -> None:
    """Run pffexport on ``f`` into ``tmp``/store.export, bounded in time, memory, file size and output."""
    remaining = max(1.0, ctx.deadline - time.monotonic())
    argv = [
        shutil.which("prlimit") or "prlimit",
        f"--as={TOOL_MEMORY_BYTES}",
        f"--cpu={int(remaining) + 1}",
        f"--fsize={ctx.limits.max_member_bytes}",
        "--core=0",
        "--",
        shutil.which("pffexport") or "pffexport",
        "-q",
        "-m",
        "items",
        "-t",
        os.path.join(tmp, "store"),
    ]
    with as_fd(f) as fd:
        proc = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            [*argv, f"/dev/fd/{fd}"],
            pass_fds=(fd,),
            cwd=tmp,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={"LANG": "C"},
            start_new_session=True,
        )
        try:
            _watch(proc, ctx, tmp, time.monotonic() + remaining)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        raise _Bounded("malformed", f"pffexport exited with status {proc.returncode}")


def _watch(proc: subprocess.Popen[bytes], ctx: Context, tmp: str, deadline: float) -> None:
    """Wait for pffexport, measuring what it wrote; raise (the caller kills it) past a budget."""
    lim = ctx.limits
    while True:
        try:
            proc.wait(timeout=_WATCH_SECONDS)
            done = True
        except subprocess.TimeoutExpired:
            done = False
        files, size = _tree_size(tmp)
        if ctx.unpacked + size > lim.max_unpacked_bytes:
            raise _Bounded("limit_bytes", f"more than {lim.max_unpacked_bytes} bytes unpacked in all")
        if ctx.members + files > lim.max_members:
            raise _Bounded("limit_members", f"more than {lim.max_members} items and attachments in the store")
        if done:
            return
        if time.monotonic() > deadline:
            raise _Bounded("timeout", f"time limit of {lim.timeout_seconds:g} s exceeded")


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


def walk_export(
    dir_fd: int, ctx: Context, chain: str | None, depth: int, recurse: Recurse, rel: str = "", nest: int = 0
) -> Iterator[Item]:
    """Every regular file below ``dir_fd`` as a member, in name order; links and devices are skipped.

    ``nest`` counts embedded items (an attached message is exported as ``Attachment00001/``), which
    count against the nesting depth like archives inside archives."""
    for entry in sorted(os.scandir(dir_fd), key=lambda e: e.name):
        ctx.check()
        name = f"{rel}/{entry.name}" if rel else entry.name
        if entry.is_dir(follow_symlinks=False):
            sub_nest = nest + int(entry.name.startswith("Attachment") and entry.name[10:].isdigit())
            if (err := depth_error(ctx, join_member(chain, name), depth + 1 + sub_nest)) is not None:
                yield err
                continue
            sub = os.open(entry.name, _OPEN_FLAGS | os.O_DIRECTORY, dir_fd=dir_fd)
            try:
                yield from walk_export(sub, ctx, chain, depth, recurse, name, sub_nest)
            finally:
                os.close(sub)
        elif entry.is_file(follow_symlinks=False) and entry.name not in _SKIP_FILES:
            ctx.count_member()
            yield from _item_file(dir_fd, entry.name, ctx, join_member(chain, name), depth + nest, recurse)


def _item_file(
    dir_fd: int, name: str, ctx: Context, member: str, depth: int, recurse: Recurse
) -> Iterator[Item]:
    fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        if name == "InternetHeaders.txt":
            headers = BytesHeaderParser().parse(f)
            yield from spooled(content_headers(headers).encode(), ctx, member, depth, recurse)
            return
        ctx.unpacked += os.fstat(fd).st_size
        yield from recurse(f, member, depth + 1)
