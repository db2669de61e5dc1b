"""Base class of our pattern recognizers: regexes whose matches are judged with the whole text at hand.

Like a Presidio ``PatternRecognizer`` (same attributes: ``name``, ``id``, ``supported_entities``,
``patterns``, ``context``), without Presidio: importing it costs more than the whole scan of a small
file. Presidio's ``validate_result`` only sees the matched text and can only answer valid (score 1.0)
or invalid (dropped). Our recognizers need more: a score in between (placeholders score low), a narrower
span (the value of ``password = "..."``), a look at the line around the match, and safe attributes.
So :meth:`DwPatternRecognizer.assess` gets the text and the regex match and returns an
:class:`Assessment` or ``None`` (drop).

Prefilter contract (see ``agent/classify/prefilter.py``): every class declares ``TRIGGER`` (a google-re2
regex such that every match of every pattern *contains* a TRIGGER match), and ``MAX_LEN`` (the longest
possible regex match, or ``None`` if matches never contain whitespace). A class may instead declare a
*covering* trigger with ``COVER``: each match lies inside one hit of a leftmost-first scan of TRIGGER
over the whole text, give or take ``COVER`` characters. ``assess`` must not look further than
:data:`MAX_LOOK` characters outside the match.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from agent.classify.filters import first_match
from agent.classify.re2raw import ascii_holds
from agent.classify.results import (
    IS_SCORE_ENHANCED_BY_CONTEXT_KEY,
    RECOGNIZER_IDENTIFIER_KEY,
    RECOGNIZER_NAME_KEY,
    Result,
)

MAX_LOOK = 256
ATTRIBUTES_KEY = "dw_attributes"


class Assessment(NamedTuple):
    """What a recognizer concluded about one regex match.

    A named tuple: recognizers build one per candidate (tens of thousands per MB of prose), and a
    frozen dataclass costs five times as much to build.
    """

    score: float
    start: int | None = None  # narrowed span (absolute in the analysed text); None = the match
    end: int | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    final: bool = False  # True: context words must not raise this score (placeholders, examples)
    rejected_by: str = ""  # the named false-positive filter (classify/filters.py) that dropped the match


def rejected(filter_name: str) -> Assessment:
    """Drop a match because of a named filter; `dropwarden explain` shows the name."""
    return Assessment(0.0, rejected_by=filter_name)


@dataclass(frozen=True)
class Rejection:
    """A candidate a filter dropped (kept only while explaining)."""

    entity: str
    recognizer: str
    start: int
    end: int
    filter: str


@dataclass(frozen=True)
class Pattern:
    """One regex of a recognizer with the score its matches start from (compiled at first use)."""

    name: str
    regex: str
    score: float

    def __post_init__(self) -> None:
        if not 0 <= self.score <= 1:
            raise ValueError(f"Invalid score: {self.score}. Score should be between 0 and 1")


class DwPatternRecognizer:
    """A pattern recognizer whose matches are scored by :meth:`assess` with the whole text at hand."""

    ENTITY: ClassVar[str]
    PATTERNS: ClassVar[Sequence[tuple[str, str, float]]]  # (name, regex, base score)
    CONTEXT: ClassVar[Sequence[str]] = ()
    FLAGS: ClassVar[int] = re.MULTILINE
    TRIGGER: ClassVar[str | None] = None
    MAX_LEN: ClassVar[int | None] = None
    COVER: ClassVar[int | None] = None
    #: Every TRIGGER hit is seven or more digits joined by single separators: locate it in digit runs.
    TRIGGER_IN_DIGIT_RUNS: ClassVar[bool] = False
    #: Several patterns, and most regions match none of them: one search for their union tells.
    #: Only for patterns that still mean the same inside an alternation (no backreference, no inline
    #: flag) and a ``compile_pattern`` whose result can ``search``.
    UNION_PRECHECK: ClassVar[bool] = False
    #: An RE2 regex without look-arounds that every match of every pattern holds, in ASCII text: an
    #: ASCII region where it finds nothing is skipped (one RE2 search instead of a ``re`` scan per
    #: pattern). Other text is not prechecked: RE2's classes and case folding differ from ``re``'s there.
    PRECHECK: ClassVar[str | None] = None
    #: Set to a list (by the classifier, while explaining) to collect the candidates filters drop.
    rejections: list[Rejection] | None = None

    def __init__(
        self,
        supported_language: str = "en",
        *,
        entity: str | None = None,
        patterns: Sequence[tuple[str, str, float]] | None = None,
        context: Sequence[str] | None = None,
    ) -> None:
        """Entity, patterns and context default to the class's ``ENTITY``, ``PATTERNS`` and ``CONTEXT``;
        a recognizer built from a policy pack passes its own."""
        self.supported_entities = [self.ENTITY if entity is None else entity]
        self.name = type(self).__name__
        self.supported_language = supported_language
        self.patterns = [Pattern(*p) for p in (self.PATTERNS if patterns is None else patterns)]
        self.context = list(self.CONTEXT if context is None else context)
        self._id = f"{self.name}_{id(self)}"
        self._compiled_cache: list[tuple[Pattern, Any]] | None = None
        self._union_cache: Any = None
        self._skip_cache: Callable[[str, int, int], bool] | None = None

    @property
    def _compiled(self) -> list[tuple[Pattern, Any]]:
        """Each pattern with its compiled regex, compiled at first use.

        A scan of one file reaches few of the packs' two hundred formats (the prefilter runs a
        recognizer only when its trigger fires), so compiling every regex at build time was most of
        the cost of starting `dropwarden scan`.
        """
        if self._compiled_cache is None:
            self._compiled_cache = [(p, self.compile_pattern(p.regex)) for p in self.patterns]
        return self._compiled_cache

    @property
    def _union(self) -> Any:
        """All patterns as one alternation: it matches somewhere in a region if and only if one of
        them does (a search finds the leftmost position where any alternative matches)."""
        if self._union_cache is None:
            self._union_cache = self.compile_pattern("|".join(f"(?:{p.regex})" for p in self.patterns))
        return self._union_cache

    def _skip(self) -> Callable[[str, int, int], bool] | None:
        """Whether ``text[lo:hi]`` surely holds no match (``UNION_PRECHECK``, ``PRECHECK``), or None
        when the recognizer has no precheck."""
        if self._skip_cache is None and (self.UNION_PRECHECK or self.PRECHECK):
            union = self._union.search if self.UNION_PRECHECK else None
            holds = ascii_holds(self.PRECHECK) if self.PRECHECK else None

            def skip(text: str, lo: int, hi: int) -> bool:
                if union is not None and union(text, lo, hi) is None:  # no pattern matches here
                    return True
                if holds is None:
                    return False
                region = text[lo:hi]
                return region.isascii() and not holds(region)

            self._skip_cache = skip
        return self._skip_cache

    def compile_pattern(self, pattern: str) -> Any:
        """One of this recognizer's regexes, compiled for matching (``re``; subclasses may pick RE2)."""
        return re.compile(pattern, self.FLAGS)

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        """Default: keep the match at the pattern's score."""
        return Assessment(base_score)

    @property
    def id(self) -> str:
        """Unique per instance (the context enhancer finds a result's recognizer by it)."""
        return self._id

    def analyze(self, text: str, entities: Sequence[str] = (), tokens: object = None) -> list[Result]:
        """Results over the whole of ``text`` (``entities`` and ``tokens`` are not needed)."""
        return self.analyze_regions(text, ((0, len(text)),))

    def analyze_regions(self, text: str, regions: Iterable[tuple[int, int]]) -> list[Result]:
        """Results of matches inside ``text[lo:hi]`` for each region, judged with all of ``text`` at hand.

        The regexes run with ``pos``/``endpos``, so lookbehinds and ``\b`` see the real text before a
        region; the prefilter's regions leave each possible match its regex reach on both sides.
        Offsets are absolute. No analysis explanation is built: the engine drops it anyway.
        """
        results: list[Result] = []
        append = results.append
        entity = self.supported_entities[0]
        assess, rejections, name, ident = self.assess, self.rejections, self.name, self._id
        skip = self._skip()
        scans = [(rx.finditer, pattern.score) for pattern, rx in self._compiled]  # once, not per region
        for lo, hi in regions:
            if skip is not None and skip(text, lo, hi):
                continue
            for finditer, base_score in scans:
                for m in finditer(text, lo, hi):
                    start, end = m.span()
                    if start == end:
                        continue
                    verdict = assess(text, m, base_score)
                    if verdict is None:
                        continue
                    if verdict.rejected_by and rejections is not None:
                        rejections.append(Rejection(entity, name, start, end, verdict.rejected_by))
                    if verdict.score > 0:
                        append(_result(entity, start, end, verdict, name, ident))
        return results


