"""The Presidio analyzer, built once and offline, and the chunk -> detections adapter.

Built with our registry (only recognizers for entities some policy uses), our :class:`OfflineNlpEngine`
(linear regex tokenizer, never downloads a model) and our :class:`LinearContextEnhancer`. All
recognizers are registered for language "en" and every text is analysed as "en": they are
language-agnostic patterns whose context words already cover German, French and Italian.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from operator import attrgetter

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

from agent.classify import ChunkDetector, ClassifierSettings
from agent.classify.context import LinearContextEnhancer
from agent.classify.prefilter import EXTRA_TRIGGERS, Prefilter, Trigger, regex_reach
from agent.classify.recognizers import OURS
from agent.classify.recognizers.base import ATTRIBUTES_KEY, DwPatternRecognizer
from agent.classify.recognizers.builtin import BUILTIN, COVERING_TRIGGERS, IN_DIGIT_RUNS, TRIGGERS
from agent.classify.recognizers.custom import SpecRecognizer
from agent.classify.recognizers.ner import NerRecognizer
from agent.classify.tokenizer import OfflineNlpEngine
from agent.models import Detection, TextChunk

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
        recognizers: list[EntityRecognizer] = []
        triggers: list[Trigger] = []
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
        for entity, factory in BUILTIN.items():
            if _wants(wanted, {entity}):
                builtin = factory()
                recognizers.append(builtin)
                nested = entity in IN_DIGIT_RUNS
                if entity in TRIGGERS:
                    triggers.append(Trigger(entity, *TRIGGERS[entity], in_digit_runs=nested))
                elif entity in COVERING_TRIGGERS:
                    triggers.append(Trigger(entity, *COVERING_TRIGGERS[entity], covering=True))
                elif entity in EXTRA_TRIGGERS:
                    triggers.append(Trigger(entity, *EXTRA_TRIGGERS[entity], in_digit_runs=nested))
        untriggered = set()  # entities some pack recognizer without a trigger can produce
        for spec in settings.custom:
            recognizers.append(SpecRecognizer(spec))
            if spec.trigger:
                triggers.append(Trigger(spec.entity, spec.trigger, spec.max_len))
            else:
                untriggered.add(spec.entity)
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
        # An entity is prefiltered only if every recognizer producing it declares a trigger and is a
        # pattern recognizer whose regex reach is bounded (the fast path below runs its regexes itself).
        self._fast: dict[str, list[PatternRecognizer]] = {}
        reach: dict[str, int] = {}
        for entity in sorted({t.entity for t in triggers} - untriggered) if prefilter else ():
            recs = [r for r in recognizers if entity in r.supported_entities]
            reaches = [_regex_reach(r) for r in recs]
            if all(isinstance(r, PatternRecognizer) for r in recs) and None not in reaches:
                self._fast[entity] = recs  # type: ignore[assignment]
                reach[entity] = max(x for x in reaches if x is not None)
        triggers = [replace(t, reach=reach[t.entity]) for t in triggers if t.entity in self._fast]
        self._prefilter = Prefilter(triggers, merge_gap=FAST_MERGE_GAP) if triggers else None
        self._fast_recognizers = [r for recs in self._fast.values() for r in recs]
        self._always = [e for e in self._entities if e not in self._fast]
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
        per_entity: list[list[RecognizerResult]] = []
        for entity, spans in self._prefilter.spans(text).items():
            found: list[RecognizerResult] = []
            for rec in self._fast[entity]:
                if isinstance(rec, DwPatternRecognizer):
                    found.extend(rec.analyze_regions(text, spans))
                    continue
                found.extend(_presidio_patterns_in_regions(rec, text, spans))
            if found:
                per_entity.append(found)
        if per_entity:
            artifacts = self._nlp.process_window(text, 0, LANGUAGE)
            flat = [r for found in per_entity for r in found]
            self._enhancer.enhance_using_context(text, flat, artifacts, self._fast_recognizers)  # in place
            for found in per_entity:  # the engine de-duplicates each entity's results on their own
                results.extend(found if _disjoint(found) else EntityRecognizer.remove_duplicates(found))
        return results

    def _run(self, text: str, base: int, entities: list[str]) -> list[RecognizerResult]:
        if not entities or self._engine is None:
            return []
        artifacts = self._nlp.process_window(text, base, LANGUAGE)
        return self._engine.analyze(
            text=text, language=LANGUAGE, entities=entities, nlp_artifacts=artifacts, score_threshold=0.0
        )

    def detect(self, chunk: TextChunk) -> list[Detection]:
        """Detections in ``chunk`` with absolute offsets and line numbers, sorted by position."""
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


def _presidio_patterns_in_regions(
    rec: PatternRecognizer, text: str, spans: Sequence[tuple[int, int]]
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
                        out.append(RecognizerResult(entity, start, end, score, None, dict(meta)))
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


def _wants(wanted: frozenset[str] | None, entities: set[str] | frozenset[str]) -> bool:
    return wanted is None or bool(wanted & entities)
