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

from collections.abc import Iterable, Iterator, Sequence
from operator import attrgetter
from typing import Any, Protocol

import regex
import structlog
from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult
from presidio_analyzer import pattern_recognizer as _presidio_patterns
from presidio_analyzer import predefined_recognizers as _predefined
from presidio_analyzer.nlp_engine import NlpArtifacts

from agent.classify.results import (
    MAX_SCORE,
    MIN_SCORE,
    RECOGNIZER_IDENTIFIER_KEY,
    RECOGNIZER_NAME_KEY,
    Result,
    disjoint,
    remove_duplicates,
)
from agent.classify.tokenizer import Tokens

log = structlog.get_logger(__name__)

#: Presidio's per-pattern regex time limit (seconds), the same in the region path.
_REGEX_TIMEOUT = getattr(_presidio_patterns, "REGEX_TIMEOUT_SECONDS", 60)
_START = attrgetter("start")


def predefined(name: str) -> PresidioRecognizer:
    """Presidio's predefined recognizer class ``name``, built and wrapped."""
    rec = getattr(_predefined, name)()
    return PresidioPatternRecognizer(rec) if isinstance(rec, PatternRecognizer) else PresidioRecognizer(rec)


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


class _Span(Protocol):
    def span(self) -> tuple[int, int]: ...


class _TimedRegex(Protocol):
    """A pattern compiled by the ``regex`` module (untyped here): the one call made on it."""

    def finditer(self, string: str, pos: int, endpos: int, *, timeout: float) -> Iterator[_Span]: ...


class _PresidioPattern(Protocol):
    """A Presidio ``Pattern`` as the region path uses it: ``compiled_regex`` is a cache Presidio fills
    lazily (its ``__init__`` sets it to None, which is all mypy learns of its type)."""

    name: str
    regex: str
    score: float
    compiled_regex: _TimedRegex | None
    compiled_with_flags: int | None


class _PresidioPatterns(Protocol):
    """What :meth:`PresidioPatternRecognizer.analyze_regions` reads of a Presidio ``PatternRecognizer``.

    Presidio assigns ``name`` and ``patterns`` in ``__init__`` without annotations, inside an import
    cycle mypy cannot resolve ("Cannot determine type"); this states their types at the boundary.
    """

    name: str
    supported_entities: list[str]
    patterns: Sequence[_PresidioPattern]
    global_regex_flags: int | None

    @property
    def id(self) -> str: ...

    def validate_result(self, pattern_text: str) -> bool | None: ...

    def invalidate_result(self, pattern_text: str) -> bool | None: ...


class PresidioPatternRecognizer(PresidioRecognizer):
    """A Presidio ``PatternRecognizer``, which can also run over the prefilter's regions only."""

    def __init__(self, rec: PatternRecognizer) -> None:
        super().__init__(rec)
        self._patterns: _PresidioPatterns = rec

    @property
    def patterns(self) -> Sequence[_PresidioPattern]:
        return self._patterns.patterns

    def analyze_regions(self, text: str, regions: Iterable[tuple[int, int]]) -> list[Result]:
        """What Presidio's ``PatternRecognizer.analyze`` finds, with its regexes run only inside ``regions``.

        Same steps as its private ``__analyze_patterns`` (same compiled ``regex`` patterns and flags,
        validate/invalidate, scores, de-duplication), minus the per-call clock reads, debug logging and
        explanation objects; ``pos``/``endpos`` keep offsets absolute and let lookbehinds see the real
        text. The Hypothesis tests compare it with the whole-text path, so a Presidio upgrade that
        changes those steps fails them.
        """
        rec = self._patterns
        flags = rec.global_regex_flags
        meta = {RECOGNIZER_NAME_KEY: rec.name, RECOGNIZER_IDENTIFIER_KEY: rec.id}
        entity = rec.supported_entities[0]
        spans = list(regions)
        out: list[Result] = []
        for pattern in rec.patterns:
            if not pattern.compiled_regex or pattern.compiled_with_flags != flags:
                pattern.compiled_with_flags = flags
                pattern.compiled_regex = regex.compile(pattern.regex, flags=flags)
            for lo, hi in spans:
                try:
                    for m in pattern.compiled_regex.finditer(text, lo, hi, timeout=_REGEX_TIMEOUT):
                        start, end = m.span()
                        if start == end:
                            continue
                        score = _score(rec, text[start:end], pattern.score)
                        if score > MIN_SCORE:
                            out.append(Result(entity, start, end, score, dict(meta)))
                except TimeoutError:
                    log.warning("regex_timeout", recognizer=rec.name, pattern=pattern.name)
        if len(rec.patterns) > 1:
            out.sort(key=_START)
        return out if disjoint(out) else remove_duplicates(out)


def _score(rec: _PresidioPatterns, value: str, score: float) -> float:
    """A match's score after the recognizer's validate/invalidate hooks, as Presidio computes it."""
    valid = rec.validate_result(value)
    if valid is not None:
        score = MAX_SCORE if valid else MIN_SCORE
    if rec.invalidate_result(value):
        score = MIN_SCORE
    return score


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
