"""7z, RAR (v4 and v5, read-only), CAB, ISO 9660, cpio and Unix ``.Z`` through libarchive.

Why libarchive (Debian ``libarchive13`` + the ``libarchive-c`` ctypes binding, no compiled Python
code): one maintained C library reads every one of these formats, streams members block by block
(memory stays flat), and reports encrypted entries; py7zr and rarfile would each cover one format
and rarfile needs a non-free ``unrar`` binary. Only the format the content sniffer named is enabled
for each file, so libarchive never guesses.

Members go through :func:`archive.read_member` like zip members: the member size, the ratio to the
archive's size, the member count, the nesting depth and the total unpacked bytes of the top-level
file (across all nesting levels) are enforced while bytes arrive.
"""

from __future__ import annotations

import ctypes
import io
import os
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import IO, Any, Protocol

import libarchive
from libarchive import ffi
from libarchive.exception import ArchiveError

from agent.extract.archive import COPY_BLOCK, depth_error, join_member, read_member, tar_or_member
from agent.extract.context import Context, Item, Recurse

#: sniffed format -> libarchive read format(s)
_FORMATS: dict[str, tuple[str, ...]] = {
    "7z": ("7zip",),
    "rar": ("rar", "rar5"),
    "cab": ("cab",),
    "iso": ("iso9660",),
    "cpio": ("cpio",),
}

_is_encrypted = ffi.libarchive.archive_entry_is_encrypted
_is_encrypted.argtypes = [ctypes.c_void_p]
_is_encrypted.restype = ctypes.c_int
#: ``archive_read_data_block`` without the binding's errcheck (a fresh function object: the binding's
#: keeps its own). libarchive-c logs ARCHIVE_WARN (a 7-Zip or RAR "bad CRC") and hands the negative
#: code on as a length, so ``ArchiveEntry.get_blocks`` yielded a slice of its buffer as the member; and
#: ``archive_read_data`` drops the last block when it comes with the warning. The block call returns
#: the status and the block apart, so the bytes are kept and the failure is reported.
_read_block = ffi.libarchive["archive_read_data_block"]
_read_block.argtypes = [
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_void_p),
    ctypes.POINTER(ctypes.c_size_t),
    ctypes.POINTER(ctypes.c_int64),
]
_read_block.restype = ctypes.c_int
_ARCHIVE_EOF, _ARCHIVE_WARN = 1, -20
_error_string = ffi.libarchive["archive_error_string"]
_error_string.argtypes = [ctypes.c_void_p]
_error_string.restype = ctypes.c_char_p


class _Entry(Protocol):
    """The part of libarchive-c's ``ArchiveEntry`` read here. The binding ships no types (mypy sees
    Any), so this protocol states what the code relies on: the entry's type flags, name and size,
    and the two raw pointers (``c_void_p`` values) that the unchecked libarchive calls below take."""

    _archive_p: int
    _entry_p: int
    # read-only properties in the binding
    isdir: bool
    issym: bool
    islnk: bool
    isdev: bool
    isfifo: bool
    issock: bool
    pathname: str | None
    size: int | None


#: What ``libarchive.stream_reader`` returns: a context manager over the archive's entries.
_Reader = AbstractContextManager[Iterable[_Entry]]


class _EntryData:
    """An entry's data as a stream. A negative libarchive return (a CRC mismatch, a truncated or
    undecodable stream) ends the stream there and is kept as ``failure``: the bytes before it are
    still read, and the member is then reported ``malformed``, never passed as clean."""

    def __init__(self, entry: _Entry) -> None:
        self.entry = entry
        self.failure: str | None = None

    def blocks(self) -> Iterator[bytes]:
        archive_p = self.entry._archive_p
        buff, size, offset = ctypes.c_void_p(), ctypes.c_size_t(), ctypes.c_int64()
        pos = 0
        while True:
            r = _read_block(archive_p, ctypes.byref(buff), ctypes.byref(size), ctypes.byref(offset))
            if r == _ARCHIVE_EOF:
                return
            if r in (0, _ARCHIVE_WARN) and size.value:
                while pos < offset.value:  # a hole in a sparse entry: zeros, in bounded blocks
                    gap = min(COPY_BLOCK, offset.value - pos)
                    pos += gap
                    yield bytes(gap)
                pos = offset.value + size.value
                yield ctypes.string_at(buff, size.value)
            if r < 0:
                raw = _error_string(archive_p) or b"read error"
                text = raw.decode("ascii", "replace")[:80]
                self.failure = "libarchive: " + "".join(c for c in text if c.isprintable())
                return

    def stream(self) -> IO[bytes]:
        return io.BufferedReader(_Blocks(self.blocks()), buffer_size=COPY_BLOCK)


