"""Extraction stage: turn a file on disk (and everything inside it) into text chunks.

``Extractor.extract`` never raises for bad input: whatever could not be read (completely) is
yielded as an :class:`~agent.models.ExtractError` with a reason from ``models.ERROR_REASONS``, and
extraction goes on with the next member. An empty file yields nothing (and no error): there is no
text to classify, and emptiness is not a failure.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from types import ModuleType
from typing import IO

import structlog

from agent.extract import text
from agent.extract.context import Abort, Context, Item, Recurse
from agent.extract.safeopen import OpenFailure, open_for_scan
from agent.extract.sniff import EXPECTED_BY_EXTENSION, NO_TEXT_FORMATS, _ext, refine, sniff_format
from agent.models import FORMATS, ExtractError, FileRecord, FileRef, FileStatus, Limits, TextChunk

__all__ = ["Extractor", "OpenFailure", "open_for_scan", "sniff_format"]

log = structlog.get_logger(__name__)
_HEAD = 4096


class Extractor:
    """Reads files within :class:`~agent.models.Limits`. Stateless between calls; thread-safe."""

    def __init__(self, limits: Limits = Limits()) -> None:  # noqa: B008 - Limits is frozen
        self.limits = limits

    def extract(
        self, ref: FileRef, inventory: list[FileRecord] | None = None
    ) -> Iterator[TextChunk | ExtractError]:
        """Yield text chunks of the file and of every archive member/attachment, and an ExtractError
        for anything that could not be read (completely). Never raises for bad input.

        ``inventory``, when given, receives one :class:`FileRecord` per file and member once the
        generator is exhausted (or closed)."""
        ctx = Context(path=ref.path, limits=self.limits)
        failed: set[str | None] = set()
        try:
            for item in self._extract(ref, ctx):
                if isinstance(item, ExtractError):
                    failed.add(item.member)
                yield item
        finally:
            if inventory is not None:
                inventory.extend(file_records(ctx, failed))

    def _extract(self, ref: FileRef, ctx: Context) -> Iterator[TextChunk | ExtractError]:
        try:
            fd, st = open_for_scan(ref.path, ref.root, self.limits.follow_symlinks)
        except OpenFailure as e:
            yield ctx.error(None, e.reason, e.detail)
            return
        if st.st_size > self.limits.max_file_bytes:
            os.close(fd)
            yield ctx.error(None, "limit_bytes", f"file larger than {self.limits.max_file_bytes} bytes")
            return
        with os.fdopen(fd, "rb") as f:
            try:
                yield from self.extract_file(f, ctx, ref.path)
            except Abort as e:
                yield ctx.error(None, e.reason, e.detail)
            except OSError as e:
                yield ctx.error(None, "io_error", f"{type(e).__name__}: {os.strerror(e.errno or 0)}")
            except MemoryError:
                yield ctx.error(None, "limit_memory", "memory ceiling reached while reading")
            except Exception as e:  # a bug in Dropwarden: report, count, go on
                # no path: the worker's log context names the file as alerts do (agent.log.about_file)
                log.error("extract_failed", error=type(e).__name__)
                yield ctx.error(None, "internal", f"{type(e).__name__} in extractor")

    def extract_file(self, f: IO[bytes], ctx: Context, display: str) -> Iterator[Item]:
        """Extract an open, seekable top-level file (also used for in-memory tests)."""
        yield from _dispatch(f, ctx, None, display, 0)

    @staticmethod
    def load_readers() -> None:
        """Import every format reader now (they load on first use otherwise): call it before forking
        workers, so they share the readers' libraries instead of each importing them."""
        for module in LAZY_MODULES:
            _module(module)
        for fmt in _READERS:
            _reader(fmt)


def file_records(ctx: Context, failed: set[str | None]) -> list[FileRecord]:
    """The inventory of one extraction: every file and member that was sniffed or named in an error."""
    names = list(ctx.formats) + [m for m in failed if m not in ctx.formats]
    if None not in names:
        names.insert(0, None)
    out = []
    for member in names:
        fmt = ctx.formats.get(member, "unknown")
        fmt = fmt if fmt in FORMATS else "binary"  # a metric label: the set stays bounded
        chars = ctx.chars.get(member, 0)
        if member in failed:
            status: FileStatus = "unscanned"
        elif fmt in NO_TEXT_FORMATS or fmt == "empty":
            status = "no_text_expected"
        else:
            status = "read"
        out.append(FileRecord(ctx.path, member, fmt, chars, status))
    return out


