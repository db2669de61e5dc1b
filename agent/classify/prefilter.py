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
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import phonenumbers
import re2
from phonenumbers import PhoneMetadata, PhoneNumberMatcher
from phonenumbers.phonenumbermatcher import _SLASH_SEPARATED_DATES, _TIME_STAMPS, _TIME_STAMPS_SUFFIX
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    REGION_CODE_FOR_NON_GEO_ENTITY,
    NumberParseException,
)
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

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


# -- Phone numbers ---------------------------------------------------------------------------------
# Presidio's PhoneRecognizer runs phonenumbers' matcher once per region, and the matcher parses every
# digit group of the text (dates, invoice numbers, timestamps): that is most of the scan time. A
# candidate with fewer digits than any valid number of the region can have, no letter (letters may be
# read as digits: "1-800-FLOWERS") and no plus sign cannot yield a match, nor can any inner part of it;
# the pruned matcher rejects it before parsing, which is exactly what parsing would conclude.


def _min_nsn(meta: Any) -> int:
    lengths = [n for n in (meta.general_desc.possible_length if meta and meta.general_desc else ()) if n > 0]
    return min(lengths) if lengths else 0


@cache
def _global_min_digits() -> int:
    """Fewest digits of any valid number written with a country code (calling code + shortest NSN)."""
    best = 99
    for cc, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            meta = (
                PhoneMetadata.metadata_for_nongeo_region(cc)
                if region == REGION_CODE_FOR_NON_GEO_ENTITY
                else PhoneMetadata.metadata_for_region(region)
            )
            best = min(best, len(str(cc)) + _min_nsn(meta))
    return best


@cache
def phone_min_digits(region: str) -> int:
    """Fewest digits a candidate needs to hold a valid number when parsed with default ``region``.

    Written nationally: the shortest national significant number of any region sharing the calling
    code. Written with the international call prefix: that prefix plus the shortest number anywhere.
    0 (no pruning) whenever the metadata does not allow the bound (national-prefix transform rules).
    """
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.national_prefix_transform_rule:
        return 0
    national = min(
        (
            _min_nsn(PhoneMetadata.metadata_for_region(r))
            for r in COUNTRY_CODE_TO_REGION_CODE[meta.country_code]
        ),
        default=0,
    )
    idd = meta.international_prefix or ""
    international = (len(idd) if idd.isdigit() else 0) + _global_min_digits()
    return max(0, min(national, international))


@cache
def _candidate_classes() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Regexes for "a digit" (every str.isdigit character, superscripts included: counts high) and
    "a letter or a plus sign" (every alphanumeric that is not a decimal digit: finds letters generously).
    Erring high on both sides only ever prunes less."""
    other = "".join(chr(i) for i in range(sys.maxunicode + 1) if chr(i).isdigit() and not chr(i).isdecimal())
    digit = re.compile("[\\d" + re.escape(other) + "]")
    lettered = re.compile("[^\\W\\d_]|[+\uff0b]")
    return digit, lettered


class _PrunedMatcher(PhoneNumberMatcher):
    """phonenumbers' matcher that skips candidates which cannot parse to a valid number (see above).

    Also reads the time-stamp suffix in place instead of copying the rest of the text per candidate
    (the upstream copy is quadratic on logs with "2026-11-05 12:..." time stamps).
    """

    def __init__(self, text: str, region: str, leniency: int, min_digits: int) -> None:
        super().__init__(text, region, leniency=leniency)
        self._min_digits = min_digits

    def _hopeless(self, candidate: str) -> bool:
        digit, lettered = _candidate_classes()
        return (
            self._min_digits > 0
            and len(digit.findall(candidate)) < self._min_digits
            and lettered.search(candidate) is None
        )

    def _parse_and_verify(self, candidate: str, offset: int) -> Any:
        # Also reached directly for the inner parts of a candidate (e.g. "05" of "12.05.2019").
        return None if self._hopeless(candidate) else super()._parse_and_verify(candidate, offset)

    def _extract_match(self, candidate: str, offset: int) -> Any:
        if self._hopeless(candidate):  # then every inner part of it is hopeless too
            return None
        if _SLASH_SEPARATED_DATES.search(candidate):
            return None
        if _TIME_STAMPS.search(candidate) and _TIME_STAMPS_SUFFIX.match(self.text, offset + len(candidate)):
            return None
        match = self._parse_and_verify(candidate, offset)
        if match is not None:
            return match
        return self._extract_inner_match(candidate, offset)


class PrunedPhoneRecognizer(PhoneRecognizer):
    """Presidio's PhoneRecognizer (same regions, leniency, context, name, results) on the pruned matcher."""

    @classmethod
    def like(cls, stock: PhoneRecognizer) -> PrunedPhoneRecognizer:
        _candidate_classes()  # built once here, in the parent: forked workers inherit it
        for region in stock.supported_regions:
            phone_min_digits(region)
        return cls(
            context=list(stock.context),
            supported_language=stock.supported_language,
            supported_entity=stock.supported_entities[0],
            supported_regions=stock.supported_regions,
            leniency=stock.leniency,
            name=stock.name,
        )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[RecognizerResult]:
        results = []
        for region in self.supported_regions:
            for match in _PrunedMatcher(text, region, self.leniency, phone_min_digits(region)):
                try:  # as upstream: the explanation names the number's own region when it has one
                    found = phonenumbers.region_code_for_number(
                        phonenumbers.parse(text[match.start : match.end])
                    )
                except NumberParseException:
                    found = region
                results.append(self._get_recognizer_result(match, text, found, nlp_artifacts))
        return EntityRecognizer.remove_duplicates(results)
