"""Per-file extraction state: limits, the deadline, the text budget, and the one chunking helper.

Every format module turns its text into chunks through :class:`Chunker`, so chunk size, overlap,
offsets, line numbers and the per-file text budget behave the same for a 1 GB log and a DOCX table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from agent.models import ExtractError, Limits, TextChunk

Item = TextChunk | ExtractError
#: How a reader hands a member back to the dispatcher: (stream, member name, depth) -> items.
Recurse = Callable[[IO[bytes], str, int], Iterator[Item]]


class Abort(BaseException):
    """Stops the whole top-level file. A BaseException so parsers' ``except Exception`` cannot eat it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


class MemberLimit(Exception):
    """A limit hit by one archive member: reported for that member, the archive goes on."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Cursor:
    offset: int = 0
    line: int = 1


@dataclass
class Context:
    """Mutable state of one ``Extractor.extract`` call (one top-level file)."""

    path: str
    limits: Limits
    deadline: float = 0.0
    text_chars: int = 0
    members: int = 0  # archive members read so far, across every nesting level of the file
    unpacked: int = 0  # bytes decompressed out of archives, across all nesting levels
    #: inventory: format and characters of text of the file (None) and of every member, in order
    formats: dict[str | None, str] = field(default_factory=dict)
    chars: dict[str | None, int] = field(default_factory=dict)
    ocr_pages: int = 0  # page images sent to OCR so far (bounded by limits.max_ocr_pages)
    heavy: bool = False  # the file was announced as going to OCR (agent.extract.ocr.announce_heavy)
    _cursors: dict[str | None, _Cursor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.monotonic() + self.limits.timeout_seconds

    def check(self) -> None:
        """Raise :class:`Abort` (timeout) once the per-file wall-time limit has passed."""
        if time.monotonic() > self.deadline:
            raise Abort("timeout", f"time limit of {self.limits.timeout_seconds:g} s exceeded")

    @contextmanager
    def paused(self) -> Iterator[None]:
        """The time spent inside is not the file's: its deadline moves on by it. For a wait that is
        not reading (the daemon's worker waiting for a place in the OCR lane), so that a file's
        verdict, complete or timed out, is the one it gets when nothing waits."""
        start = time.monotonic()
        try:
            yield
        finally:
            self.deadline += time.monotonic() - start

    def count_member(self) -> None:
        """Count one archive member of this top-level file, at any depth; Abort past ``max_members``.

        The limit is per top-level file: 16 members per archive nested three deep are 4,096 members,
        and a per-archive limit of 16 would never see them."""
        self.members += 1
        if self.members > self.limits.max_members:
            raise Abort("limit_members", f"more than {self.limits.max_members} archive members in the file")

    def error(self, member: str | None, reason: str, detail: str) -> ExtractError:
        return ExtractError(path=self.path, member=member, reason=reason, detail=detail)

    def chunker(self, member: str | None, part: str = "body", tabular: bool = False) -> Chunker:
        return Chunker(self, member, part, tabular)

    def chunk_text(
        self, member: str | None, text: str, part: str = "body", tabular: bool = False
    ) -> Iterator[TextChunk]:
        """Chunk one whole part (a page, a table, a header) of a member."""
        ch = self.chunker(member, part, tabular)
        yield from ch.feed(text)
        yield from ch.close()


class Chunker:
    """Cuts a stream of text into overlapping chunks with exact offsets and 1-based line numbers.

    Offsets are absolute within the member: successive parts of the same member (header, body,
    notes, each sheet) continue where the previous part ended (plus one separating newline), so a
    position never names two different characters. A chunk is emitted only when more text follows
    it (``final=False``); :meth:`close` emits the last one. Memory stays below ~2 chunk sizes.
    """

    def __init__(self, ctx: Context, member: str | None, part: str, tabular: bool) -> None:
        self.ctx = ctx
        self.member = member
        self.part = part
        self.tabular = tabular
        cur = ctx._cursors.setdefault(member, _Cursor())
        self.offset = cur.offset
        self.line = cur.line
        self._buf: list[str] = []
        self._buflen = 0
        self._emitted_any = False
        self._closed = False
        self.size = max(1, ctx.limits.chunk_chars)
        self.overlap = max(0, min(ctx.limits.chunk_overlap, self.size - 1))

    def feed(self, text: str) -> Iterator[TextChunk]:
        if not text:
            return
        lim = self.ctx.limits.max_text_chars
        room = lim - self.ctx.text_chars
        over = len(text) > room
        if over:
            text = text[: max(0, room)]
        self.ctx.text_chars += len(text)
        self.ctx.chars[self.member] = self.ctx.chars.get(self.member, 0) + len(text)
        self._buf.append(text)
        self._buflen += len(text)
        while self._buflen > self.size:
            self.ctx.check()
            yield self._emit_nonfinal()
        if over:
            yield from self.close()
            raise Abort("limit_bytes", f"text limit of {lim} characters per file reached")

    def _emit_nonfinal(self) -> TextChunk:
        buf = "".join(self._buf)
        piece = buf[: self.size]
        chunk = self._make(piece, final=False)
        step = self.size - self.overlap
        self.line += piece.count("\n", 0, step)
        self.offset += step
        rest = buf[step:]
        self._buf = [rest]
        self._buflen = len(rest)
        return chunk

    def _make(self, text: str, final: bool) -> TextChunk:
        self._emitted_any = True
        return TextChunk(
            path=self.ctx.path,
            member=self.member,
            text=text,
            offset=self.offset,
            line=self.line,
            part=self.part,
            tabular=self.tabular,
            final=final,
        )

    def close(self) -> Iterator[TextChunk]:
        """Emit the final chunk and advance the member's cursor past this part."""
        if self._closed:
            return
        self._closed = True
        buf = "".join(self._buf)
        self._buf = []
        if buf:
            yield self._make(buf, final=True)
        cur = self.ctx._cursors[self.member]
        if buf or self._emitted_any:
            cur.offset = self.offset + len(buf) + 1  # +1: the newline that separates parts
            cur.line = self.line + buf.count("\n") + 1
