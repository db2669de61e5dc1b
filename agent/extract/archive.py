"""ZIP, TAR and single-stream GZIP/BZ2/XZ, with zip-bomb, member-count and nesting guards.

Each member is copied, counting the bytes actually decompressed, into a spooled temporary file
(memory up to 8 MiB, then disk) and handed back to the dispatcher, so nested archives and large
members are read with bounded memory and every format reader gets a seekable file.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from functools import partial
from types import TracebackType
from typing import IO, Protocol, Self

from agent.extract.context import Abort, Context, Item, MemberLimit, Recurse


class MemberStream(Protocol):
    """What :func:`read_member` needs of an opened (decompressing) member: read it, close it.

    zipfile, tarfile, bz2, lzma and libarchive hand out ``IO[bytes]``, but typeshed types
    ``gzip.GzipFile`` as a ``BufferedIOBase`` only, so the member openers meet at this protocol."""

    def read(self, size: int = -1, /) -> bytes: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None, /
    ) -> None: ...


class _StreamingTar(tarfile.TarFile):
    """A TarFile whose undocumented ``members`` list (set in ``TarFile.__init__``, absent from
    typeshed) is declared, so reading can empty it and keep memory flat on huge archives."""

    members: list[tarfile.TarInfo]


SPOOL_MEMORY = 8 * 1024 * 1024
COPY_BLOCK = 1024 * 1024
#: Below this many decompressed bytes the ratio is not checked: tiny, very compressible files are harmless.
RATIO_FLOOR = 1024 * 1024


def join_member(chain: str | None, name: str) -> str:
    """outer member chain + inner name: "a.zip!b/c.txt" (the top-level file itself is not named)."""
    name = name.lstrip("/") or "unnamed"
    return f"{chain}!{name}" if chain else name


def spool_copy(src: MemberStream, ctx: Context, compressed_size: int | None) -> IO[bytes]:
    """Copy a (decompressing) stream into a temp file, enforcing member size and ratio as bytes arrive."""
    lim = ctx.limits
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY)  # noqa: SIM115 - returned to caller
    total = 0
    try:
        while True:
            ctx.check()
            block = src.read(COPY_BLOCK)
            if not block:
                break
            total += len(block)
            ctx.unpacked += len(block)
            if ctx.unpacked > lim.max_unpacked_bytes:
                raise Abort("limit_bytes", f"more than {lim.max_unpacked_bytes} bytes unpacked in all")
            if total > lim.max_member_bytes:
                raise MemberLimit("limit_bytes", f"member larger than {lim.max_member_bytes} bytes")
            if compressed_size and total > RATIO_FLOOR and total / compressed_size > lim.max_ratio:
                raise MemberLimit("limit_ratio", f"decompression ratio above {lim.max_ratio:g}")
            out.write(block)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return out


def depth_error(ctx: Context, chain: str | None, depth: int) -> Item | None:
    if depth > ctx.limits.max_depth:
        return ctx.error(chain, "limit_depth", f"archive nesting deeper than {ctx.limits.max_depth}")
    return None


def package_error(f: IO[bytes], ctx: Context, member: str | None) -> Item | None:
    """Zip-bomb check of an Office/ODF package before its library inflates parts into memory.

    The libraries read whole parts; zipfile never inflates more than a member's declared size, so
    checking declared sizes and ratios bounds what they can allocate.
    """
    lim = ctx.limits
    declared = declared_entries(f)
    if declared is not None and declared > max(lim.max_members, _PARSE_FREELY):
        return ctx.error(member, "limit_members", f"package with more than {lim.max_members} parts")
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
    f.seek(0)
    if len(infos) > lim.max_members:
        return ctx.error(member, "limit_members", f"package with more than {lim.max_members} parts")
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size / max(1, info.compress_size) > lim.max_ratio:
            return ctx.error(
                member, "limit_ratio", f"package part with decompression ratio above {lim.max_ratio:g}"
            )
        if total > lim.max_member_bytes:
            return ctx.error(member, "limit_bytes", f"package parts larger than {lim.max_member_bytes} bytes")
    return None


_EOCD = struct.Struct("<4s4H2LH")  # end of central directory: signature .. total entries, cd size, offset
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
#: Central directory bytes per entry assumed when the declared size says more than the count: entries
#: are 46 bytes + name + extra fields, so a count that lies cannot hide a directory of 600,000 entries.
_CD_BYTES_PER_ENTRY = 128
#: Directories up to this many entries are parsed (a few MB): the first members within the budget are
#: then read, as ever; beyond it a zip over the budget is refused before zipfile builds one object each.
_PARSE_FREELY = 50_000
_EOCD_SEARCH = 65_535 + _EOCD.size  # the archive comment is at most 65,535 bytes


def declared_entries(f: IO[bytes]) -> int | None:
    """How many entries a zip's central directory holds, from its end records alone: the declared count,
    or more when the declared directory size is too large for it (a lying count does not help).
    None when no end record is found (zipfile then reports the file as malformed)."""
    f.seek(0, os.SEEK_END)
    size = f.tell()
    f.seek(max(0, size - _EOCD_SEARCH))
    tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        f.seek(0)
        return None
    *_, entries, cd_size, _offset, _comment = _EOCD.unpack_from(tail, at)
    if at >= _ZIP64_LOCATOR.size:
        sig, _disk, zip64_at, _disks = _ZIP64_LOCATOR.unpack_from(tail, at - _ZIP64_LOCATOR.size)
        if sig == b"PK\x06\x07" and zip64_at + _ZIP64_EOCD.size <= size:
            f.seek(zip64_at)
            rec = f.read(_ZIP64_EOCD.size)
            if len(rec) == _ZIP64_EOCD.size and rec[:4] == b"PK\x06\x06":
                fields = _ZIP64_EOCD.unpack(rec)
                entries, cd_size = max(entries, fields[-4]), max(cd_size, fields[-2])
    f.seek(0)
    return max(entries, cd_size // _CD_BYTES_PER_ENTRY)


def check_entries(f: IO[bytes], ctx: Context) -> None:
    """Abort (limit_members) before zipfile parses a central directory that is over the member budget left
    for this file and too large to parse cheaply: 600,000 entries cost hundreds of MB before any count
    could stop them. Smaller directories are parsed, and their first members within the budget read."""
    declared = declared_entries(f)
    room = ctx.limits.max_members - ctx.members
    if declared is not None and declared > max(room, _PARSE_FREELY):
        raise Abort("limit_members", f"zip declares {declared} entries; at most {room} more may be read")


def extract_zip(
    f: IO[bytes], ctx: Context, chain: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Every file member of a zip, in archive order, each guarded by declared and actual sizes."""
    if (err := depth_error(ctx, chain, depth + 1)) is not None:
        yield err
        return
    lim = ctx.limits
    check_entries(f, ctx)
    with zipfile.ZipFile(f) as zf:
        for info in zf.infolist():
            ctx.check()
            if info.is_dir():
                continue
            ctx.count_member()
            name = join_member(chain, info.filename)
            if info.flag_bits & 0x1:
                yield ctx.error(name, "encrypted", "password-protected zip member")
                continue
            if info.file_size > lim.max_member_bytes:
                yield ctx.error(name, "limit_bytes", f"member larger than {lim.max_member_bytes} bytes")
                continue
            if info.file_size > RATIO_FLOOR and info.file_size / max(1, info.compress_size) > lim.max_ratio:
                yield ctx.error(name, "limit_ratio", f"declared decompression ratio above {lim.max_ratio:g}")
                continue
            yield from read_member(ctx, name, depth, recurse, partial(zf.open, info), info.compress_size)


