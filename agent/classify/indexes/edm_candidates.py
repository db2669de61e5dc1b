"""EDM candidates: the normalised values a scanned text could share with a protected table.

The text is classified once, character by character, in numpy (digits, letters, separators); digit
groups, code runs and numeric dates are then found as arrays of token boundaries rather than with
per-position regular expressions, which ran at a few MB/s. Only candidates whose *shape* some indexed
column can have (its kind is indexed, a code of that length and digit-ness exists, a name of that many
words) ever become Python strings and keyed hashes: on ordinary text that is a handful per chunk.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from agent.classify.indexes.edm_normalise import (
    _EMAIL_AT,
    _LETTERS,
    MAX_RUN_GROUPS,
    _fold_token,
    compact_date,
    num_date,
    written_date,
)

#: where a candidate occurs in the chunk: (start, end)
Spans = list[tuple[int, int]]

_DIGIT, _UPPER, _LOWER, _RUNSEP, _DATESEP = 1, 2, 4, 8, 16
_CLASS = np.zeros(256, dtype=np.uint8)
_CLASS[ord("0") : ord("9") + 1] = _DIGIT
_CLASS[ord("A") : ord("Z") + 1] = _UPPER
_CLASS[ord("a") : ord("z") + 1] = _LOWER
for _ch in " .-/',()\xa0":
    _CLASS[ord(_ch)] |= _RUNSEP  # separators inside a written code: "CH93 0076-2011/6238"
for _ch in "./-":
    _CLASS[ord(_ch)] |= _DATESEP
_ALNUM = _DIGIT | _UPPER | _LOWER
_NOT_LETTER = bytes(c for c in range(128) if not chr(c).isalpha())
_NON_LETTERS = bytes.maketrans(_NOT_LETTER, b" " * len(_NOT_LETTER))  # bytes >= 0x80 (UTF-8) are kept
_WRITTEN_BEFORE = frozenset(" \t\n\r\f\v.,-/")  # what may stand before the year of "17 June 1946"
_NUM_DATES: dict[str, list[str]] = {}  # "05.11.2026" -> its yyyymmdd readings (logs repeat dates)
_CACHE_MAX = 100_000  # letter tokens remembered (known or not) between chunks: ~10 MB at most
MAX_LETTERS = 8
_NO_DIGITS = str.maketrans("", "", "0123456789")
_NAME_GAP = re.compile(r"[^\w@]{0,3}(?:[^\W\d_][^\w@]{1,3})?")  # separators, at most one initial ("A. ")


@dataclass(frozen=True)
class Shapes:
    """What an index can contain, so that text candidates of any other shape are never hashed.

    ``code_shapes`` holds (letters, length) of the normalised code values, letters counted up to
    ``MAX_LETTERS`` ("C100000000" is (1, 10), a Swiss IBAN (2, 21)); ``None`` (an index
    written before shapes were recorded) accepts every length up to 64.
    """

    kinds: frozenset[str]
    word_sizes: frozenset[int] = frozenset()
    code_shapes: frozenset[tuple[int, int]] | None = None


def code_shape(norm: str) -> tuple[int, int]:
    """(letters, length) of a normalised code: what a text candidate must have to be worth a hash."""
    return min(MAX_LETTERS, len(norm.translate(_NO_DIGITS))), len(norm)


def _classes(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Code points of ``text`` and their class bits (non-ASCII: only the few code separators)."""
    if text.isascii():
        cp = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        return cp, _CLASS[cp]
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cls = _CLASS[np.minimum(cp, 255)]
    cls[cp > 127] = 0
    cls[(cp == 0xA0) | (cp == 0x2019) | (cp == 0x202F)] = _RUNSEP
    return cp, cls


def _tokens(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of the maximal runs of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).view(np.int8)))
    return edges[0::2], edges[1::2]


