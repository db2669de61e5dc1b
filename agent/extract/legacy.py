"""Office 97-2003 binary formats: Word (.doc/.dot), Excel BIFF2-8 (.xls/.xlt), PowerPoint (.ppt/.pps/.pot).

Which library reads what, and why:

* Word: Debian's ``catdoc``, run as a bounded subprocess (:func:`run_tool`). No maintained Python
  parser of the Word binary format exists; of the two Debian readers, catdoc prints the whole text
  stream (body, tables, headers, footers, footnotes, comments) while antiword drops headers and
  footers.
* Excel: ``xlrd`` (BSD, pure Python, no dependencies; since 2.0 it reads exactly the BIFF formats).
  Every sheet is read, hidden and "very hidden" ones included, and cell notes (comments).
* PowerPoint: its text lives in a flat record stream (MS-PPT TextCharsAtom / TextBytesAtom /
  CString) inside the OLE file, read with ``olefile`` (BSD, pure Python, already required by
  extract-msg). catppt misses slides written by LibreOffice; the record walk below is linear (no
  recursion, no pointers followed), so a hostile stream cannot loop or nest it.

Password-protected files are recognised with ``msoffcrypto-tool`` (already required) and reported as
``encrypted``; so are encrypted OOXML packages (an OLE file holding an ``EncryptedPackage``).
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess  # nosec B404 - fixed argv, no shell, bounded by prlimit and a timeout
import tempfile
import time
import zlib
from collections.abc import Iterator
from typing import IO

import olefile

from agent.extract.archive import RATIO_FLOOR, depth_error, join_member
from agent.extract.context import Context, Item, MemberLimit, Recurse
from agent.extract.mail import spooled

#: Address space of a helper tool (catdoc): generous for real documents, fatal for decompression tricks.
TOOL_MEMORY_BYTES = 512 * 1024**2


class ToolFailed(Exception):
    """A helper tool failed or hit its bounds; ``reason`` is an ERROR_REASONS value."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


def run_tool(argv: list[str], f: IO[bytes], ctx: Context) -> bytes:
    """Run ``argv`` with ``f`` as its stdin, bounded in memory, CPU time, wall time and output.

    The tool gets no shell, no file it could write (``--fsize=0``), the remaining per-file time
    as both CPU and wall-time limit, and its output is capped at the remaining text budget.
    """
    exe = shutil.which(argv[0])
    prlimit = shutil.which("prlimit")
    if exe is None or prlimit is None:
        raise ToolFailed("unsupported_format", f"{argv[0]} is not installed")
    remaining = max(1.0, ctx.deadline - time.monotonic())
    bounded = [
        prlimit,
        f"--as={TOOL_MEMORY_BYTES}",
        f"--cpu={int(remaining) + 1}",
        "--fsize=0",
        "--core=0",
        "--",
        exe,
        *argv[1:],
    ]
    with as_fd(f) as fd:
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
                bounded, stdin=fd, capture_output=True, timeout=remaining, check=False, env={"LANG": "C"}
            )
        except subprocess.TimeoutExpired as e:
            raise ToolFailed("timeout", f"{argv[0]} exceeded {remaining:.0f} s") from e
    if proc.returncode != 0:
        raise ToolFailed("malformed", f"{argv[0]} exited with status {proc.returncode}")
    return proc.stdout


class as_fd:
    """A real file descriptor positioned at 0 for ``f`` (a temp copy when ``f`` lives in memory)."""

    def __init__(self, f: IO[bytes]) -> None:
        self.f = f
        self.tmp: IO[bytes] | None = None

    def __enter__(self) -> int:
        self.f.seek(0)
        try:
            fd = self.f.fileno()  # a SpooledTemporaryFile rolls over to disk here
            self.f.flush()
            os.lseek(fd, 0, os.SEEK_SET)
            return fd
        except (OSError, io.UnsupportedOperation, AttributeError):
            self.tmp = tempfile.TemporaryFile()
            shutil.copyfileobj(self.f, self.tmp)
            self.tmp.seek(0)
            return self.tmp.fileno()

    def __exit__(self, *exc: object) -> None:
        if self.tmp is not None:
            self.tmp.close()
        self.f.seek(0)


