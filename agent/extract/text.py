"""Plain text, CSV and TSV, streamed: a 1 GB log is read, decoded and chunked incrementally.

The encoding is decided once from the head (BOM, then strict UTF-8, then charset-normalizer for
legacy 8-bit encodings) and an incremental decoder with replacement does the rest, so memory stays
at a few chunk sizes whatever the file size.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Iterator
from typing import IO

from charset_normalizer import from_bytes

from agent.extract.context import Context, Item

BLOCK = 256 * 1024
_HEAD = 64 * 1024
_MAX_LINE = 1024 * 1024
#: Share of U+FFFD in the decoded text above which the encoding counts as undecidable.
MAX_REPLACEMENT_SHARE = 0.30

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


#: C0 control bytes that text does not hold (tab, line feed, form feed, carriage return excepted).
_CONTROLS = bytes(b for b in range(1, 32) if b not in b"\t\n\x0c\r")


def _utf8_behind_utf16_bom(sample: bytes) -> bool:
    """Whether what follows a UTF-16 BOM is UTF-8: no NUL (UTF-16 has one in every ASCII character),
    few control bytes (UTF-16 of Greek, Cyrillic, Hebrew, Arabic has one in every character: 0x03-0x06,
    all valid UTF-8) and strictly valid UTF-8 (UTF-16 of CJK practically never is). Two bytes put
    before a UTF-8 file must not make its text unreadable CJK, read as clean."""
    if not sample or b"\x00" in sample:
        return False
    if len(sample) - len(sample.translate(None, _CONTROLS)) > len(sample) // 4:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def detect_encoding(head: bytes) -> tuple[str, int]:
    """Return (codec name, BOM length to skip) for text starting with ``head``."""
    for bom, name in _BOMS:
        if head.startswith(bom):
            if name != "utf-8-sig" and _utf8_behind_utf16_bom(head[len(bom) : 4096]):
                return "utf-8", len(bom)
            return name, (0 if name == "utf-8-sig" else len(bom))
    sample = head[:4096]  # UTF-16 without BOM: a NUL in every other byte (NUL is valid UTF-8)
    if b"\x00" in sample:
        odd_nul = sample[1::2].count(0) > 0.9 * max(1, len(sample) // 2)
        even_nul = sample[0::2].count(0) > 0.9 * max(1, len(sample) // 2)
        if odd_nul:
            return "utf-16-le", 0
        if even_nul:
            return "utf-16-be", 0
    try:
        # A multibyte sequence may be cut at the end of the head: that still counts as UTF-8.
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
        return "utf-8", 0
    except UnicodeDecodeError:
        pass
    matches = list(from_bytes(head[:_HEAD]))
    if matches:
        best = matches[0]
        name = best.encoding
        # Ties between 8-bit code pages are common on short texts: prefer the Western default.
        for m in matches:
            if m.encoding == "cp1252" and (m.percent_chaos, -m.percent_coherence) <= (
                best.percent_chaos,
                -best.percent_coherence,
            ):
                name = "cp1252"
        try:
            codecs.lookup(name)
            return name, 0
        except LookupError:
            pass
    return "cp1252", 0


def decoded_stream(f: IO[bytes], ctx: Context) -> Iterator[tuple[str, str, int]]:
    """Yield (text piece, encoding, U+FFFD added) from a binary file, decoding incrementally with
    replacement. The third item counts the U+FFFD characters decoding added: those the file itself
    holds (an earlier tool's replacement mark is text, not a decoding failure) are not "bad"."""
    head = f.read(_HEAD)
    encoding, skip = detect_encoding(head)
    dec = codecs.getincrementaldecoder(encoding)("replace")
    try:
        marker = "\ufffd".encode(encoding)
    except UnicodeEncodeError:
        marker = b""  # the encoding cannot hold U+FFFD: every one in the text is a failure
    data = head[skip:]
    while True:
        ctx.check()
        text = dec.decode(data, final=not data)
        if text:
            yield text, encoding, _added(text, data, marker)
        if not data:
            return
        data = f.read(BLOCK)


def _added(text: str, data: bytes, marker: bytes) -> int:
    """The U+FFFD in ``text`` beyond the encoded ones in ``data`` (its bytes): the bytes are searched
    only when the text holds one (a text without one, most, needs no pass over its bytes)."""
    found = text.count("\ufffd")
    if not found:
        return 0
    return found - (min(found, data.count(marker)) if marker and data else 0)


def extract_text(f: IO[bytes], ctx: Context, member: str | None) -> Iterator[Item]:
    """Stream a plain-text file into chunks; report decode_error if the encoding was undecidable."""
    total = bad = 0
    encoding = ""
    ch = ctx.chunker(member)
    for piece, enc, added in decoded_stream(f, ctx):
        encoding = enc
        total += len(piece)
        bad += added
        yield from ch.feed(piece)
    yield from ch.close()
    if total and bad > MAX_REPLACEMENT_SHARE * total:
        yield ctx.error(member, "decode_error", f"{bad} of {total} characters undecodable as {encoding}")


def _lines(f: IO[bytes], ctx: Context) -> Iterator[str]:
    rest = ""
    for piece, _enc, _added in decoded_stream(f, ctx):
        rest += piece
        lines = rest.splitlines(keepends=True)
        rest = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
        yield from lines
        if len(rest) > _MAX_LINE:  # no newline for a long while: cut, to keep memory bounded
            yield rest
            rest = ""
    if rest:
        yield rest


def extract_table(f: IO[bytes], ctx: Context, member: str | None, delimiter: str) -> Iterator[Item]:
    """CSV/TSV as tabular text: one record per line, cells joined by a tab (quoted newlines folded)."""
    ch = ctx.chunker(member, tabular=True)
    buf: list[str] = []
    size = 0
    reader = csv.reader(_lines(f, ctx), delimiter=delimiter)
    try:
        for row in reader:
            line = "\t".join(row)
            # cells rarely hold a tab or a line break: fold them only when the joined line shows one
            if line.count("\t") >= len(row) or "\n" in line or "\r" in line:
                line = "\t".join(c.replace("\t", " ").replace("\r", " ").replace("\n", " ") for c in row)
            line += "\n"
            buf.append(line)
            size += len(line)
            if size >= 64 * 1024:
                yield from ch.feed("".join(buf))
                buf, size = [], 0
    except csv.Error as e:
        yield from ch.feed("".join(buf))
        buf = []
        yield ctx.error(member, "malformed", f"csv.Error at record {reader.line_num}: {type(e).__name__}")
    yield from ch.feed("".join(buf))
    yield from ch.close()
