"""Cheap trigger scan that limits the expensive Presidio pass to windows around possible matches.

One google-re2 pass per entity finds *trigger hits* (e.g. twelve digits for cards, ``@`` for e-mail).
Only windows around hits are analysed, and only with the entities whose trigger fired there. The result
is identical to analysing the whole text, because of three contracts (checked by a Hypothesis test):

1. every match of an entity's recognizers contains a substring matching its trigger (triggers have no
   anchors or lookarounds, so that is a property of the matched text alone);
2. every match is at most ``max_len`` characters long, or (``max_len=None``) contains no whitespace;
3. recognizers and the context enhancer look at most :data:`MARGIN` characters outside a match.

A *covering* trigger (``covering=True``) replaces 1 and 2 with a stronger contract: every match lies
inside ``[hit.start - max_len, hit.end + max_len)`` of one hit of the leftmost-first scan of the whole
text. The phone trigger is one: a greedy run of digits and separators holds all of every phone match
in it but the leading "+" or "(", so the phone regex runs over each run and a few characters around
it, not over ``MAX_LEN`` characters either side of every seventh digit. The window formula is the same.

Digit triggers (cards, account numbers, SSNs) are located inside those runs only
(``in_digit_runs=True``): each of their hits is seven or more digits joined by single separators, so
it lies inside one :data:`DIGIT_RUN` hit, and a leftmost scan of the runs (joined by newlines, which
no such trigger matches) finds the same hits as a scan of the whole text, over a few per cent of it.

A re2 scan reports leftmost non-overlapping hits, so every position where a trigger match starts lies
inside (or at the start of) a reported hit. A window spans ``[hit.start - max_len - MARGIN, hit.end +
max_len + MARGIN)`` (or the whitespace-free run around the hit, plus MARGIN), so it holds every match
containing that hit together with everything its recognizer and the enhancer look at. Conversely a match
found in a window contains a hit, so it is at least MARGIN away from the window's cut edges and sees the
same text as in the whole document. Merging windows (overlapping or close) keeps both properties.

The classifier's fast path (presidio.py) runs a recognizer's regexes only over the *regions* of these
windows, with a margin of the recognizer's regex reach (:func:`regex_reach`: how far its lookarounds,
``\b``, ``^`` and ``$`` look outside a match) instead of :data:`MARGIN`; scoring and context words
then look at the whole text, so they need no margin at all.

An RE2 set first tells, in one pass over the text, which triggers occur at all; only those are then
located with their own pass. The passes run on UTF-8 bytes (google-re2's ``str`` API re-encodes the
text and converts offsets on every call and every match: 4x slower); hit offsets are mapped back to
characters only for non-ASCII text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from re import _constants as _C  # type: ignore[attr-defined]
from re import _parser as _P  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, cast

import re2

if TYPE_CHECKING:
    from sre_parse import SubPattern  # typeshed's name for re._parser, which it does not describe

#: Characters any recognizer or the context enhancer may look at outside a match (base.MAX_LOOK = 256,
#: context.MAX_CONTEXT_CHARS + tokenizer.MAX_TOKEN = 224), with room to spare.
MARGIN = 320
#: Windows closer than this are merged: fewer Presidio calls, same result.
MERGE_GAP = 512
#: Memory budget of the multi-pattern set (RE2's default, 8 MB, is tight for ~25 counted patterns).
SET_MAX_MEM = 64 << 20


#: A run of seven or more digits joined by at most three separator characters (greedy: the whole
#: run). The phone recognizer's covering trigger; digit triggers are located inside its hits.
DIGIT_SEP = "[ .\\-/()\u00a0]"  # one separator; a literal no-break space: re2 has no \\u escape
DIGIT_RUN = rf"\d(?:{DIGIT_SEP}{{0,3}}\d){{6,}}"

#: ``re._parser.parse`` (one argument: the pattern, no flags), or a cache of its trees.
RegexParser = Callable[[str], "SubPattern"]

_LAST_SPACE = re.compile(r"\s\S*\Z")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Trigger:
    """Prefilter contract of one entity (see the module docstring)."""

    entity: str
    pattern: str
    max_len: int | None  # longest match; for a covering trigger, how far a match may pass its hit
    reach: int | None = None  # margin around each hit; None: the Prefilter's margin
    covering: bool = False
    in_digit_runs: bool = False  # every hit lies inside a DIGIT_RUN hit: locate it there only


def hit_spans(rx: re2._Regexp, data: bytes) -> list[tuple[int, int]]:
    """``[m.span() for m in rx.finditer(data)]`` without building a Match object per hit.

    google-re2's ``finditer`` loops over its C++ ``Match`` in Python and wraps every hit in a
    ``_Match``: ~4 us a hit, tens of thousands of hits per MB for digit triggers. This is the same
    loop (same advance rule after an empty match) on the raw spans; it falls back to ``finditer``
    if a future wrapper renames those internals.
    """
    regexp, anchor, null = (
        getattr(rx, "_regexp", None),
        getattr(re2, "_Anchor", None),
        getattr(re2, "_NULL_SPAN", None),
    )
    if regexp is None or anchor is None or null is None:
        return [m.span() for m in rx.finditer(data)]
    match, unanchored, end = regexp.Match, anchor.UNANCHORED, len(data)
    out: list[tuple[int, int]] = []
    pos = 0
    while True:
        span = match(unanchored, data, pos, end)[0]
        if span == null:
            return out
        out.append(span)
        if pos == end:
            return out
        pos = pos + 1 if pos == span[1] else span[1]


def _run_start(text: str, floor: int, pos: int) -> int:
    """Start of the whitespace-free run ending at ``pos`` (not before ``floor``).

    Looks back in growing blocks: one search from ``floor`` would rescan the whole gap since the
    previous hit, which for sparse hits is the whole text again.
    """
    block = 64
    while True:
        lo = max(floor, pos - block)
        before = _LAST_SPACE.search(text, lo, pos)
        if before:
            return before.start() + 1
        if lo == floor:
            return floor
        block *= 8


def unicode_digits(pattern: str) -> str:
    """A trigger with re2's ASCII ``\\d`` widened to every decimal digit (``\\p{Nd}``, also in classes).

    Recognizers run on Python's ``re``/``regex``, whose ``\\d`` matches Arabic-Indic or full-width digits
    too (and ``int()`` reads them): a narrower trigger would let the prefilter miss such a value.
    """
    return re.sub(r"(?<!\\)((?:\\\\)*)\\d", r"\1\\p{Nd}", pattern)


class Prefilter:
    """Finds the windows of a text worth analysing, per entity."""

    def __init__(self, triggers: Iterable[Trigger], margin: int = MARGIN, merge_gap: int = MERGE_GAP) -> None:
        self.triggers = tuple(triggers)
        # Each trigger's own regex, compiled the first time the set reports it (most texts hold a few
        # of the ~230 triggers: compiling them all cost every launch ~0.01 CPU s).
        self._located: list[re2._Regexp | None] = [None] * len(self.triggers)
        # One multi-pattern pass says which triggers occur at all; only those are then located. The
        # last pattern matches at the end of every text: when RE2's DFA gives up (out of memory, e.g.
        # on hostile input) Set.Match returns nothing, and the missing sentinel tells us to run them all.
        options = re2.Options()
        options.max_mem = SET_MAX_MEM
        self._set = re2.Set.SearchSet(options)
        for t in self.triggers:
            self._set.Add(unicode_digits(t.pattern))
        self._sentinel = self._set.Add(r"\z")
        self._set.Compile()
        for t in self.triggers:
            if t.in_digit_runs and t.max_len is None:
                raise ValueError(f"trigger of {t.entity}: in_digit_runs needs a max_len")
        self._digit_runs = re2.compile(unicode_digits(DIGIT_RUN))
        per_entity: dict[str, int] = {}
        for t in self.triggers:
            per_entity[t.entity] = per_entity.get(t.entity, 0) + 1
        self._shared = frozenset(e for e, n in per_entity.items() if n > 1)  # entities of several triggers
        self.margin = margin
        self.merge_gap = merge_gap

    def spans(self, text: str) -> dict[str, list[tuple[int, int]]]:
        """Per entity: sorted, merged ``(start, end)`` windows holding every possible match and its context.

        Windows of one entity are merged when they overlap or lie within ``merge_gap`` of each other, so
        a result and any result of the same entity containing it are analysed in the same window.
        """
        out: dict[str, list[tuple[int, int]]] = {}
        ascii_only = text.isascii()  # then byte offsets are character offsets
        data = text.encode("ascii") if ascii_only else text.encode("utf-8", "surrogatepass")
        chars = None if ascii_only else _CharOffsets(data)
        present = set(self._set.Match(data))
        if self._sentinel in present:  # the set ran to the end: only the triggers it saw occur at all
            indices: Iterable[int] = sorted(present - {self._sentinel})
        else:
            indices = range(len(self.triggers))
        runs: _DigitRuns | None = None
        for index in indices:
            trig, rx = self.triggers[index], self._located[index] or self._locator(index)
            merged: list[tuple[int, int]] = out.setdefault(trig.entity, [])
            margin = self.margin if trig.reach is None else trig.reach
            if trig.max_len is None:
                self._run_windows(merged, text, hit_spans(rx, data), chars, margin)
                continue
            if trig.in_digit_runs or trig.pattern == DIGIT_RUN:
                runs = _DigitRuns(self._digit_runs, data) if runs is None else runs
                hits = runs.hits(rx) if trig.in_digit_runs else runs.spans
            else:
                hits = hit_spans(rx, data)
            merged.extend(self._bounded(hits, chars, trig.max_len + margin, len(text)))
        return self._joined(out)

    def _locator(self, index: int) -> re2._Regexp:
        """The compiled regex of trigger ``index`` (compiled once, on first use)."""
        rx = self._located[index] = re2.compile(unicode_digits(self.triggers[index].pattern))
        return rx

    def _run_windows(
        self,
        merged: list[tuple[int, int]],
        text: str,
        hits: list[tuple[int, int]],
        chars: _CharOffsets | None,
        margin: int,
    ) -> None:
        """Appends to ``merged`` the window of the whitespace-free run around each hit, plus ``margin``.

        ``hits``: byte spans in text order (``chars`` maps them to characters for non-ASCII text).
        """
        n = len(text)
        last_end = -1
        for s, e in hits:
            if chars is not None:
                s, e = chars.at(s), chars.at(e)
            if s < last_end - margin:  # inside the run already covered by the previous window
                continue
            run_start = _run_start(text, max(0, last_end), s)
            after = _SPACE.search(text, e)
            run_end = after.start() if after else n
            lo, hi = max(0, run_start - margin), min(n, run_end + margin)
            last_end = hi
            if merged and lo <= merged[-1][1] + self.merge_gap:  # hits come in text order
                if hi > merged[-1][1]:
                    merged[-1] = (merged[-1][0], hi)
            else:
                merged.append((lo, hi))

    def _joined(self, out: dict[str, list[tuple[int, int]]]) -> dict[str, list[tuple[int, int]]]:
        """``out`` without entities that have no window, windows of several triggers sorted and re-merged."""
        for entity, ws in list(out.items()):
            if not ws:
                del out[entity]
            elif entity in self._shared:
                out[entity] = _merge_sorted(sorted(ws), self.merge_gap)
        return out

    def _bounded(
        self, hits: list[tuple[int, int]], chars: _CharOffsets | None, reach: int, n: int
    ) -> list[tuple[int, int]]:
        """Merged windows ``[hit start - reach, hit end + reach)`` of every hit.

        ``hits``: byte spans in text order, so window starts and ends never decrease: a window opens a
        new group when it starts more than ``merge_gap`` after the end of the group so far (one
        comparison per hit; dense triggers such as phone numbers fire tens of thousands of times per MB).
        """
        out: list[tuple[int, int]] = []
        gap = self.merge_gap
        lo_group = top = -1
        for s, e in hits:
            if chars is not None:  # byte offsets -> character offsets
                s, e = chars.at(s), chars.at(e)
            lo = s - reach if s > reach else 0
            hi = e + reach if e + reach < n else n
            if lo_group < 0 or lo > top + gap:
                if lo_group >= 0:
                    out.append((lo_group, top))
                lo_group, top = lo, hi
            elif hi > top:
                top = hi
        if lo_group >= 0:
            out.append((lo_group, top))
        return out


class _CharOffsets:
    """Byte offset -> character offset in UTF-8 ``data`` (of non-ASCII text): the number of bytes
    before it that start a character (all but the continuation bytes ``0b10xxxxxx``).

    Counted from a checkpoint every :data:`_BLOCK` bytes (taken on first use), or from the previous
    offset asked when that is nearer: the offsets of one trigger come in text order.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._checkpoints: list[int] | None = None
        self._last = (0, 0)  # (byte offset, character offset) of the previous answer

    def at(self, b: int) -> int:
        last_b, last_c = self._last
        if not last_b <= b < last_b + _BLOCK:
            points = self._checkpoints if self._checkpoints is not None else self._count_blocks()
            last_b = b - b % _BLOCK
            last_c = points[last_b // _BLOCK]
        c = last_c + len(self._data[last_b:b].translate(None, _CONTINUATION))
        self._last = (b, c)
        return c

    def _count_blocks(self) -> list[int]:
        data, points, c = self._data, [0], 0
        for lo in range(0, len(data), _BLOCK):
            c += len(data[lo : lo + _BLOCK].translate(None, _CONTINUATION))
            points.append(c)
        self._checkpoints = points
        return points


_BLOCK = 256
_CONTINUATION = bytes(range(0x80, 0xC0))


def _merge_sorted(windows: list[tuple[int, int]], gap: int) -> list[tuple[int, int]]:
    """Sorted windows with those that overlap or lie within ``gap`` of each other joined."""
    joined = [windows[0]]
    for lo, hi in windows[1:]:
        if lo <= joined[-1][1] + gap:
            joined[-1] = (joined[-1][0], max(joined[-1][1], hi))
        else:
            joined.append((lo, hi))
    return joined


class _DigitRuns:
    """The :data:`DIGIT_RUN` hits of one text, and digit triggers located in them only.

    The runs are joined by newlines into one buffer (built once per text); a hit there maps back
    through the start of its run.
    """

    def __init__(self, runs_rx: re2._Regexp, data: bytes) -> None:
        self.spans = hit_spans(runs_rx, data)
        self._joined = b"\n".join(data[s:e] for s, e in self.spans)
        self._starts: list[int] = []  # where each run starts in the joined buffer
        at = 0
        for s, e in self.spans:
            self._starts.append(at)
            at += e - s + 1

    def hits(self, rx: re2._Regexp) -> list[tuple[int, int]]:
        """Byte spans of ``rx``'s hits in the whole text (each lies inside one run), in text order."""
        if not self.spans:
            return []
        out: list[tuple[int, int]] = []
        starts, spans, k = self._starts, self.spans, 0
        last = len(starts) - 1
        for s, e in hit_spans(rx, self._joined):
            while k < last and starts[k + 1] <= s:
                k += 1
            shift = spans[k][0] - starts[k]
            out.append((s + shift, e + shift))
        return out


def regex_reach(pattern: str, parse: RegexParser | None = None) -> int | None:
    """How many characters a regex may look at outside its match, or None (unbounded or unparsable).

    Lookarounds look as far as their longest match; ``\b``, ``^``, ``$``, ``\\A`` and ``\\Z`` one character.
    Parsed with ``re``'s parser, or read from ``parse``, a cache of its flag-less trees (walked here,
    never mutated): Presidio's ``regex`` patterns that it cannot read count as unbounded.
    """
    try:
        tree: SubPattern = (parse or _P.parse)(pattern)
    except (re.error, RecursionError, OverflowError):
        return None
    return _reach(tree.data)


# The parser's nodes are (opcode, argument) pairs whose argument's shape depends on the opcode;
# typeshed types it as a union that does not name every shape, so each walker below casts it to the
# shape its opcode has (see Lib/re/_parser.py).
def _reach(items: Sequence[tuple[object, object]]) -> int | None:
    best = 0
    for op, av in items:
        if op is _C.AT:  # \A and \Z too: at a window's cut edge they would match where the text goes on
            best = max(best, 1)
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            _direction, sub = cast("tuple[int, SubPattern]", av)
            hi = sub.getwidth()[1]
            inner = _reach(sub.data)
            if hi >= _C.MAXREPEAT or inner is None:
                return None
            best = max(best, hi + inner)
        else:
            for sub in _subpatterns(op, av):
                inner = _reach(sub.data)
                if inner is None:
                    return None
                best = max(best, inner)
    return best


def _subpatterns(op: object, av: object) -> list[SubPattern]:
    """The nested sub-patterns of one parsed node (groups, repeats, alternations, conditionals)."""
    if op in (_C.MAX_REPEAT, _C.MIN_REPEAT, _C.POSSESSIVE_REPEAT):
        return [cast("tuple[int, int, SubPattern]", av)[2]]  # (min, max, item)
    if op is _C.SUBPATTERN:
        return [cast("tuple[int | None, int, int, SubPattern]", av)[3]]  # (group, add, del flags, body)
    if op is _C.ATOMIC_GROUP:
        return [cast("SubPattern", av)]
    if op is _C.BRANCH:
        return list(cast("tuple[None, list[SubPattern]]", av)[1])
    if op is _C.GROUPREF_EXISTS:  # (group, yes, no); no is None without an else branch
        return [x for x in cast("tuple[int, SubPattern, SubPattern | None]", av)[1:] if x is not None]
    return []
