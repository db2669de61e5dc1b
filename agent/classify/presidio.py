"""The Presidio analyzer, built once and offline, and the chunk -> detections adapter.

Built with our registry (only recognizers for entities some policy uses), our :class:`OfflineNlpEngine`
(linear regex tokenizer, never downloads a model) and our :class:`LinearContextEnhancer`. All
recognizers are registered for language "en" and every text is analysed as "en": they are
language-agnostic patterns whose context words already cover German, French and Italian.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from operator import attrgetter
from typing import Protocol

import regex
import structlog
from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    PatternRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer import pattern_recognizer as _presidio_patterns

from agent.classify import ChunkDetector, ClassifierSettings, keystore
from agent.classify.context import LinearContextEnhancer
from agent.classify.prefilter import EXTRA_TRIGGERS, Prefilter, Trigger, regex_reach
from agent.classify.recognizers import OURS
from agent.classify.recognizers.base import ATTRIBUTES_KEY, DwPatternRecognizer, Rejection
from agent.classify.recognizers.builtin import BUILTIN, COVERING_TRIGGERS, IN_DIGIT_RUNS, TRIGGERS
from agent.classify.recognizers.custom import SpecRecognizer
from agent.classify.recognizers.ner import NerRecognizer
from agent.classify.tokenizer import OfflineNlpEngine
from agent.models import KEYSTORE_PART, Detection, RecognizerSpec, TextChunk

log = structlog.get_logger(__name__)

LANGUAGE = "en"
NER_ENTITIES = frozenset({"PERSON", "LOCATION"})
#: Parts of a document where a confidentiality marking is a label by position: +0.1.
_LABEL_PARTS = frozenset({"header", "footer", "metadata"})
#: Presidio's per-pattern regex time limit (seconds), the same in our fast path.
_REGEX_TIMEOUT = getattr(_presidio_patterns, "REGEX_TIMEOUT_SECONDS", 60)
#: Fast-path regions closer than this are merged: fewer regex calls, the same matches.
FAST_MERGE_GAP = 64
_START = attrgetter("start")


class Classifier:
    """Runs the recognizers over text chunks. Build once (the engine is built in ``__init__``), reuse."""

    def __init__(
        self,
        settings: ClassifierSettings = ClassifierSettings(),  # noqa: B008  (frozen dataclass)
        extra: Sequence[ChunkDetector] = (),
        prefilter: bool = True,
    ) -> None:
        self.settings = settings
        self.extra = tuple(extra)
        wanted = settings.entities
        self._nlp = OfflineNlpEngine(settings.ner_model if _wants(wanted, NER_ENTITIES) else None)
        self._nlp.load()
        recognizers, triggers, owners = _registry(wanted, settings.custom)
        ner = sorted(e for e in self._nlp.get_supported_entities() if _wants(wanted, {e}))
        if ner:
            recognizers.append(NerRecognizer(ner))
        self._engine: AnalyzerEngine | None = None
        self._enhancer = LinearContextEnhancer()  # the engine's, and the fast path's
        if recognizers:  # an empty registry would make Presidio load all its predefined recognizers
            registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[LANGUAGE])
            self._engine = AnalyzerEngine(
                registry=registry,
                nlp_engine=self._nlp,
                supported_languages=[LANGUAGE],
                context_aware_enhancer=self._enhancer,
            )
        self._entities = sorted({e for r in recognizers for e in r.supported_entities})
        self._ours = [r for r in recognizers if isinstance(r, DwPatternRecognizer)]
        self._group_entity, reach = _fast_groups(recognizers, owners) if prefilter else ({}, {})
        self._fast: dict[str, PatternRecognizer] = {
            key: rec for key in self._group_entity if isinstance(rec := owners[key][1], PatternRecognizer)
        }
        triggers = [replace(t, reach=reach[t.entity]) for t in triggers if t.entity in self._fast]
        self._prefilter = Prefilter(triggers, merge_gap=FAST_MERGE_GAP) if triggers else None
        self._fast_recognizers: list[EntityRecognizer] = list(self._fast.values())
        fast_entities = set(self._group_entity.values())
        self._always = [e for e in self._entities if e not in fast_entities]
        log.info(
            "classifier_built", recognizers=len(recognizers), entities=len(self._entities), ner=bool(ner)
        )

    @staticmethod
    def known_entities() -> frozenset[str]:
        """Every entity a built-in recognizer can produce (policy lint checks rule entities against it)."""
        return frozenset(OURS) | frozenset(BUILTIN) | NER_ENTITIES

    def entities(self) -> frozenset[str]:
        """Entities this instance looks for (built-in, custom and extra detectors)."""
        return frozenset(self._entities).union(*(d.entities for d in self.extra))

    def analyze_text(self, text: str) -> list[RecognizerResult]:
        """Presidio results for the whole of ``text`` (offsets local to it), prefiltered or not.

        Without the prefilter every entity goes through Presidio's ``AnalyzerEngine.analyze`` over the
        whole text (the reference). With it, entities whose recognizers all keep the prefilter contract
        take the fast path: the re2 pass gives each its regions (trigger hits plus the longest match
        and the regex reach), its recognizers' regexes run only there, and context words, the score
        threshold and Presidio's de-duplication are applied exactly as the engine does, with context
        tokens taken from the whole text. Identical results (Hypothesis tests in test_prefilter.py):
        de-duplication only compares results of one entity, and those all lie in its regions.
        """
        if not text or not self._entities:
            return []
        if self._prefilter is None:
            return self._run(text, 0, self._entities)
        results = self._run(text, 0, self._always) if self._always else []
        per_entity: dict[str, list[RecognizerResult]] = {}
        for key, spans in self._prefilter.spans(text).items():
            rec = self._fast[key]
            if isinstance(rec, DwPatternRecognizer):
                found = rec.analyze_regions(text, spans)
            else:
                found = _presidio_patterns_in_regions(rec, text, spans)
            if found:
                per_entity.setdefault(self._group_entity[key], []).extend(found)
        if per_entity:
            artifacts = self._nlp.process_window(text, 0, LANGUAGE)
            flat = [r for found in per_entity.values() for r in found]
            self._enhancer.enhance_using_context(text, flat, artifacts, self._fast_recognizers)  # in place
            for found in per_entity.values():  # the engine de-duplicates each entity's results on their own
                found.sort(key=_START)  # groups of one entity were appended one after the other
                results.extend(found if _disjoint(found) else EntityRecognizer.remove_duplicates(found))
        return results

    def _run(self, text: str, base: int, entities: list[str]) -> list[RecognizerResult]:
        if not entities or self._engine is None:
            return []
        artifacts = self._nlp.process_window(text, base, LANGUAGE)
        return self._engine.analyze(
            text=text, language=LANGUAGE, entities=entities, nlp_artifacts=artifacts, score_threshold=0.0
        )

    def keep_rejections(self, keep: bool) -> None:
        """While on, :meth:`detect` also returns the candidates a named filter dropped, at score 0 with
        attribute ``filtered_by`` (`dropwarden explain` shows them; the scan path never turns it on)."""
        for rec in self._ours:
            rec.rejections = [] if keep else None

    def detect(self, chunk: TextChunk) -> list[Detection]:
        """Detections in ``chunk`` with absolute offsets and line numbers, sorted by position."""
        out = self._detect(chunk)
        for rec in self._ours:
            if rec.rejections:
                out.extend(_rejected_detection(chunk, r) for r in rec.rejections)
                rec.rejections.clear()
        return out

    def _detect(self, chunk: TextChunk) -> list[Detection]:
        if chunk.part.startswith(KEYSTORE_PART):  # a binary keystore's bytes: judged by structure only
            return keystore.detect_marker(chunk) if keystore.ENTITY in self._entities else []
        text = chunk.text
        results = sorted(self.analyze_text(text), key=lambda r: (r.start, r.end, r.entity_type))
        out: list[Detection] = []
        radius = self.settings.context_radius
        line, line_pos = chunk.line, 0
        for r in results:
            score = r.score
            meta = r.recognition_metadata or {}
            if r.entity_type == "CONFIDENTIAL_MARKING" and chunk.part in _LABEL_PARTS:
                score = min(1.0, score + 0.1)
            if score < self.settings.min_score or score <= 0:
                continue
            line += text.count("\n", line_pos, r.start)
            line_pos = r.start
            cs = max(0, r.start - radius)
            out.append(
                Detection(
                    entity=r.entity_type,
                    start=chunk.offset + r.start,
                    end=chunk.offset + r.end,
                    score=round(score, 4),
                    recognizer=str(meta.get(RecognizerResult.RECOGNIZER_NAME_KEY, "")),
                    path=chunk.path,
                    member=chunk.member,
                    line=line,
                    part=chunk.part,
                    value=text[r.start : r.end],
                    context=text[cs : r.end + radius],
                    context_start=chunk.offset + cs,
                    attributes=tuple(meta.get(ATTRIBUTES_KEY, ())),
                )
            )
        for detector in self.extra:
            out.extend(detector.detect(chunk))
        return out


def _rejected_detection(chunk: TextChunk, r: Rejection) -> Detection:
    return Detection(
        entity=r.entity,
        start=chunk.offset + r.start,
        end=chunk.offset + r.end,
        score=0.0,
        recognizer=r.recognizer,
        path=chunk.path,
        member=chunk.member,
        line=chunk.line + chunk.text.count("\n", 0, r.start),
        part=chunk.part,
        value=chunk.text[r.start : r.end],
        attributes=(("filtered_by", r.filter),),
    )


def _registry(
    wanted: frozenset[str] | None, custom: Sequence[RecognizerSpec]
) -> tuple[list[EntityRecognizer], list[Trigger], dict[str, tuple[str, EntityRecognizer]]]:
    """The recognizers for the wanted entities (ours, Presidio's built-ins, the packs' own), their
    prefilter triggers, and each trigger's owner: prefilter group key -> (entity, recognizer).

    Built-ins are keyed by their entity (one each); pack recognizers each get their own group, so a
    hundred token formats sharing one entity each run only around their own trigger's hits.
    """
    recognizers: list[EntityRecognizer] = []
    triggers: list[Trigger] = []
    owners: dict[str, tuple[str, EntityRecognizer]] = {}
    for entity, cls in OURS.items():
        if _wants(wanted, {entity}):
            recognizers.append(cls())
            if cls.TRIGGER:
                covering = cls.COVER is not None
                extent = cls.COVER if covering else cls.MAX_LEN
                triggers.append(
                    Trigger(
                        entity,
                        cls.TRIGGER,
                        extent,
                        covering=covering,
                        in_digit_runs=cls.TRIGGER_IN_DIGIT_RUNS,
                    )
                )
                owners[entity] = (entity, recognizers[-1])
    for entity, factory in BUILTIN.items():
        if _wants(wanted, {entity}):
            recognizers.append(factory())
            if builtin_triggers := _builtin_trigger(entity):
                triggers.extend(builtin_triggers)
                owners[entity] = (entity, recognizers[-1])
    for spec in custom:
        recognizers.append(SpecRecognizer(spec))
        if spec.trigger:
            key = f"{spec.entity}/{spec.name}"
            triggers.append(Trigger(key, spec.trigger, spec.max_len))
            owners[key] = (spec.entity, recognizers[-1])
    return recognizers, triggers, owners


def _builtin_trigger(entity: str) -> list[Trigger]:
    """The prefilter trigger of a built-in (Presidio) recognizer's entity, if it has one."""
    nested = entity in IN_DIGIT_RUNS
    if entity in TRIGGERS:
        return [Trigger(entity, *TRIGGERS[entity], in_digit_runs=nested)]
    if entity in COVERING_TRIGGERS:
        return [Trigger(entity, *COVERING_TRIGGERS[entity], covering=True)]
    if entity in EXTRA_TRIGGERS:
        return [Trigger(entity, *EXTRA_TRIGGERS[entity], in_digit_runs=nested)]
    return []


