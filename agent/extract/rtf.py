"""RTF to plain text: body, headers, footers, footnotes, comments, document info, embedded objects.

A reader of its own rather than ``striprtf`` (the maintained PyPI option): striprtf drops headers,
footers, footnotes, annotations and the info group as "destinations", which is where markings
live, treats ``\\bin`` only inside pictures, and decodes embedded objects not at all. The
grammar read here is the RTF 1.9 one: control words with an optional numeric argument, ``\\'xx``
bytes in the code page of the current font (``\\fcharsetN``/``\\cpgN`` in the font table, else the
document's ``\\ansicpgN``: a Cyrillic font's bytes are cp1251 in a cp1252 document), ``\\uN``
with ``\\ucN`` fallback skipping, ``\\binN`` raw bytes skipped by count, and ``{\\*\\dest ...}``
groups skipped unless they are known to hold text.
``\\objdata`` (an OLE1 object in hex) is decoded and its native data handed back to the
dispatcher as a member, so a workbook embedded in an RTF is read as a workbook.
"""

from __future__ import annotations

import codecs
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import IO

from agent.extract.archive import depth_error, join_member
from agent.extract.context import Context, Item, Recurse
from agent.extract.mail import spooled

_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-zA-Z])|([{}])|[\r\n]+|([^\\{}\r\n]+)"
)
#: Groups that never hold document text (tables of fonts, colours, styles, pictures, field code...).
_SKIP = frozenset(
    b"colortbl stylesheet listtable listoverridetable revtbl rsidtbl xmlnstbl themedata "
    b"colorschememapping datastore latentstyles pict fldinst generator bkmkstart bkmkend pgdsctbl "
    b"filetbl mmathPr shppict nonshppict blipuid panose fontemb fontfile falt listpicture protusertbl "
    b"wgrffmtfilter defchp defpap xmlopen xmlclose pntext pntxta pntxtb atnid atndate atnicn "
    b"objclass objname objalias objtime result sp sn sv".split()
)
#: ``{\*\word ...}`` groups that do hold text (everything else behind ``\*`` is skipped, per spec).
_KEEP = frozenset(b"company manager doccomm annotation atnauthor shptxt dptxbxtext footnote".split())
_CHARS = {
    b"par": "\n", b"line": "\n", b"sect": "\n", b"page": "\n", b"row": "\n", b"tab": "\t", b"cell": "\t",
    b"emdash": "\u2014", b"endash": "\u2013", b"bullet": "\u2022", b"lquote": "\u2018", b"rquote": "\u2019",
    b"ldblquote": "\u201c", b"rdblquote": "\u201d", b"emspace": " ", b"enspace": " ", b"qmspace": " ",
}  # fmt: skip
# headers, footers, notes and comments start on their own line
_CHARS.update(
    dict.fromkeys(
        b"header headerl headerr headerf footer footerl footerr footerf footnote annotation".split(), "\n"
    )
)
_SYMBOLS = {b"\\": "\\", b"{": "{", b"}": "}", b"~": "\u00a0", b"_": "-", b"-": "", b"\t": "\t"}
#: Info fields whose text is kept, one per line (title, subject, keywords...)
_INFO_TEXT = frozenset(b"title subject author keywords comment operator category".split())


#: ``\fcharsetN`` (RTF 1.9 font table) -> code page; 0 (ANSI), 1 (default) and 2 (symbol) keep the
#: document's code page.
_CHARSETS = {
    77: 10000, 78: 10001, 79: 10003, 80: 10008, 81: 10002, 83: 10005, 84: 10004, 85: 10006, 86: 10081,
    87: 10021, 88: 10029, 89: 10007, 128: 932, 129: 949, 130: 1361, 134: 936, 136: 950, 161: 1253,
    162: 1254, 163: 1258, 177: 1255, 178: 1256, 186: 1257, 204: 1251, 222: 874, 238: 1250, 254: 437,
    255: 850,
}  # fmt: skip
#: Code page numbers Python names otherwise (Mac, KOI8, ISO 8859, UTF-8)
_CODEPAGES = {
    10000: "mac_roman", 10006: "mac_greek", 10007: "mac_cyrillic", 10029: "mac_latin2", 10079: "mac_iceland",
    10081: "mac_turkish", 10001: "shift_jis", 10003: "euc_kr", 10008: "gb2312", 10002: "big5",
    20866: "koi8_r", 21866: "koi8_u", 65001: "utf-8", 1361: "johab",
}  # fmt: skip