def read_member(
    ctx: Context,
    name: str,
    depth: int,
    recurse: Recurse,
    opener: Callable[[], MemberStream],
    compressed_size: int | None,
) -> Iterator[Item]:
    """Copy one member out (limits enforced), then hand it to the dispatcher at ``depth + 1``."""
    try:
        with opener() as src:
            spool = spool_copy(src, ctx, compressed_size)
    except MemberLimit as e:
        yield ctx.error(name, e.reason, e.detail)
        return
    except (RuntimeError, NotImplementedError) as e:  # zipfile: encrypted / unsupported compression
        yield ctx.error(name, "encrypted" if "encrypted" in str(e) else "malformed", type(e).__name__)
        return
    except Exception as e:
        yield ctx.error(name, "malformed", f"{type(e).__name__} while decompressing member")
        return
    with spool:
        yield from recurse(spool, name, depth + 1)


def zip_members(
    zf: zipfile.ZipFile,
    infos: list[zipfile.ZipInfo],
    ctx: Context,
    chain: str | None,
    depth: int,
    recurse: Recurse,
) -> Iterator[Item]:
    """Chosen members of an open zip (files embedded in a package), each size-checked, copied out and
    handed to the dispatcher; past the nesting depth one limit_depth error instead."""
    if infos and (err := depth_error(ctx, chain, depth + 1)) is not None:
        yield err
        return
    for info in infos:
        name = join_member(chain, info.filename)
        if info.file_size > ctx.limits.max_member_bytes:
            yield ctx.error(name, "limit_bytes", f"member larger than {ctx.limits.max_member_bytes} bytes")
            continue
        yield from read_member(ctx, name, depth, recurse, partial(zf.open, info), info.compress_size)


