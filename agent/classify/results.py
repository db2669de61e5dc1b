"""What a recognizer returns, what the engine asks of a recognizer, and Presidio's de-duplication rule.

Plain types, so the scan path needs neither Presidio nor spaCy. The metadata keys are Presidio's own
strings, so results converted from a Presidio recognizer (agent/classify/presidio.py) read the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

RECOGNIZER_NAME_KEY = "recognizer_name"
RECOGNIZER_IDENTIFIER_KEY = "recognizer_identifier"
#: Set once context words raised the score, or by a recognizer whose score context must not raise.
IS_SCORE_ENHANCED_BY_CONTEXT_KEY = "is_score_enhanced_by_context"
MAX_SCORE = 1.0


@dataclass(slots=True, eq=False)
class Result:
    """One candidate: entity, span in the analysed text, score. Mutable: context words raise the score."""

    entity_type: str
    start: int
    end: int
    score: float
    recognition_metadata: dict[str, object] = field(default_factory=dict)


class Recognizer(Protocol):
    """What the engine needs of a recognizer (ours, a Presidio one behind the adapter, NER)."""

    name: str
    supported_entities: list[str]
    context: list[str]

    @property
    def id(self) -> str: ...

    def analyze(self, text: str, entities: Sequence[str], tokens: object = None) -> list[Result]:
        """Results over the whole of ``text``; ``tokens`` is the text's :class:`~tokenizer.Tokens`."""
        ...


class _PatternLike(Protocol):
    @property
    def regex(self) -> str: ...


class RegionRecognizer(Recognizer, Protocol):
    """A pattern recognizer that can run its regexes over parts of a text only (the prefilter's regions)."""

    @property
    def patterns(self) -> Sequence[_PatternLike]: ...

    def analyze_regions(self, text: str, regions: Iterable[tuple[int, int]]) -> list[Result]: ...


def remove_duplicates(results: Iterable[Result]) -> list[Result]:
    """Presidio's ``EntityRecognizer.remove_duplicates`` rule, on our results.

    Of results equal in entity, span and score the first is kept; results scoring 0 are dropped, and
    so is a result lying inside another kept result of the same entity that scores at least as much.
    Returned highest score first, then by position, longer first (Presidio's order).
    tests/unit/classify/test_results.py checks it against Presidio's on random results.
    """
    unique: dict[tuple[str, int, int, float], Result] = {}
    for r in results:
        unique.setdefault((r.entity_type, r.start, r.end, r.score), r)
    ordered = sorted(unique.values(), key=lambda r: (r.entity_type, r.start, r.start - r.end, -r.score))
    kept: list[Result] = []
    active: list[Result] = []  # kept results of this entity that may still contain a later one
    entity: str | None = None
    for r in ordered:
        if r.entity_type != entity:
            entity, active = r.entity_type, []
        if r.score == 0:
            continue
        active = [a for a in active if a.end >= r.start]  # later results start at or after r.start
        if any(a.start <= r.start and r.end <= a.end and r.score <= a.score for a in active):
            continue
        kept.append(r)
        active.append(r)
    return sorted(kept, key=lambda r: (-r.score, r.start, r.start - r.end))


def disjoint(results: Sequence[Result]) -> bool:
    """Whether :func:`remove_duplicates` would keep ``results`` as they are (up to order).

    It drops zero scores, equal results and results inside another of the same entity. Non-empty
    spans that follow one another without overlap (one regex's matches, in order: most texts) have
    none of those, and checking that is a fraction of the cost of de-duplicating.
    """
    end = -1
    for r in results:
        if r.start < end or r.start >= r.end or r.score == 0:
            return False
        end = r.end
    return True