class CandidateGenerator:
    """Normalised candidate values of scanned text (hash input -> spans), generated like the table's."""

    def __init__(self, shapes: Shapes, word_filter: Callable[[list[str]], set[str]]) -> None:
        self.shapes = shapes
        self.word_filter = word_filter
        self._seen: dict[bytes, tuple[tuple[str, str], ...]] = {}  # letter token -> its known (raw, folded)
        self._known: set[bytes] = set()  # the letter tokens with a known piece
        code_shapes = shapes.code_shapes
        longest = max((n for _, n in code_shapes), default=0) if code_shapes is not None else 64
        self._phones = "phone" in shapes.kinds
        self._longest = max(longest, 16 if self._phones else 0)
        #: [all digits?, length] -> a code of this shape is indexed
        self._code_ok = np.zeros((MAX_LETTERS + 1, self._longest + 1), dtype=bool)
        if "code" in shapes.kinds:
            if code_shapes is None:
                self._code_ok[:, 4:] = True
            for letters, n in code_shapes or ():
                if 4 <= n <= self._longest:
                    self._code_ok[letters, n] = True

    def __call__(self, text: str) -> dict[str, Spans]:
        out: dict[str, Spans] = {}
        kinds = self.shapes.kinds
        masked = _emails(text, out if "email" in kinds else None)
        want_codes = self._code_ok.any() or self._phones
        if "date" in kinds or want_codes:
            cp, cls = _classes(text)
            if "date" in kinds:
                _dates(text, cp, cls, out)
            if want_codes:
                self._codes(text, cls, masked, out)
        if "words" in kinds and self.shapes.word_sizes:
            self._words(text, masked, out)
        return out

    def _words(self, text: str, masked: list[tuple[int, int]], out: dict[str, Spans]) -> None:
        """Word n-grams (sorted folded tokens) made only of tokens known to occur in some indexed value.

        Letter tokens are split at C speed (bytes translate); whether a token is known is decided once
        per distinct token and remembered, so a chunk usually costs two set operations.
        """
        raw = set(text.encode("utf-8", "surrogatepass").translate(_NON_LETTERS).split())
        seen = self._seen
        if len(seen) > _CACHE_MAX:
            seen.clear()
            self._known.clear()
        new = raw - seen.keys()
        if new:
            self._learn(new)
        hits = raw & self._known
        if not hits:
            return
        toks = sorted({(p, p + len(r), f) for tok in hits for r, f in seen[tok] for p in _positions(text, r)})
        self._grams(text, toks, masked, out)

    def _learn(self, new: set[bytes]) -> None:
        """Remember, for each token not seen before, its letter runs that occur in some indexed value."""
        pieces: dict[bytes, list[tuple[str, str]]] = {}
        for tok in new:
            strs = (
                [tok.decode("ascii")] if tok.isascii() else _LETTERS.findall(tok.decode("utf-8", "replace"))
            )
            pieces[tok] = [(r, _fold_token(r)) for r in strs]
        known = self.word_filter(sorted({f for ps in pieces.values() for _, f in ps}))
        for tok, ps in pieces.items():
            self._seen[tok] = kept = tuple((r, f) for r, f in ps if f in known)
            if kept:
                self._known.add(tok)

    def _grams(
        self,
        text: str,
        toks: list[tuple[int, int, str]],
        masked: list[tuple[int, int]],
        out: dict[str, Spans],
    ) -> None:
        """The n-grams of known tokens (start, end, folded) of the sizes an indexed name has, each
        token joined to the next across at most a short name gap ("Anna-Maria", "Muster, Anna")."""
        sizes = self.shapes.word_sizes
        biggest = max(sizes)
        for i, (s, e, w) in enumerate(toks):
            if masked and _inside(masked, s):
                continue
            gram = [w]
            if 1 in sizes:
                out.setdefault("w:" + w, []).append((s, e))
            prev_end = e
            for j in range(i + 1, min(i + biggest, len(toks))):
                if toks[j][0] - prev_end > 6 or not _NAME_GAP.fullmatch(text, prev_end, toks[j][0]):
                    break
                prev_end = toks[j][1]
                gram.append(toks[j][2])
                if len(gram) in sizes:
                    out.setdefault("w:" + " ".join(sorted(gram)), []).append((s, prev_end))

    def _codes(
        self, text: str, cls: np.ndarray, masked: list[tuple[int, int]], out: dict[str, Spans]
    ) -> None:
        """Joins of 1..MAX_RUN_GROUPS consecutive groups of a code run, of an indexed code's shape."""
        starts, ends = _tokens((cls & _ALNUM) != 0)
        if starts.size == 0:
            return
        # per token (a segment runs to the next token's start: the gap holds no digit or capital)
        ndig = np.add.reduceat((cls & _DIGIT) != 0, starts, dtype=np.int32)
        nup = np.add.reduceat((cls & _UPPER) != 0, starts, dtype=np.int32)
        length = ends - starts
        # a group of a run has a digit, or is 2-4 capitals ("GB29 NWBK 6016"); only groups are kept
        group = (ndig > 0) | ((nup == length) & (length >= 2) & (length <= 4))
        starts, ends, length, ndig = starts[group], ends[group], length[group], ndig[group]
        n = starts.size
        if n == 0:
            return
        gap = starts[1:] - ends[:-1]  # between kept groups: 1-2 separators, or not one run
        first_sep = (cls[ends[:-1]] & _RUNSEP) != 0
        second_sep = (cls[np.minimum(ends[:-1] + 1, cls.size - 1)] & _RUNSEP) != 0
        linked = first_sep & ((gap == 1) | ((gap == 2) & second_sep))
        links = np.concatenate(([0], np.cumsum(linked)))
        clen = np.concatenate(([0], np.cumsum(length)))
        cdig = np.concatenate(([0], np.cumsum(ndig)))
        idx = np.arange(n)
        picks: list[tuple[int, int]] = []
        for size in range(1, MAX_RUN_GROUPS + 1):
            idx = idx[idx + size <= n]
            if idx.size == 0:
                break
            last = idx + size
            if size > 1:
                idx = idx[links[last - 1] - links[idx] == size - 1]  # still inside one run
                last = idx + size
            total = clen[last] - clen[idx]
            keep = total <= self._longest
            idx, last, total = idx[keep], last[keep], total[keep]
            letters = total - (cdig[last] - cdig[idx])
            all_digits = letters == 0
            ok = self._code_ok[np.minimum(letters, MAX_LETTERS), total]
            if self._phones:
                ok |= all_digits & (total >= 9)
            ok &= (cdig[last] - cdig[idx]) > 0  # not letters only
            picks.extend(zip(idx[ok].tolist(), [size] * int(ok.sum()), strict=True))
        code_shapes = self.shapes.code_shapes
        codes = "code" in self.shapes.kinds
        s_list, e_list = starts.tolist(), ends.tolist()
        for i, size in picks:
            s, e = s_list[i], e_list[i + size - 1]
            if masked and _inside(masked, s):
                continue
            joined = "".join(text[s_list[j] : e_list[j]] for j in range(i, i + size)).upper()
            digits = joined.isdigit()
            if codes and (code_shapes is None or code_shape(joined) in code_shapes):
                out.setdefault("c:" + joined, []).append((s, e))
            if self._phones and digits and len(joined) >= 9:
                out.setdefault("p:" + joined[-9:], []).append((s, e))


