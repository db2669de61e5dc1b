"""Presidio's AnalyzerEngine set up as our engine runs, the reference the equivalence tests compare with.

Our classifier no longer runs inside Presidio; tests that check it (or one of our recognizers) against
Presidio build Presidio's ``AnalyzerEngine`` with :class:`TokensNlpEngine` (our tokens as Presidio
``NlpArtifacts``) and :class:`PresidioContextEnhancer` (our context enhancer behind Presidio's
interface), so the only difference left is the one under test.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine

from agent.classify.context import LinearContextEnhancer
from agent.classify.presidio import _Artifacts
from agent.classify.results import Recognizer, Result
from agent.classify.tokenizer import Tokens


class TokensNlpEngine(NlpEngine):
    """Presidio NlpEngine whose artifacts are our :class:`Tokens` (no spaCy pipeline, no NER)."""

    def load(self) -> None:
        pass

    def is_loaded(self) -> bool:
        return True

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return _Artifacts(Tokens(text))

    def process_batch(
        self, texts: Iterable[str], language: str, batch_size: int = 1, n_process: int = 1, **kw: Any
    ) -> Iterator[tuple[str, NlpArtifacts]]:
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return False

    def is_punct(self, word: str, language: str) -> bool:
        return not any(c.isalnum() for c in word)

    def get_supported_entities(self) -> list[str]:
        return []

    def get_supported_languages(self) -> list[str]:
        return ["en"]


class PresidioContextEnhancer(ContextAwareEnhancer):
    """Our :class:`LinearContextEnhancer` behind Presidio's interface: the same scores, raised in
    Presidio's results (a Presidio recognizer has the ``id`` and ``context`` ours reads)."""

    def __init__(self) -> None:
        super().__init__(0.35, 0.4, 5, 3)
        self._linear = LinearContextEnhancer()

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        tokens = nlp_artifacts._tokens if isinstance(nlp_artifacts, _Artifacts) else Tokens(text)
        # the metadata dicts are shared: the flag ours sets shows in Presidio's result
        mine = [Result(r.entity_type, r.start, r.end, r.score, r.recognition_metadata) for r in raw_results]
        self._linear.enhance_using_context(text, mine, tokens, recognizers, context)
        for theirs, ours in zip(raw_results, mine, strict=True):
            theirs.score = ours.score
        return raw_results


class AsPresidio(EntityRecognizer):
    """One of our recognizers as a Presidio recognizer (same name, id and context)."""

    def __init__(self, rec: Recognizer) -> None:
        self.inner = rec
        super().__init__(supported_entities=list(rec.supported_entities), name=rec.name, context=rec.context)
        self._id = rec.id

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        tokens = nlp_artifacts._tokens if isinstance(nlp_artifacts, _Artifacts) else None
        return [
            RecognizerResult(
                r.entity_type, r.start, r.end, r.score, recognition_metadata=r.recognition_metadata
            )
            for r in self.inner.analyze(text, entities, tokens)
        ]


def presidio_engine(recognizers: Sequence[EntityRecognizer]) -> AnalyzerEngine:
    """Presidio's AnalyzerEngine over ``recognizers`` with our tokens and context enhancer."""
    registry = RecognizerRegistry(recognizers=list(recognizers), supported_languages=["en"])
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=TokensNlpEngine(),
        supported_languages=["en"],
        context_aware_enhancer=PresidioContextEnhancer(),
    )