class _Span(Protocol):
    def span(self) -> tuple[int, int]: ...


class _TimedRegex(Protocol):
    """A pattern compiled by the ``regex`` module (untyped here): the one call made on it."""

    def finditer(self, string: str, pos: int, endpos: int, *, timeout: float) -> Iterator[_Span]: ...


class _PresidioPattern(Protocol):
    """A Presidio ``Pattern`` as the engine uses it: ``compiled_regex`` is a cache Presidio fills lazily
    (its ``__init__`` sets it to None, which is all mypy learns of its type)."""

    name: str
    regex: str
    score: float
    compiled_regex: _TimedRegex | None
    compiled_with_flags: int | None


class _PresidioPatterns(Protocol):
    """What :func:`_presidio_patterns_in_regions` reads of a Presidio ``PatternRecognizer``.

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


def _presidio_patterns_in_regions(
    rec: _PresidioPatterns, text: str, spans: Sequence[tuple[int, int]]
) -> list[RecognizerResult]:
    """What Presidio's ``PatternRecognizer.analyze`` finds, with its regexes run only inside ``spans``.

    Same steps as its private ``__analyze_patterns`` (same compiled ``regex`` patterns and flags,
    validate/invalidate, scores, de-duplication), minus the per-call clock reads, debug logging and
    explanation objects; ``pos``/``endpos`` keep offsets absolute and let lookbehinds see the real
    text. The Hypothesis tests compare it with the engine's own path, so a Presidio upgrade that
    changes those steps fails them.
    """
    flags = rec.global_regex_flags
    meta = {
        RecognizerResult.RECOGNIZER_NAME_KEY: rec.name,
        RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: rec.id,
    }
    entity = rec.supported_entities[0]
    out: list[RecognizerResult] = []
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
                    value = text[start:end]
                    score = pattern.score
                    valid = rec.validate_result(value)
                    if valid is not None:
                        score = EntityRecognizer.MAX_SCORE if valid else EntityRecognizer.MIN_SCORE
                    if rec.invalidate_result(value):
                        score = EntityRecognizer.MIN_SCORE
                    if score > EntityRecognizer.MIN_SCORE:
                        out.append(
                            RecognizerResult(entity, start, end, score, recognition_metadata=dict(meta))
                        )
            except TimeoutError:
                log.warning("regex_timeout", recognizer=rec.name, pattern=pattern.name)
    if len(rec.patterns) > 1:
        out.sort(key=_START)
    return out if _disjoint(out) else EntityRecognizer.remove_duplicates(out)


def _disjoint(results: Sequence[RecognizerResult]) -> bool:
    """Whether Presidio's ``remove_duplicates`` would keep ``results`` as they are (up to order).

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