def encrypted_error(f: IO[bytes], ctx: Context, member: str | None) -> Item | None:
    """An ``encrypted`` error when the OLE document is password-protected (RC4, CryptoAPI, XOR)."""
    import msoffcrypto

    try:
        office = msoffcrypto.OfficeFile(f)
        locked = bool(office.is_encrypted())
    except Exception:  # not an Office file msoffcrypto knows: the reader will judge it
        locked = False
    finally:
        f.seek(0)
    if locked:
        return ctx.error(member, "encrypted", "password-protected Office document")
    return None


def extract_doc(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Word 97-2003: the whole text stream (body, headers, footers, notes, comments) via catdoc."""
    if (err := encrypted_error(f, ctx, member)) is not None:
        yield err
        return
    try:
        out = run_tool(["catdoc", "-w", "-d", "utf-8"], f, ctx)
    except ToolFailed as e:
        yield ctx.error(member, e.reason, e.detail)
        return
    yield from ctx.chunk_text(member, out.decode("utf-8", "replace"), "body")
    yield from _ole_metadata(f, ctx, member)
    yield from embedded_objects(f, ctx, member, depth, recurse, ("ObjectPool",))


def extract_xls(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Excel BIFF: every sheet (hidden ones too) as tabular text, then the cell notes."""
    import xlrd

    if (err := encrypted_error(f, ctx, member)) is not None:
        yield err
        return
    data = f.read()
    book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=io.StringIO())
    try:
        for index in range(book.nsheets):
            ctx.check()
            sheet = book.sheet_by_index(index)
            part = f"sheet:{sheet.name}"
            yield from ctx.chunk_text(member, _sheet_text(sheet), part, tabular=True)
            notes = "\n".join(n.text for n in sheet.cell_note_map.values() if n.text)
            yield from ctx.chunk_text(member, notes, "comments")
            book.unload_sheet(index)
    finally:
        book.release_resources()
    yield from ctx.chunk_text(member, "\n".join(biff_headers(_workbook_stream(data))), "header")
    yield from _ole_metadata(f, ctx, member)
    yield from embedded_objects(f, ctx, member, depth, recurse, ("MBD",))


def _workbook_stream(data: bytes) -> bytes:
    """The BIFF record stream: the Workbook/Book stream of an OLE file, or the file itself."""
    if not data.startswith(olefile.MAGIC):
        return data
    with olefile.OleFileIO(data) as ole:
        for name in ("Workbook", "Book"):
            if ole.exists(name):
                return bytes(ole.openstream(name).read())
    return b""


#: Page header/footer codes (&L &C &R sections, &P page, &D date, &"font", &12 size): layout, not text.
_HF_CODES = re.compile(r'&(?:"[^"]*"|\d+|[LCRPNDTFAZGSUEXYBIK&])')


def biff_headers(stream: bytes) -> Iterator[str]:
    """Page headers and footers of every sheet (BIFF HEADER/FOOTER records), which xlrd skips.

    A linear walk over the record stream: each record moves the position forward by 4 + its length.
    """
    pos, end = 0, len(stream)
    while pos + 4 <= end:
        rtype, length = struct.unpack_from("<HH", stream, pos)
        if pos + 4 + length > end:
            return  # a record running past the stream: truncated file
        if rtype in (0x0014, 0x0015) and length >= 3:
            body = stream[pos + 4 : pos + 4 + length]
            text = _biff_string(body)
            if text.strip():
                yield " ".join(_HF_CODES.sub(" ", text).split())
        pos += 4 + length


def _biff_string(body: bytes) -> str:
    """BIFF8 XLUnicodeString (u16 count, flags, chars) or BIFF2-5 byte string (u8 count, cp1252)."""
    cch, flags = struct.unpack_from("<HB", body, 0)
    if flags in (0, 1) and 3 + cch * (flags + 1) <= len(body):
        raw = body[3 : 3 + cch * (flags + 1)]
        return raw.decode("utf-16-le" if flags else "latin-1", "replace")
    return body[1 : 1 + body[0]].decode("cp1252", "replace")