def _dispatch(f: IO[bytes], ctx: Context, member: str | None, display: str, depth: int) -> Iterator[Item]:
    """Extract one (top-level or member) file; only its very last chunk carries ``final=True``.

    A member's parts (metadata, body, header, sheets...) share one offset space and ``final``
    means "no more text of this (path, member)": the last chunk is held back until the reader is
    done (or stopped), so consumers can evaluate the member as a whole.
    """
    pending: TextChunk | None = None
    try:
        for item in _read(f, ctx, member, display, depth):
            if isinstance(item, TextChunk) and item.member == member:
                if pending is not None:
                    yield replace(pending, final=False)
                pending = item
            else:
                yield item
    except Abort:
        if pending is not None:
            yield replace(pending, final=True)
        raise
    if pending is not None:
        yield replace(pending, final=True)


def _read(f: IO[bytes], ctx: Context, member: str | None, display: str, depth: int) -> Iterator[Item]:
    """Sniff one file and run its format reader; parser failures -> malformed, and the scan goes on."""
    fmt = _sniff(f, ctx, member, display)
    if (mismatch := _extension_mismatch(fmt, ctx, member, display)) is not None:
        yield mismatch
        if fmt not in ("text", "csv", "tsv"):
            return  # still read text that merely carries a wrong extension

    try:
        yield from _read_format(f, fmt, ctx, member, display, depth)
    except (Abort, GeneratorExit):
        raise
    except RecursionError:
        yield ctx.error(member, "malformed", "RecursionError: structure nested too deeply")
    except MemoryError:
        yield ctx.error(member, "limit_memory", "memory ceiling reached while reading")
    except Exception as e:
        yield ctx.error(member, "malformed", _describe(e))


def _sniff(f: IO[bytes], ctx: Context, member: str | None, display: str) -> str:
    """The file's format from its content (a zip's directory size checked before zipfile parses it),
    recorded in the inventory."""
    ctx.check()
    head = f.read(_HEAD)
    f.seek(0)
    sniffed = sniff_format(head, display)
    if sniffed == "zip":
        # before any zipfile parse: the directory may be 600k entries
        _module("archive").check_entries(f, ctx)
    fmt = refine(sniffed, f)
    ctx.formats[member] = fmt
    return fmt


def _extension_mismatch(fmt: str, ctx: Context, member: str | None, display: str) -> Item | None:
    """A malformed error when the content is not what the name's extension promises (a renamed file)."""
    expected = EXPECTED_BY_EXTENSION.get(_ext(display))
    if expected and fmt not in expected and fmt != "empty":
        return ctx.error(member, "malformed", f"content is {fmt}, not {_ext(display)[1:]}")
    return None


def _read_format(
    f: IO[bytes], fmt: str, ctx: Context, member: str | None, display: str, depth: int
) -> Iterator[Item]:
    """Run the reader of ``fmt``; a package (docx, odt...) is bomb-checked before, its pictures read after."""

    def recurse(sub: IO[bytes], name: str, sub_depth: int) -> Iterator[Item]:
        return _dispatch(sub, ctx, name, name, sub_depth)

    if fmt in _PACKAGES and (err := _module("archive").package_error(f, ctx, member)) is not None:
        yield err
        return
    if fmt == "text":
        yield from text.extract_text(f, ctx, member)
    elif fmt in ("csv", "tsv"):
        yield from text.extract_table(f, ctx, member, "," if fmt == "csv" else "\t")
    elif fmt in _READERS:
        yield from _reader(fmt)(f, ctx, member, depth, recurse)
    elif fmt in ("odt", "ods"):
        yield from _module("office").extract_odf(f, ctx, member, spreadsheet=fmt == "ods")
    elif fmt in ("gzip", "bz2", "xz"):
        yield from _module("archive").extract_stream(f, fmt, ctx, member, display, depth, recurse)
    else:
        yield from _other(f, fmt, ctx, member, display, depth, recurse)
    if fmt in _PACKAGES:  # pictures pasted into documents (scans) are read by OCR
        yield from _module("image").package_images(f, ctx, member, depth, recurse)