def _regex_reach(rec: EntityRecognizer) -> int | None:
    """The largest regex reach of a pattern recognizer's patterns (None: unbounded, or not patterns)."""
    patterns = getattr(rec, "patterns", None)
    if not isinstance(rec, PatternRecognizer) or not patterns:
        return None
    reaches = [regex_reach(p.regex) for p in patterns]
    return None if None in reaches else max(r for r in reaches if r is not None)


def _fast_groups(
    recognizers: Sequence[EntityRecognizer], owners: dict[str, tuple[str, EntityRecognizer]]
) -> tuple[dict[str, str], dict[str, int]]:
    """Prefilter groups whose entity can take the fast path, with each group's regex reach.

    An entity is prefiltered only if every recognizer producing it owns a trigger and is a pattern
    recognizer whose regex reach is bounded (the fast path runs its regexes itself); otherwise all of
    its recognizers run through the engine over the whole text.
    """
    owned = {id(rec) for _, rec in owners.values()}
    reaches = {id(r): _regex_reach(r) for r in recognizers}
    fast = {
        entity
        for entity, _ in owners.values()
        if all(
            id(r) in owned and reaches[id(r)] is not None
            for r in recognizers
            if entity in r.supported_entities
        )
    }
    groups = {key: entity for key, (entity, _) in sorted(owners.items()) if entity in fast}
    reach = {key: reaches[id(owners[key][1])] or 0 for key in groups}
    return groups, reach


def _wants(wanted: frozenset[str] | None, entities: set[str] | frozenset[str]) -> bool:
    return wanted is None or bool(wanted & entities)
