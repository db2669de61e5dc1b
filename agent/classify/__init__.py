"""Detection stage: text chunks in, candidate detections out (no policy decisions here).

``Classifier`` (``engine.py``) runs our recognizers, with Presidio's semantics but without Presidio
unless a policy needs one of its predefined recognizers; ``ChunkDetector``s (EDM, fingerprints) plug
in beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from agent.models import Detection, RecognizerSpec, TextChunk

if TYPE_CHECKING:  # the real import is lazy, in __getattr__ below
    from agent.classify.engine import Classifier


@runtime_checkable
class ChunkDetector(Protocol):
    """A detector that is not a pattern recognizer (EDM, document fingerprints)."""

    entities: frozenset[str]

    def detect(self, chunk: TextChunk) -> list[Detection]: ...


@dataclass(frozen=True)
class ClassifierSettings:
    """What the classifier must look for; derived from the active policies."""

    entities: frozenset[str] | None = None  # None = every known entity; others are not even registered
    custom: tuple[RecognizerSpec, ...] = ()  # recognizers declared in policy packs
    #: True when ``custom`` comes from the policy loader, which compiled every pattern already
    custom_checked: bool = False
    context_radius: int = 300  # characters kept around each match in Detection.context
    ner_model: str | None = (
        None  # installed spaCy package (or pipeline dir) for PERSON/LOCATION; None = no NER
    )
    min_score: float = 0.0  # drop results below this
    #: How far a pattern may look outside its match (``prefilter.regex_reach``), as the caller knows it:
    #: agent.pipeline reads it from the policy loader's parse trees, or remembers it across launches.
    #: None: parsed here with ``re``'s own parser.
    regex_reach: Callable[[str], int | None] | None = None


def __getattr__(name: str) -> object:
    """Import the Classifier on first use only.

    Its recognizers (re2, phonenumbers, two hundred pack formats) cost start-up that `dropwarden
    protect`, the EDM and fingerprint modules and the index tools, which import this package, never need.
    """
    if name == "Classifier":
        from agent.classify.engine import Classifier

        return Classifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["ChunkDetector", "Classifier", "ClassifierSettings"]