def _sheet_text(sheet: object) -> str:
    import xlrd

    rows = []
    for r in range(sheet.nrows):  # type: ignore[attr-defined]
        cells = []
        for c in sheet.row(r):  # type: ignore[attr-defined]
            if c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK, xlrd.XL_CELL_ERROR):
                cells.append("")
            elif c.ctype == xlrd.XL_CELL_NUMBER and float(c.value).is_integer():
                cells.append(str(int(c.value)))
            else:
                cells.append(str(c.value).replace("\t", " ").replace("\n", " ").replace("\r", " "))
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            rows.append("\t".join(cells))
    return "\n".join(rows)


# MS-PPT record types that carry text: TextCharsAtom (UTF-16), TextBytesAtom (8-bit), CString (UTF-16:
# header/footer, comment, and author strings; also internal tags such as "___PPT10", skipped).
_PPT_TEXT = {0x0FA0: "utf-16-le", 0x0FA8: "latin-1", 0x0FBA: "utf-16-le"}
_PPT_STREAM = "PowerPoint Document"


def extract_ppt(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """PowerPoint 97-2003: the text of slides, masters, notes, headers/footers and comments."""
    if (err := encrypted_error(f, ctx, member)) is not None:
        yield err
        return
    with olefile.OleFileIO(f) as ole:
        size = ole.get_size(_PPT_STREAM)
        if size > ctx.limits.max_member_bytes:
            yield ctx.error(
                member, "limit_bytes", f"PowerPoint stream larger than {ctx.limits.max_member_bytes}"
            )
            return
        stream = ole.openstream(_PPT_STREAM).read()
    chunker = ctx.chunker(member, "body")
    for text in ppt_texts(stream, ctx):
        yield from chunker.feed(text + "\n")
    yield from chunker.close()
    yield from _ole_metadata(f, ctx, member)
    yield from _ppt_objects(stream, ctx, member, depth, recurse)


_PPT_OBJECT = 0x1011  # ExOleObjStg: an embedded OLE object's storage, zlib-compressed when instance is 1


def _ppt_objects(
    stream: bytes, ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Embedded OLE objects (a workbook in a slide) as members ``object-N``, inflated within the limits."""
    objects = ((inst, body) for inst, rtype, body in _ppt_atoms(stream) if rtype == _PPT_OBJECT)
    for n, (instance, body) in enumerate(objects, start=1):
        name = join_member(member, f"object-{n}")
        if n > ctx.limits.max_members:
            yield ctx.error(member, "limit_members", f"more than {ctx.limits.max_members} objects")
            return
        if (err := depth_error(ctx, name, depth + 1)) is not None:
            yield err
            return
        try:
            data = _inflate(body, ctx) if instance == 1 else body
        except MemberLimit as e:
            yield ctx.error(name, e.reason, e.detail)
            continue
        except zlib.error:
            yield ctx.error(name, "malformed", "embedded object does not inflate")
            continue
        yield from spooled(data, ctx, name, depth, recurse)


def _inflate(body: bytes, ctx: Context) -> bytes:
    """u32 declared size + zlib data; never more than the member limit or the ratio allows."""
    lim = ctx.limits
    cap = min(lim.max_member_bytes, max(RATIO_FLOOR, int(len(body) * lim.max_ratio)))
    out = zlib.decompressobj().decompress(body[4:], cap + 1)
    if len(out) > cap:
        reason = "limit_bytes" if cap == lim.max_member_bytes else "limit_ratio"
        raise MemberLimit(reason, f"embedded object inflates beyond {cap} bytes")
    return out


def ppt_texts(stream: bytes, ctx: Context) -> Iterator[str]:
    """Text atoms of a PowerPoint Document stream, in stream order."""
    for n, (_instance, rtype, body) in enumerate(_ppt_atoms(stream), start=1):
        if n % 4096 == 0:
            ctx.check()
        codec = _PPT_TEXT.get(rtype)
        if codec is not None:
            text = body.decode(codec, "replace").replace("\r", "\n")
            if text.strip() and not text.startswith("___PPT"):
                yield text.replace("\x0b", "\n")


def _ppt_atoms(stream: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(instance, type, body) of every atom of a PowerPoint record stream.

    Containers (record version 0xF) are entered by stepping over their 8-byte header, atoms are
    skipped by their length: every step moves forward, so the walk ends after at most len/8 steps
    (no recursion, no offsets followed: a hostile stream cannot loop or nest it).
    """
    pos, end = 0, len(stream)
    while pos + 8 <= end:
        ver_inst, rtype, length = struct.unpack_from("<HHI", stream, pos)
        if ver_inst & 0xF == 0xF:
            pos += 8
            continue
        yield ver_inst >> 4, rtype, stream[pos + 8 : pos + 8 + length]
        pos += 8 + length


# as office.py: no author names (a name is personal data, not a document's content)
_META_FIELDS = ("title", "subject", "keywords", "comments", "company", "category")


def _ole_metadata(f: IO[bytes], ctx: Context, member: str | None) -> Iterator[Item]:
    """Summary information (title, subject, keywords, comments, company): markings hide there too."""
    f.seek(0)
    try:
        with olefile.OleFileIO(f) as ole:
            meta = ole.get_metadata()
    except Exception:
        return
    finally:
        f.seek(0)
    lines = []
    for name in _META_FIELDS:
        v = getattr(meta, name, None)
        if isinstance(v, bytes):
            v = v.decode("cp1252", "replace")
        if isinstance(v, str) and v.strip():
            lines.append(f"{name.replace('_', ' ').capitalize()}: {v.strip()}")
    yield from ctx.chunk_text(member, "\n".join(lines), "metadata")


#: Streams of an OLE object storage that hold the embedded file: a packaged file (Packager,
#: MS-OLEDS OLENativeStream), an OOXML/ODF document, Acrobat's PDF, an Excel 97 sheet (raw BIFF).
_PAYLOADS = ("\x01Ole10Native", "Package", "EmbeddedOdf", "CONTENTS", "Workbook", "Book")


def extract_ole(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """An OLE object on its own (``embeddings/oleObject1.bin`` in OOXML): the file it embeds."""
    found = False
    for item in embedded_objects(f, ctx, member, depth, recurse, ()):
        found = True
        yield item
    if not found:
        yield ctx.error(member, "unsupported_format", "OLE compound file of an unknown kind")


def embedded_objects(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse, under: tuple[str, ...]
) -> Iterator[Item]:
    """Files embedded as OLE objects in storages whose name starts with one of ``under`` (root: ())."""
    f.seek(0)
    if f.read(8) != olefile.MAGIC:  # a bare BIFF stream (an Excel object taken out of its storage)
        f.seek(0)
        return
    f.seek(0)
    with olefile.OleFileIO(f) as ole:
        found = [e for e in ole.listdir(streams=True, storages=False) if _is_payload(e, under)]
        if found and (err := depth_error(ctx, member, depth + 1)) is not None:
            yield err
            return
        for n, entry in enumerate(found[: ctx.limits.max_members], start=1):
            ctx.check()
            name = join_member(member, "/".join([*entry[:-1], f"object-{n}"]) if under else f"object-{n}")
            if ole.get_size(entry) > ctx.limits.max_member_bytes:
                yield ctx.error(name, "limit_bytes", f"object above {ctx.limits.max_member_bytes} bytes")
                continue
            data = _payload(entry[-1], ole.openstream(entry).read())
            if data:
                yield from spooled(data, ctx, name, depth, recurse)
    f.seek(0)


def _is_payload(entry: list[str], under: tuple[str, ...]) -> bool:
    if entry[-1] not in _PAYLOADS:
        return False
    if not under:
        return len(entry) == 1 and entry[0] not in ("Workbook", "Book")  # a root Workbook is an .xls
    return len(entry) >= 2 and entry[0].startswith(under)  # ObjectPool/_123/x (Word), MBD0001/x (Excel)


def _payload(stream: str, data: bytes) -> bytes:
    if stream != "\x01Ole10Native":
        return data
    from oletools.oleobj import OleNativeStream

    try:
        native = OleNativeStream(data)
    except Exception:  # not a Packager object: the native data is the object's own format
        return data[4:]
    return bytes(native.data or b"")
