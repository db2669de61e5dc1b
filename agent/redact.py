"""Redacted excerpts and keyed fingerprints: the only form in which a matched value leaves memory.

A fingerprint is HMAC-SHA256(key, entity + normalised value), truncated: repeated leaks of the same
value correlate across files and runs, but nobody without the key can test a guess against it
(low-entropy values such as dates or short account numbers cannot be brute-forced offline).
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from agent.models import UNSCANNED_ENTITY

KEY_BYTES = 32
_SHA256_BLOCK = 64
#: Characters a mask may keep at the edges (ASCII letters and digits) and separators it shows.
_ASCII_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_SHOWN_SEPARATORS = frozenset(" -./:_")


def load_or_create_key(path: str | os.PathLike[str]) -> bytes:
    """Read a secret key file, creating it (mode 0600, parents 0700) when absent."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = secrets.token_bytes(KEY_BYTES)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
        return data
    if len(data) < 16:
        raise ValueError(f"key file {p} is too short ({len(data)} bytes); expected {KEY_BYTES}")
    return data


def default_key_path() -> Path:
    """Where `dropwarden scan` keeps its fingerprint key when none is given."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "dropwarden" / "fingerprint.key"


_PRESENTATION = re.compile(r"[\s\-_.]")


#: The ASCII characters :data:`_PRESENTATION` matches (whitespace, \x1c-\x1f too, and ``-``, ``_``, ``.``).
_ASCII_PRESENTATION = bytes(c for c in range(128) if _PRESENTATION.match(chr(c)))


def normalise_value(value: str) -> str:
    """Fold the presentation of a value (spacing, dashes, case) so the same value correlates.

    ASCII values (most) drop those characters with a bytes translation: 2x faster than the regex, and
    the evaluator folds every candidate value (its distinct-value key)."""
    if value.isascii():
        compact = value.encode("ascii").translate(None, _ASCII_PRESENTATION).decode("ascii")
    else:
        compact = _PRESENTATION.sub("", value)
    return compact.upper() if len(compact) <= 64 else value.strip()


def fingerprint_message(entity: str, value: str) -> str:
    """What a fingerprint is the keyed hash of: the entity and the value's presentation folded."""
    return f"{entity}\x00{normalise_value(value)}"


