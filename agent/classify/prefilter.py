"""Cheap trigger scan that limits the expensive Presidio pass to windows around possible matches.

One google-re2 pass per entity finds *trigger hits* (e.g. twelve digits for cards, ``@`` for e-mail).
Only windows around hits are analysed, and only with the entities whose trigger fired there. The result
is identical to analysing the whole text, because of three contracts (checked by a Hypothesis test):

1. every match of an entity's recognizers contains a substring matching its trigger (triggers have no
   anchors or lookarounds, so that is a property of the matched text alone);
2. every match is at most ``max_len`` characters long, or (``max_len=None``) contains no whitespace;
3. recognizers and the context enhancer look at most :data:`MARGIN` characters outside a match.

A re2 scan reports leftmost non-overlapping hits, so every position where a trigger match starts lies
inside (or at the start of) a reported hit. A window spans ``[hit.start - max_len - MARGIN, hit.end +
max_len + MARGIN)`` (or the whitespace-free run around the hit, plus MARGIN), so it holds every match
containing that hit together with everything its recognizer and the enhancer look at. Conversely a match
found in a window contains a hit, so it is at least MARGIN away from the window's cut edges and sees the
same text as in the whole document. Merging windows (overlapping or close) keeps both properties.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

import re2

#: Characters any recognizer or the context enhancer may look at outside a match (base.MAX_LOOK = 256,
#: context.MAX_CONTEXT_CHARS + tokenizer.MAX_TOKEN = 224), with room to spare.
MARGIN = 320
#: Windows closer than this are merged: fewer Presidio calls, same result.
MERGE_GAP = 512

#: Triggers for Presidio recognizers that ``recognizers/builtin.py`` does not bound (same contract):
#: ``UsBankRecognizer`` is ``\b[0-9]{8,17}\b``.
EXTRA_TRIGGERS: dict[str, tuple[str, int | None]] = {
    "US_BANK_NUMBER": (r"[0-9]{8}", 17),
}

_LAST_SPACE = re.compile(r"\s\S*\Z")
_SPACE = re.compile(r"\s")


@dataclass(frozen=True)
class Trigger:
    """Prefilter contract of one entity (see the module docstring)."""

    entity: str
    pattern: str
    max_len: int | None


@dataclass
class Window:
    """A span of the text to analyse and the entities whose triggers fired inside it."""

    start: int
    end: int
    entities: set[str] = field(default_factory=set)


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
        self._compiled = [(t, re2.compile(unicode_digits(t.pattern))) for t in self.triggers]
        self.margin = margin
        self.merge_gap = merge_gap

    def spans(self, text: str) -> dict[str, list[tuple[int, int]]]:
        """Per entity: sorted, merged ``(start, end)`` windows holding every possible match and its context.

        Windows of one entity are merged when they overlap or lie within ``merge_gap`` of each other, so
        a result and any result of the same entity containing it are analysed in the same window.
        """
        out: dict[str, list[tuple[int, int]]] = {}
        n = len(text)
        for trig, rx in self._compiled:
            merged: list[tuple[int, int]] = out.setdefault(trig.entity, [])
            last_end = -1
            for m in rx.finditer(text):
                s, e = m.span()
                if trig.max_len is not None:
                    lo, hi = s - trig.max_len - self.margin, e + trig.max_len + self.margin
                elif s < last_end - self.margin:  # inside the run already covered by the previous window
                    continue
                else:
                    before = _LAST_SPACE.search(text, max(0, last_end), s)
                    run_start = before.start() + 1 if before else max(0, last_end)
                    after = _SPACE.search(text, e)
                    run_end = after.start() if after else n
                    lo, hi = run_start - self.margin, run_end + self.margin
                lo, hi = max(0, lo), min(n, hi)
                last_end = hi
                if merged and lo <= merged[-1][1] + self.merge_gap:  # hits come in text order
                    if hi > merged[-1][1]:
                        merged[-1] = (merged[-1][0], hi)
                else:
                    merged.append((lo, hi))
        for entity, ws in list(out.items()):
            if not ws:
                del out[entity]
            elif sum(t.entity == entity for t in self.triggers) > 1:  # several triggers: re-merge
                ws.sort()
                joined = [ws[0]]
                for lo, hi in ws[1:]:
                    if lo <= joined[-1][1] + self.merge_gap:
                        joined[-1] = (joined[-1][0], max(joined[-1][1], hi))
                    else:
                        joined.append((lo, hi))
                out[entity] = joined
        return out

    def windows(self, text: str) -> list[Window]:
        """Merged, sorted windows covering every possible match of every trigger-bearing entity."""
        spans = sorted((lo, hi, entity) for entity, ws in self.spans(text).items() for lo, hi in ws)
        merged: list[Window] = []
        for lo, hi, entity in spans:
            if merged and lo <= merged[-1].end + self.merge_gap:
                w = merged[-1]
                w.end = max(w.end, hi)
                w.entities.add(entity)
            else:
                merged.append(Window(lo, hi, {entity}))
        return merged