def _result(entity: str, start: int, end: int, verdict: Assessment, name: str, ident: str) -> Result:
    """The Result of a kept match: the verdict's span if it narrowed it, its score (at most 1)."""
    meta: dict[str, object] = {RECOGNIZER_NAME_KEY: name, RECOGNIZER_IDENTIFIER_KEY: ident}
    if verdict.final:
        meta[IS_SCORE_ENHANCED_BY_CONTEXT_KEY] = True
    if verdict.attributes:
        meta[ATTRIBUTES_KEY] = verdict.attributes
    return Result(
        entity,
        start if verdict.start is None else verdict.start,
        end if verdict.end is None else verdict.end,
        min(1.0, verdict.score),
        meta,
    )


def line_bounds(text: str, start: int, end: int, limit: int = MAX_LOOK) -> tuple[int, int] | None:
    """Start and end of the line holding [start, end), or None if it reaches further than ``limit``."""
    lo = max(0, start - limit)
    ls = text.rfind("\n", lo, start)
    if ls < 0:
        if lo > 0:
            return None
        ls = 0
    else:
        ls += 1
    le = text.find("\n", end, end + limit + 1)
    if le < 0:
        if end + limit < len(text):
            return None
        le = len(text)
    return ls, le


def rest_of_line(text: str, pos: int, limit: int = MAX_LOOK) -> str:
    """Text from ``pos`` to the end of its line, at most ``limit`` characters."""
    le = text.find("\n", pos, pos + limit)
    return text[pos : le if le >= 0 else min(len(text), pos + limit)]


def start_of_line(text: str, pos: int, limit: int = MAX_LOOK) -> str:
    """Text from the start of the line holding ``pos`` up to ``pos``, at most ``limit`` characters."""
    lo = max(0, pos - limit)
    ls = text.rfind("\n", lo, pos)
    return text[(ls + 1 if ls >= 0 else lo) : pos]


def filtered(names: Iterable[str], value: str, text: str, start: int, end: int) -> Assessment | None:
    """``rejected(name)`` for the first named filter that drops the candidate, else None."""
    name = first_match(names, value, text, start, end)
    return rejected(name) if name else None
