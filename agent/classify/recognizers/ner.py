"""PERSON / LOCATION from the optional local spaCy NER model (see ``agent/classify/tokenizer.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from agent.classify.tokenizer import NerSpan


class NerRecognizer(EntityRecognizer):
    """Turns the NerSpans our NLP engine put in the artifacts into results (score 0.85, like Presidio)."""

    name: str  # assigned by Presidio's __init__ without an annotation (see base.DwPatternRecognizer)

    def __init__(self, entities: list[str]) -> None:
        super().__init__(supported_entities=entities, name="NerRecognizer", supported_language="en")

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if nlp_artifacts is None:
            return []
        # Presidio types this list as spaCy Spans (whose ``label`` is an int); our engine puts NerSpans
        # in it, so it is read as plain objects and narrowed to NerSpan below.
        found: Sequence[object] = nlp_artifacts.entities
        return [
            RecognizerResult(
                entity_type=span.label,
                start=span.start,
                end=span.end,
                score=0.85,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for span in found
            if isinstance(span, NerSpan) and span.label in entities and span.label in self.supported_entities
        ]