def extract_tar(
    f: IO[bytes], ctx: Context, chain: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Regular-file members of an (uncompressed) tar, streamed in archive order."""
    if (err := depth_error(ctx, chain, depth + 1)) is not None:
        yield err
        return
    lim = ctx.limits
    with _StreamingTar.open(fileobj=f, mode="r:") as tf:
        for ti in tf:
            ctx.check()
            tf.members = []  # do not keep every TarInfo: memory stays flat on huge archives
            if not ti.isreg():
                continue
            ctx.count_member()
            name = join_member(chain, ti.name)
            if ti.size > lim.max_member_bytes:
                yield ctx.error(name, "limit_bytes", f"member larger than {lim.max_member_bytes} bytes")
                continue
            yield from read_member(ctx, name, depth, recurse, partial(_tar_member, tf, ti), None)


def _tar_member(tf: tarfile.TarFile, ti: tarfile.TarInfo) -> MemberStream:
    """The data of a regular tar member (extractfile's None is for links and special files only)."""
    src = tf.extractfile(ti)
    if src is None:
        raise tarfile.ReadError("member has no data")
    return src


_STREAMS: dict[str, Callable[[IO[bytes]], MemberStream]] = {
    "gzip": lambda f: gzip.GzipFile(fileobj=f, mode="rb"),
    "bz2": lambda f: bz2.BZ2File(f),
    "xz": lambda f: lzma.LZMAFile(f),  # noqa: SIM115 - closed by read_member
}
_SUFFIXES = {"gzip": (".gz", ".tgz"), "bz2": (".bz2", ".tbz2", ".tbz"), "xz": (".xz", ".txz")}


def extract_stream(
    f: IO[bytes], fmt: str, ctx: Context, chain: str | None, display: str, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """A single compressed stream: a tar inside is opened in place (x.tar.gz!member is just "member")."""
    if (err := depth_error(ctx, chain, depth + 1)) is not None:
        yield err
        return
    f.seek(0, os.SEEK_END)
    compressed = f.tell()
    f.seek(0)
    base = os.path.basename(display.rsplit("!", 1)[-1])
    low = base.lower()
    for suf in _SUFFIXES[fmt]:
        if low.endswith(suf):
            base = base[: -len(suf)] + (".tar" if suf.startswith(".t") and len(suf) > 3 else "")
            break
    name = join_member(chain, base or "content")
    yield from read_member(
        ctx, name, depth - 1, tar_or_member(ctx, chain, recurse), lambda: _STREAMS[fmt](f), compressed
    )


def tar_or_member(ctx: Context, chain: str | None, recurse: Recurse) -> Recurse:
    def inner(spool: IO[bytes], name: str, depth: int) -> Iterator[Item]:
        head = spool.read(512)
        spool.seek(0)
        if len(head) >= 262 and head[257:262] == b"ustar":
            # members of x.tar.gz sit one level below the file, like a zip's (depth = the .gz's)
            yield from extract_tar(spool, ctx, chain, depth, recurse)
        else:
            yield from recurse(spool, name, depth + 1)

    return inner