def _dates(text: str, cp: np.ndarray, cls: np.ndarray, out: dict[str, Spans]) -> None:
    """Numeric (d.m.y, m/d/y, y-m-d), compact (yyyymmdd) and written-month dates, from digit groups."""
    starts, ends = _tokens((cls & _DIGIT) != 0)
    n = starts.size
    if n == 0:
        return
    length = ends - starts
    if n >= 3:
        _separated_dates(text, cp, cls, starts, ends, length, out)
    for i in np.flatnonzero(length == 8).tolist():
        s, e = int(starts[i]), int(ends[i])
        o = compact_date(text[s:e])
        if o:
            out.setdefault("d:" + o, []).append((s, e))
    _written_dates(text, cp, starts, ends, length, out)


def _separated_dates(
    text: str,
    cp: np.ndarray,
    cls: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    length: np.ndarray,
    out: dict[str, Spans],
) -> None:
    """a<sep>b<sep>c: same separator, a 1-4 digits (not after "."), b 1-2, c 2-4."""
    size = cls.size
    prev = np.where(starts > 0, cp[np.maximum(starts - 1, 0)], 0)
    e0, e1 = ends[:-2], ends[1:-1]
    ok = (starts[1:-1] == e0 + 1) & (starts[2:] == e1 + 1)
    ok &= ((cls[np.minimum(e0, size - 1)] & _DATESEP) != 0) & (
        cp[np.minimum(e0, size - 1)] == cp[np.minimum(e1, size - 1)]
    )
    ok &= (length[:-2] <= 4) & (length[1:-1] <= 2) & (length[2:] >= 2) & (length[2:] <= 4) & (prev[:-2] != 46)
    trip = np.flatnonzero(ok)
    if trip.size:
        _numeric_dates(text, cp, starts, ends, length, trip, out)
    if len(_NUM_DATES) > 50_000:
        _NUM_DATES.clear()