def _other(
    f: IO[bytes],
    fmt: str,
    ctx: Context,
    member: str | None,
    display: str,
    depth: int,
    recurse: Recurse,
) -> Iterator[Item]:
    """Archives read through libarchive, and the formats that are not read: said so, never silent."""
    if fmt in _LIBARCHIVE:
        yield from _module("unpack").extract_archive(f, fmt, ctx, member, depth, recurse)
    elif fmt == "compress":
        yield from _module("unpack").extract_compress(f, ctx, member, display, depth, recurse)
    elif fmt == "ooxml_encrypted":
        yield ctx.error(member, "encrypted", "password-protected Office document")
    elif fmt not in NO_TEXT_FORMATS and fmt not in ("empty", "image"):
        # image: read by OCR when available; empty: no text and no failure
        yield ctx.error(member, "unsupported_format", f"no reader for {fmt} content")


_LIBARCHIVE = frozenset({"7z", "rar", "cab", "iso", "cpio"})
_PACKAGES = frozenset({"docx", "xlsx", "pptx", "odt", "ods", "epub", "xps", "vsdx", "iwork"})
#: A format reader: (file, context, member name, depth, recurse) -> chunks and errors.
Reader = Callable[[IO[bytes], Context, str | None, int, Recurse], Iterator[Item]]

#: format -> (module under agent.extract, reader function[, argument of that factory]). The readers
#: are imported on first use, so a scan of text files never loads the mail, Office (lxml), archive
#: (libarchive) or PDF libraries; `Extractor.load_readers` imports them all before workers fork.
_READERS: dict[str, tuple[str, ...]] = {
    "pdf": ("pdf", "extract_pdf"),
    "docx": ("office", "extract_docx"),
    "xlsx": ("xlsx", "extract_xlsx"),
    "pptx": ("office", "extract_pptx"),
    "zip": ("archive", "extract_zip"),
    "tar": ("archive", "extract_tar"),
    "eml": ("mail", "extract_eml"),
    "msg": ("mail", "extract_msg"),
    "mbox": ("mail", "extract_mbox"),
    "emlx": ("mail", "extract_emlx"),
    "doc": ("legacy", "extract_doc"),
    "xls": ("legacy", "extract_xls"),
    "ppt": ("legacy", "extract_ppt"),
    "rtf": ("rtf", "extract_rtf"),
    "ole": ("legacy", "extract_ole"),
    "image": ("image", "extract_image"),
    "pst": ("pst", "extract_pst"),
    "epub": ("zipdocs", "extract_epub"),
    "xps": ("zipdocs", "extract_xps"),
    "vsdx": ("zipdocs", "extract_vsdx"),
    "iwork": ("zipdocs", "extract_iwork"),
    "keystore": ("sniff", "extract_keystore"),
    "wpd": ("liberation", "extract_converted", "wpd"),
    "vsd": ("liberation", "extract_converted", "vsd"),
    "pub": ("liberation", "extract_converted", "pub"),
    "chm": ("liberation", "extract_chm"),
    "onenote": ("liberation", "extract_onenote"),
}

#: Modules the dispatch calls beyond `_READERS`: the zip/package checks, odf, streams, libarchive, OCR.
LAZY_MODULES = ("archive", "office", "unpack", "image")


def _module(name: str) -> ModuleType:
    """``agent.extract.<name>``, imported on first use (then a dictionary look-up)."""
    return importlib.import_module(f"{__name__}.{name}")


@functools.cache
def _reader(fmt: str) -> Reader:
    """The reader of ``fmt`` from `_READERS`, its module imported on first use."""
    module, name, *args = _READERS[fmt]
    found = getattr(_module(module), name)
    reader: Reader = found(*args) if args else found
    return reader


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"|b'[^']*'")


def _describe(e: BaseException) -> str:
    """Exception type and a short message with quoted parts removed, so no content can ride along."""
    text = str(e).splitlines()[0] if str(e) else ""
    text = _QUOTED.sub("'…'", text)[:80]
    text = "".join(c if c.isprintable() else "?" for c in text)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