def codec_of(codepage: int) -> str | None:
    """The Python codec of a Windows/Mac code page number, or None when Python has none."""
    if 28591 <= codepage <= 28606:
        name = f"iso8859_{codepage - 28590}"
    else:
        name = _CODEPAGES.get(codepage, f"cp{codepage}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


@dataclass(frozen=True)
class _State:
    skip: bool = False
    uc: int = 1
    objdata: bool = False
    fonttbl: bool = False  # inside {\fonttbl ...}: \fN defines a font, \fcharsetN/\cpgN its code page
    codec: str | None = None  # the current font's code page; None: the document's


class RtfText:
    """Collects the text of one RTF document and the hex of its embedded objects."""

    def __init__(self, ctx: Context, codepage: str = "cp1252") -> None:
        self.ctx = ctx
        self.codec = codepage
        self.fonts: dict[int, str] = {}  # font number -> codec, for fonts not in the document code page
        self._defining = -1  # the font being defined in the font table
        self._deff = 0
        self._hex_codec = codepage
        self.out: list[str] = []
        self.objects: list[bytes] = []
        self._hex = bytearray()
        self._obj: list[bytes] | None = None
        self._pending_skip = 0
        self._star = False  # the last token was "\\*": an optional destination follows

    def read(self, data: bytes) -> str:
        stack: list[_State] = []
        state = _State()
        pos, end = 0, len(data)
        while pos < end:
            m = _TOKEN.match(data, pos)
            if m is None:
                pos += 1
                continue
            pos = m.end()
            word, arg, hexbyte, sym, brace, run = m.groups()
            if not hexbyte:
                self._flush_hex()
            if brace == b"{":
                if len(stack) > 10_000:
                    raise ValueError("RTF groups nested too deeply")
                stack.append(state)
                state = replace(state, objdata=False)
                self._star = False
                self._pending_skip = 0
            elif brace == b"}":
                state = self._close(state, stack)
                self._pending_skip = 0
            elif word is not None:
                state, pos = self._word(word, arg, state, data, pos)
            elif sym is not None:
                state = self._symbol(sym, state)
            elif hexbyte is not None:
                self._byte(int(hexbyte, 16), state)
            elif run is not None:
                self._text(run, state)
            if len(self.out) % 4096 == 0:
                self.ctx.check()
        self._flush_hex()
        return "".join(self.out)

    def _close(self, state: _State, stack: list[_State]) -> _State:
        if state.objdata and self._obj is not None:
            digits = b"".join(self._obj)
            self.objects.append(bytes.fromhex(digits[: len(digits) // 2 * 2].decode("ascii")))
            self._obj = None
        return stack.pop() if stack else state

    def _word(
        self, word: bytes, arg: bytes | None, state: _State, data: bytes, pos: int
    ) -> tuple[_State, int]:
        if word == b"bin":
            return state, pos + max(0, int(arg or 0))  # raw bytes: skipped by count, never parsed
        if word == b"objdata":
            self._star = False
            self._obj = []
            return replace(state, skip=True, objdata=True), pos
        if word in _SKIP or (self._star and word not in _KEEP and word not in _INFO_TEXT):
            self._star = False
            return replace(state, skip=True), pos
        self._star = False
        if word == b"fonttbl" or state.fonttbl:
            self._font_table(word, arg)
            return replace(state, skip=True, fonttbl=True), pos
        if word in (b"f", b"plain", b"deff"):
            return self._font(word, arg, state), pos
        if word == b"ansicpg" and arg:
            self._set_codepage(arg.decode())
        elif word == b"uc":
            return replace(state, uc=max(0, int(arg or 1))), pos
        elif word == b"u" and arg and not state.skip:
            self._emit(chr(int(arg) % 0x10000 if int(arg) < 0 else min(int(arg), 0x10FFFF)))
            self._pending_skip = state.uc
        elif word in _INFO_TEXT and not state.skip:
            self._emit("\n")
        elif word in _CHARS and not state.skip:
            self._emit(_CHARS[word])
        return state, pos

    def _font_table(self, word: bytes, arg: bytes | None) -> None:
        """A font table entry: ``{\\f1\\fswiss\\fcharset204 Arial;}`` (``\\cpgN`` wins over the charset)."""
        if word == b"f" and arg:
            self._defining = int(arg)
        elif word == b"fcharset" and arg and self._defining >= 0:
            cp = _CHARSETS.get(int(arg))
            codec = codec_of(cp) if cp is not None else None
            if codec is not None:
                self.fonts[self._defining] = codec
        elif word == b"cpg" and arg and self._defining >= 0:
            codec = codec_of(int(arg))
            if codec is not None:
                self.fonts[self._defining] = codec

    def _font(self, word: bytes, arg: bytes | None, state: _State) -> _State:
        """``\\fN`` selects a font (its code page, for the group), ``\\plain`` the default font."""
        if word == b"deff":
            self._deff = int(arg or 0)
            return state
        number = self._deff if word == b"plain" else int(arg or 0)
        return replace(state, codec=self.fonts.get(number))

    def _symbol(self, sym: bytes, state: _State) -> _State:
        if sym == b"*":
            self._star = True
        elif sym in _SYMBOLS and not state.skip:
            self._emit(_SYMBOLS[sym])
        elif sym in (b"\n", b"\r") and not state.skip:
            self._emit("\n")  # "\<newline>" is a \par
        return state

    def _byte(self, b: int, state: _State) -> None:
        if self._pending_skip:
            self._pending_skip -= 1
        elif not state.skip:
            codec = state.codec or self.codec
            if self._hex and codec != self._hex_codec:
                self._flush_hex()
            self._hex_codec = codec
            self._hex.append(b)

    def _text(self, run: bytes, state: _State) -> None:
        if state.objdata and self._obj is not None:
            self._obj.append(bytes(c for c in run if c in b"0123456789abcdefABCDEF"))
            return
        if self._pending_skip:
            cut = min(self._pending_skip, len(run))
            run = run[cut:]
            self._pending_skip -= cut
        if run and not state.skip:
            self._emit(run.decode(state.codec or self.codec, "replace"))

    def _flush_hex(self) -> None:
        if self._hex:
            self._emit(bytes(self._hex).decode(self._hex_codec, "replace"))
            self._hex.clear()

    def _emit(self, s: str) -> None:
        self.out.append(s)

    def _set_codepage(self, cp: str) -> None:
        self.codec = codec_of(int(cp)) or "cp1252"


def ole1_native(blob: bytes) -> bytes | None:
    """The native data of an OLE1 embedded object (MS-OLEDS 2.2.4), or None when it is not one."""
    try:
        _version, fmt = struct.unpack_from("<II", blob, 0)
        if fmt != 2:  # 1: linked object, 2: embedded, 5: static picture
            return None
        pos = 8
        for _ in range(3):  # ClassName, TopicName, ItemName: length-prefixed ANSI strings
            (n,) = struct.unpack_from("<I", blob, pos)
            pos += 4 + n
        (size,) = struct.unpack_from("<I", blob, pos)
        data = blob[pos + 4 : pos + 4 + size]
        return data if len(data) == size else None
    except struct.error:
        return None


def extract_rtf(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """The text of an RTF document, then each embedded object as a member ``object-N``."""
    data = f.read(ctx.limits.max_member_bytes + 1)
    if len(data) > ctx.limits.max_member_bytes:
        yield ctx.error(member, "limit_bytes", f"RTF larger than {ctx.limits.max_member_bytes} bytes")
        return
    reader = RtfText(ctx)
    yield from ctx.chunk_text(member, reader.read(data), "body")
    del data
    for i, blob in enumerate(reader.objects, start=1):
        native = ole1_native(blob)
        if not native:
            continue
        name = join_member(member, f"object-{i}")
        if (err := depth_error(ctx, name, depth + 1)) is not None:
            yield err
            continue
        yield from spooled(native, ctx, name, depth, recurse)