def _written_dates(
    text: str, cp: np.ndarray, starts: np.ndarray, ends: np.ndarray, length: np.ndarray, out: dict[str, Spans]
) -> None:
    """Written months: they end in a year 1800-2199 that is not part of a numeric date ("2024-05-01",
    "1.5.2024")."""
    four = np.flatnonzero(length == 4)
    if four.size == 0:
        return
    size = cp.size
    d0, d1 = cp[starts[four]], cp[starts[four] + 1]
    four = four[((d0 == 49) & (d1 >= 56)) | ((d0 == 50) & (d1 <= 49))]  # "18", "19", "20", "21"
    for i in four.tolist():
        s, e = int(starts[i]), int(ends[i])
        if (
            s < 2
            or text[s - 1] not in _WRITTEN_BEFORE
            or not (text[s - 2].isalnum() or ord(text[s - 2]) > 127)
        ):
            continue  # "June 1946", "June 17, 1946", "17.6.1946" all have a separator after a word/day
        if text[s - 2].isdigit() and text[s - 1] in "-./":
            continue
        if e + 1 < size and text[e] in "-./" and text[e + 1].isdigit():
            continue
        found = written_date(text, s, e)
        if found:
            out.setdefault("d:" + found[0], []).append((found[1], found[2]))


def _numeric_dates(
    text: str,
    cp: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    length: np.ndarray,
    trip: np.ndarray,
    out: dict[str, Spans],
) -> None:
    """Read each distinct written form of the a<sep>b<sep>c triples at ``trip`` once (logs repeat dates)."""
    value = []
    for j in range(3):  # each part's value from its (at most 4) digits, plus its length
        s, n = starts[trip + j], length[trip + j]
        v = np.zeros(trip.size, dtype=np.int64)
        for d in range(4):
            digit = cp[np.minimum(s + d, cp.size - 1)].astype(np.int64) - 48
            v = np.where(d < n, v * 10 + digit, v)
        value.append(v * 8 + n)
    key = ((value[0] * 1000 + value[1]) * 100_000 + value[2]) * 64 + (cp[ends[trip]].astype(np.int64) & 63)
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(inverse, minlength=uniq.size)))).tolist()
    begin, end = starts[trip].tolist(), ends[trip + 2].tolist()
    for u, i in enumerate(first.tolist()):
        written = text[begin[i] : end[i]]
        found = _NUM_DATES.get(written)
        if found is None:
            sep = text[int(ends[trip[i]])]
            a, b, c = written.split(sep)
            found = _NUM_DATES[written] = num_date(a, sep, b, c)
        if found:
            spans = [(begin[k], end[k]) for k in order[bounds[u] : bounds[u + 1]].tolist()]
            for o in found:
                out.setdefault("d:" + o, []).extend(spans)


def _emails(text: str, out: dict[str, Spans] | None) -> list[tuple[int, int]]:
    """Spans of e-mail addresses (parsed around each "@" only: a full regex scan is slow on big texts)."""
    masked: list[tuple[int, int]] = []
    at = text.find("@")
    while at >= 0:
        begin = max(0, at - 80)
        m = _EMAIL_AT.search(text, begin, at + 256)
        if m and m.start() <= at < m.end():
            if out is not None:
                out.setdefault("e:" + m.group(0).casefold().strip(".'"), []).append((m.start(), m.end()))
            masked.append((m.start(), m.end()))
            at = text.find("@", m.end())
        else:
            at = text.find("@", at + 1)
    return masked


def _inside(spans: list[tuple[int, int]], s: int) -> bool:
    """Whether ``s`` lies in one of the sorted, disjoint ``spans``."""
    i = bisect.bisect_right(spans, (s, 1 << 62)) - 1
    return i >= 0 and spans[i][0] <= s < spans[i][1]


def _positions(text: str, raw: str) -> Iterator[int]:
    """Starts of ``raw`` in ``text`` as a whole letter token."""
    n = len(raw)
    p = text.find(raw)
    while p >= 0:
        if (p == 0 or not text[p - 1].isalpha()) and (p + n >= len(text) or not text[p + n].isalpha()):
            yield p
        p = text.find(raw, p + n)