class _Blocks(io.RawIOBase):
    """A read-only stream over a libarchive entry's data blocks (what ``read_member`` copies)."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._rest = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while not self._rest:
            nxt = next(self._blocks, None)
            if nxt is None:
                return 0
            self._rest = bytes(nxt)
        n = min(len(buf), len(self._rest))
        buf[:n] = self._rest[:n]
        self._rest = self._rest[n:]
        return n


def _describe(e: ArchiveError) -> tuple[str, str]:
    msg = str(e.msg if hasattr(e, "msg") else e)
    if "ncrypt" in msg or "assphrase" in msg:
        return "encrypted", "encrypted archive content"
    return "malformed", "libarchive: " + "".join(c for c in msg[:80] if c.isprintable())


def _size(f: IO[bytes]) -> int:
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(0)
    return size


def _open(f: IO[bytes], fmt: str) -> _Reader:
    """A libarchive reader with exactly the sniffed format enabled (and every decompression filter)."""
    names = _FORMATS[fmt]
    if len(names) == 1:
        return libarchive.stream_reader(f, format_name=names[0], filter_name="all")
    return libarchive.stream_reader(f, format_name="all", filter_name="all")


def extract_archive(
    f: IO[bytes], fmt: str, ctx: Context, chain: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Every regular file of a 7z/RAR/CAB/ISO/cpio archive, in archive order."""
    if (err := depth_error(ctx, chain, depth + 1)) is not None:
        yield err
        return
    size = _size(f)
    try:
        with _open(f, fmt) as arc:
            yield from _members(arc, ctx, chain, depth, recurse, size)
    except ArchiveError as e:
        reason, detail = _describe(e)
        yield ctx.error(chain, reason, detail)


def _members(
    arc: Iterable[_Entry], ctx: Context, chain: str | None, depth: int, recurse: Recurse, size: int
) -> Iterator[Item]:
    lim = ctx.limits
    count = 0
    for entry in arc:
        ctx.check()
        if entry.isdir or entry.issym or entry.islnk or entry.isdev or entry.isfifo or entry.issock:
            continue
        count += 1
        ctx.count_member()
        if count > lim.max_members:
            yield ctx.error(chain, "limit_members", f"more than {lim.max_members} members")
            return
        name = join_member(chain, entry.pathname or f"member-{count}")
        if _is_encrypted(entry._entry_p):
            yield ctx.error(name, "encrypted", "password-protected archive member")
            continue
        if entry.size is not None and entry.size > lim.max_member_bytes:
            yield ctx.error(name, "limit_bytes", f"member larger than {lim.max_member_bytes} bytes")
            continue
        yield from _member(entry, ctx, name, depth, recurse, size)


def _member(
    entry: _Entry, ctx: Context, name: str, depth: int, recurse: Recurse, size: int
) -> Iterator[Item]:
    """One member, its decompression errors reported for it (libarchive may go on with the next)."""
    data = _EntryData(entry)
    try:
        yield from read_member(ctx, name, depth, recurse, data.stream, size)
    except ArchiveError as e:
        reason, detail = _describe(e)
        yield ctx.error(name, reason, detail)
    if data.failure is not None:
        yield ctx.error(name, "malformed", data.failure)


def extract_compress(
    f: IO[bytes], ctx: Context, chain: str | None, display: str, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """A Unix ``compress`` (.Z) stream: one member, or the members of the tar inside (x.tar.Z)."""
    if (err := depth_error(ctx, chain, depth + 1)) is not None:
        yield err
        return
    size = _size(f)
    base = os.path.basename(display.rsplit("!", 1)[-1])
    if base.lower().endswith(".z"):
        base = base[:-2]
    elif base.lower().endswith(".taz"):
        base = base[:-4] + ".tar"
    name = join_member(chain, base or "content")
    try:
        with libarchive.stream_reader(f, format_name="raw", filter_name="compress") as arc:
            entry = next(iter(arc), None)  # a raw stream has exactly one entry
            if entry is not None:
                data = _EntryData(entry)
                inner = tar_or_member(ctx, chain, recurse)
                yield from read_member(ctx, name, depth - 1, inner, data.stream, size)
                if data.failure is not None:
                    yield ctx.error(name, "malformed", data.failure)
    except ArchiveError as e:
        reason, detail = _describe(e)
        yield ctx.error(name, reason, detail)
