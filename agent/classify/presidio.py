"""Presidio's predefined recognizers behind our engine: imported only when a policy needs one.

The engine (``agent/classify/engine.py``) runs recognizers with our plain types. Entities we do not
recognise ourselves (``recognizers/builtin.py``: URL, UK_NHS, CRYPTO, ...) come from Presidio's
predefined recognizers, wrapped here; importing Presidio costs about a second (it imports spaCy),
so nothing on the scan path imports this module unless a policy asks for such an entity.

What Presidio's ``AnalyzerEngine`` adds around a recognizer is done by our engine: context words
(our :class:`~agent.classify.context.LinearContextEnhancer`), the score threshold and the
de-duplication (:func:`~agent.classify.results.remove_duplicates`, Presidio's rule);
tests/unit/classify/test_presidio_engine.py checks both engines agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer import predefined_recognizers as _predefined
from presidio_analyzer.nlp_engine import NlpArtifacts

from agent.classify.results import (
    RECOGNIZER_IDENTIFIER_KEY,
    RECOGNIZER_NAME_KEY,
    Result,
)
from agent.classify.tokenizer import Tokens


def predefined(name: str) -> PresidioRecognizer:
    """Presidio's predefined recognizer class ``name``, built and wrapped."""
    return PresidioRecognizer(getattr(_predefined, name)())


class PresidioRecognizer:
    """A Presidio ``EntityRecognizer`` as our engine runs it: our tokens in, our results out."""

    def __init__(self, rec: EntityRecognizer) -> None:
        self._rec = rec
        self.name = _name(rec)
        self.supported_entities: list[str] = list(rec.supported_entities)
        self.context: list[str] = list(rec.context or ())

    @property
    def id(self) -> str:
        return str(self._rec.id)

    def analyze(self, text: str, entities: Sequence[str], tokens: object = None) -> list[Result]:
        toks = tokens if isinstance(tokens, Tokens) else Tokens(text)
        found = self._rec.analyze(text=text, entities=list(entities), nlp_artifacts=_Artifacts(toks))
        return [self._result(r) for r in found or ()]

    def _result(self, r: RecognizerResult) -> Result:
        meta = dict(r.recognition_metadata or {})
        meta.setdefault(RECOGNIZER_NAME_KEY, self.name)  # as AnalyzerEngine adds them
        meta.setdefault(RECOGNIZER_IDENTIFIER_KEY, self.id)
        return Result(r.entity_type, r.start, r.end, r.score, meta)


class _Named(Protocol):
    """Presidio assigns ``name`` in ``__init__`` without an annotation, inside an import cycle mypy
    cannot resolve ("Cannot determine type"); this states its type at the boundary."""

    name: str


def _name(rec: _Named) -> str:
    return rec.name


class _Artifacts(NlpArtifacts):
    """Presidio's ``NlpArtifacts`` over our :class:`Tokens`, built lazily (the predefined pattern
    recognizers we wrap never read them; the spaCy ``Doc`` is made only if one does)."""

    def __init__(self, tokens: Tokens) -> None:
        self._tokens = tokens
        self._doc: Any = None
        # None placeholders for Presidio's __init__: the properties below give the real values
        super().__init__(
            entities=[],
            tokens=None,  # type: ignore[arg-type]
            tokens_indices=None,  # type: ignore[arg-type]
            lemmas=None,  # type: ignore[arg-type]
            nlp_engine=None,
            language="en",
        )

    @staticmethod
    def set_keywords(nlp_engine: Any, lemmas: list[str], language: str) -> list[str]:
        return []

    # Presidio's __init__ assigns these attributes; the setters accept (and ignore) its placeholders.
    @property
    def tokens(self) -> Any:
        if self._doc is None:
            from spacy.tokens import Doc

            self._doc = Doc(_blank_vocab(), words=self._tokens.words, spaces=self._tokens.spaces)
        return self._doc

    @tokens.setter
    def tokens(self, value: Any) -> None:
        if value is not None:
            self._doc = value

    @property
    def tokens_indices(self) -> list[int]:
        return self._tokens.starts

    @tokens_indices.setter
    def tokens_indices(self, value: Any) -> None:
        pass

    @property
    def lemmas(self) -> list[str]:
        return self._tokens.lemmas

    @lemmas.setter
    def lemmas(self, value: Any) -> None:
        pass


_VOCAB: list[Any] = []


def _blank_vocab() -> Any:
    """A blank English vocabulary, built once (``spacy.blank`` loads ~2,700 tokenizer special cases)."""
    if not _VOCAB:
        import spacy

        _VOCAB.append(spacy.blank("en").vocab)
    return _VOCAB[0]