def mask(value: str, entity: str = "") -> str:
    """Mask a value, keeping only enough to recognise its kind (never enough to use it).

    Long values keep their first 4 and last 4 alphanumerics (a card: ``4111 **** **** 1111``);
    values of 12 characters or fewer keep at most 2 at each end; secrets keep only a short prefix.
    Separators are kept so the shape stays readable.
    """
    if entity == UNSCANNED_ENTITY:  # the value is our own error reason code, never content
        return f"not read completely: {value}"
    alnum_positions = [i for i, c in enumerate(value) if c in _ASCII_ALNUM]
    n = len(alnum_positions)
    if entity in SECRET_ENTITIES:
        keep_head, keep_tail = min(4, n // 4), 0
    elif n >= 13:
        keep_head, keep_tail = 4, 4
    elif n >= 6:
        keep_head, keep_tail = 2, 2
    else:
        keep_head, keep_tail = 0, 0
    keep = set(alnum_positions[:keep_head]) | set(alnum_positions[n - keep_tail :] if keep_tail else ())
    out = [c if i in keep or c in _SHOWN_SEPARATORS else "*" for i, c in enumerate(value)]
    masked = "".join(out)
    if len(masked) > 48:  # a PEM block or long token: the shape is enough
        masked = masked[:24] + f"…[{len(value)} chars]"
    return masked.replace("\n", " ")


#: Entities whose values are secrets: keep (almost) nothing of them.
SECRET_ENTITIES = frozenset(
    {
        "PRIVATE_KEY",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "CLOUD_KEY",
        "AZURE_KEY",
        "GCP_SERVICE_KEY",
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "SLACK_TOKEN",
        "JWT",
        "PASSWORD",
        "CONNECTION_STRING",
        "SECRET",
        "API_KEY",
        "API_TOKEN",
        "KUBERNETES_SECRET",
    }
)


@dataclass(frozen=True)
class Redactor:
    """Turns raw values into safe excerpts and keyed fingerprints. Pure given its key."""

    key: bytes
    context_chars: int = 24
    #: Finders of values the agent knows are protected (the EDM indexes' customer fields), as spans
    #: of a text: blanked in every excerpt, labelled or not (a client's name in free text).
    protected: tuple[Callable[[str], Sequence[tuple[int, int]]], ...] = field(default=(), compare=False)

    def fingerprint(self, entity: str, value: str) -> str:
        return self.fingerprint_of(fingerprint_message(entity, value))

    def fingerprint_of(self, message: str) -> str:
        """The fingerprint of a :func:`fingerprint_message` (the evaluator has it already: its key for
        distinct values). HMAC-SHA256 (RFC 2104) from the key's padded states, hashed once: a scan
        fingerprints every distinct value, and ``hmac.digest`` re-derives them on each call (3x)."""
        inner, outer = self._hmac_pads
        h = inner.copy()
        h.update(message.encode("utf-8", "surrogatepass"))  # a value read from a name may hold one
        o = outer.copy()
        o.update(h.digest())
        return "hmac-sha256:" + o.hexdigest()[:32]

    @cached_property
    def _hmac_pads(self) -> tuple[hashlib._Hash, hashlib._Hash]:
        """SHA-256 states after the key XOR ipad and the key XOR opad blocks."""
        key = hashlib.sha256(self.key).digest() if len(self.key) > _SHA256_BLOCK else self.key
        key = key.ljust(_SHA256_BLOCK, b"\0")
        return (
            hashlib.sha256(bytes(b ^ 0x36 for b in key)),
            hashlib.sha256(bytes(b ^ 0x5C for b in key)),
        )

    def __getstate__(self) -> dict[str, object]:
        """Pickled without the cached hash states (hashlib objects do not pickle)."""
        state = dict(self.__dict__)
        state.pop("_hmac_pads", None)
        return state

    def excerpt(
        self,
        value: str,
        entity: str,
        context: str = "",
        start_in_context: int = -1,
        other_spans: Sequence[tuple[int, int]] = (),
    ) -> str:
        """The masked value, with a little surrounding text when given.

        The surrounding text is scrubbed of digits and token-like runs, and every other detected
        value in it (``other_spans``, relative to ``context``: a BIC, a name, a second IBAN) is blanked
        out entirely, so an excerpt never carries a neighbouring value in clear.
        """
        masked = mask(value, entity)
        if not context or start_in_context < 0:
            return masked
        start, size, side = start_in_context, len(value), self.context_chars
        # field values are masked over a wider window than shown, so a label just outside still counts
        wide_lo = max(0, start - side - _FIELD_REACH)
        wide = context[wide_lo : start + size + side + _FIELD_REACH]
        fields = field_spans(wide, start - wide_lo, size)
        fields += (span for find in self.protected for span in find(wide))  # a known customer's name
        # only the few characters shown on each side matter: blank there, not over the whole window
        lo = max(0, start - side)
        others = [(s - wide_lo, e - wide_lo) for s, e in other_spans]  # they were relative to `context`
        shown = _blanked(wide, (lo - wide_lo, start + size + side - wide_lo), fields, others)
        at = start - lo
        return f"{_scrub(shown[:at])}[{masked}]{_scrub(shown[at + size :])}"


def _blanked(
    text: str, view: tuple[int, int], fields: Iterable[tuple[int, int]], others: Iterable[tuple[int, int]]
) -> str:
    """``text[view[0]:view[1]]`` with the letters and digits inside the ``fields`` spans as ``*``
    (labelled and protected values) and every character but white space inside the ``others`` spans
    (other detected values); offsets are in ``text``. A span is visited only where it meets the view:
    the window searched for labels is ~300 characters, the view ~50. The value's own characters are
    never shown (the excerpt puts its mask there), so whatever covers them does not matter."""
    view_lo = view[0]
    shown = text[view_lo : view[1]]
    chars: list[str] | None = None
    for spans, blanks in ((fields, str.isalnum), (others, _not_space)):
        for a, b in spans:
            for i in range(max(0, a - view_lo), min(len(shown), b - view_lo)):
                if blanks(shown[i]):
                    if chars is None:
                        chars = list(shown)
                    chars[i] = "*"
    return shown if chars is None else "".join(chars)


def _not_space(c: str) -> bool:
    return not c.isspace()


#: How far before the shown context a field label may stand and still mask the value it labels.
_FIELD_REACH = 120
#: A label's separator (``Holder:``, ``name=``), not a URL's ``://`` nor a ``::`` path: a ``:`` or
#: ``=`` neither after ``:`` or ``/`` nor before ``:``, ``/`` or ``=`` (see :func:`_field_separators`).
_FIELD_SEP = re.compile(r"[:=]")
#: Where a field's value ends: a line, a cell, or a list separator.
_FIELD_END = re.compile(r"[\n\t;|]")


def _field_separators(text: str) -> list[int]:
    """Offsets of the label separators in ``text``: ``(?<![:/])[:=](?![:/=])``, with the neighbours
    checked after a plain character search (a regex opening with a lookbehind tests it at every
    position: 5x slower on an excerpt's window, and every reported excerpt masks one)."""
    n = len(text)
    return [
        i
        for m in _FIELD_SEP.finditer(text)
        if ((i := m.start()) == 0 or text[i - 1] not in ":/") and (i + 1 == n or text[i + 1] not in ":/=")
    ]


def field_spans(text: str, own_start: int, own_len: int) -> list[tuple[int, int]]:
    """The spans of the values of labelled fields and of the other cells of a record: masked in an
    excerpt (their letters and digits), labels readable.

    Under bank secrecy the name beside an account is itself the secret (``Holder: Noah Rossi IBAN: ...``).
    Structure decides, not a list of words in some languages: whatever follows a label's ``:`` or ``=``
    up to the end of the field (line, tab, ``;``, ``|``, or the next label: the last word before the
    next separator) is a value, and so is every other cell of a tab-separated record (CSV and sheet
    rows). The matched value itself (own span) is left to :func:`mask`.
    """
    spans: list[tuple[int, int]] = []
    seps = _field_separators(text)
    for k, sep in enumerate(seps):
        end_m = _FIELD_END.search(text, sep + 1)
        end = end_m.start() if end_m else len(text)
        if k + 1 < len(seps) and seps[k + 1] < end:  # the next label ends this value
            words_end = seps[k + 1]
            end = text.rfind(" ", sep + 1, words_end) if " " in text[sep + 1 : words_end].strip() else sep + 1
            end = max(end, sep + 1)
        spans.append((sep + 1, end))
    if "\t" in text:  # a record: every cell but the one holding the value is a value too
        line_start = text.rfind("\n", 0, own_start) + 1
        line_end = text.find("\n", own_start)
        line_end = len(text) if line_end < 0 else line_end
        cell_start = text.rfind("\t", line_start, own_start) + 1 or line_start
        cell_end = text.find("\t", own_start, line_end)
        cell_end = line_end if cell_end < 0 else cell_end
        spans += [(line_start, cell_start), (cell_end, line_end)]
    return spans


#: A whole run of six or more token characters that is not all letters (a word stays readable).
_TOKEN_RUN = re.compile(r"(?<![A-Za-z0-9+/=_\-])(?=[A-Za-z]*[0-9+/=_\-])[A-Za-z0-9+/=_\-]{6,}")
_DIGITS = re.compile(r"\d")


def scrub_name(name: str) -> str:
    """A name no detector could search (its classification failed): every digit and token-like run
    masked, as in an excerpt's surroundings, its spaces kept; a value it may hold is never shown."""
    return _DIGITS.sub("#", _TOKEN_RUN.sub(lambda m: "*" * (m.end() - m.start()), name))


def _scrub(text: str) -> str:
    """Context around a value may hold other values: mask digits and long token-like runs."""
    lead = " " if text[:1].isspace() else ""
    trail = " " if text[-1:].isspace() else ""
    text = lead + " ".join(text.split()) + trail if text.strip() else (" " if text else "")
    text = _TOKEN_RUN.sub(lambda m: "*" * (m.end() - m.start()), text)
    return _DIGITS.sub("#", text)


# -- names as they are shown ----------------------------------------------------------------------
# File names are bytes on Linux. Inside the agent they travel as str decoded with surrogateescape
# (os.fsdecode), which is lossless; the journal stores the bytes themselves. Whatever leaves for a
# program (JSON alerts, reports, the audit chain) gets `shown()`: undecodable bytes as the four
# characters \xNN, so the output is valid UTF-8 JSON. Whatever a person reads (text report, console
# logs, `quarantine list`, the tombstone) gets `printable()`: control characters too, so a name with
# a newline or an escape sequence cannot forge a line or drive the terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def shown(name: str) -> str:
    """``name`` as valid Unicode: bytes that were not UTF-8 (surrogate escapes) as ``\\xNN``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        pass
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # surrogates that did not come from a file name: \udXXX
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def _escape_control(m: re.Match[str]) -> str:
    c = m.group()
    return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def printable(text: str) -> str:
    """``text`` safe for a terminal or a line-based report: :func:`shown` plus control and
    bidirectional-override characters escaped (``\\n``, ``\\x1b``, ``\\u202e``)."""
    return _CONTROL.sub(_escape_control, shown(text))


#: What JSON leaves raw (ensure_ascii=False) that :data:`_CONTROL` escapes: all but C0, which JSON
#: escapes inside strings and which stands as whitespace between its tokens (indent).
_JSON_RAW = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _json_escape(m: re.Match[str]) -> str:
    return f"\\u{ord(m.group()):04x}"


def json_safe(encoded: str) -> str:
    """JSON text (``ensure_ascii=False``) with C1 controls, line and paragraph separators and bidi
    controls written as ``\\uXXXX``: the same value once parsed, but a terminal showing the line
    (``cat alerts.jsonl``) runs no escape (C1 CSI), a reader splitting on U+2028 or U+0085 (Python's
    ``str.splitlines``, older JavaScript) cuts no record, and no name reads backwards. JSON escapes
    C0 controls itself; these characters can only stand inside its strings."""
    if encoded.isascii() and "\x7f" not in encoded:  # DEL is ASCII
        return encoded
    return _JSON_RAW.sub(_json_escape, encoded)
