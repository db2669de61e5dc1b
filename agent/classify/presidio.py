"""The Presidio analyzer, built once and offline, and the chunk -> detections adapter.

Built with our registry (only recognizers for entities some policy uses), our :class:`OfflineNlpEngine`
(linear regex tokenizer, never downloads a model) and our :class:`LinearContextEnhancer`. All
recognizers are registered for language "en" and every text is analysed as "en": they are
language-agnostic patterns whose context words already cover German, French and Italian.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult

from agent.classify import ChunkDetector, ClassifierSettings
from agent.classify.context import LinearContextEnhancer
from agent.classify.prefilter import EXTRA_TRIGGERS, Prefilter, Trigger
from agent.classify.recognizers import OURS
from agent.classify.recognizers.base import ATTRIBUTES_KEY
from agent.classify.recognizers.builtin import BUILTIN, TRIGGERS
from agent.classify.recognizers.custom import SpecRecognizer
from agent.classify.recognizers.ner import NerRecognizer
from agent.classify.tokenizer import OfflineNlpEngine
from agent.models import Detection, TextChunk

log = structlog.get_logger(__name__)

LANGUAGE = "en"
NER_ENTITIES = frozenset({"PERSON", "LOCATION"})
#: Parts of a document where a confidentiality marking is a label by position: +0.1.
_LABEL_PARTS = frozenset({"header", "footer", "metadata"})
#: When windows cover more than this share of the text, analyse the whole text in one pass instead.
DENSE = 0.6


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
                    triggers.append(Trigger(entity, cls.TRIGGER, cls.MAX_LEN))
        for entity, factory in BUILTIN.items():
            if _wants(wanted, {entity}):
                builtin = factory()
                recognizers.append(builtin)
                if entity in TRIGGERS:
                    triggers.append(Trigger(entity, *TRIGGERS[entity]))
                elif entity in EXTRA_TRIGGERS:
                    triggers.append(Trigger(entity, *EXTRA_TRIGGERS[entity]))
        custom_entities = set()
        for spec in settings.custom:
            recognizers.append(SpecRecognizer(spec))
            custom_entities.add(spec.entity)
        ner = sorted(e for e in self._nlp.get_supported_entities() if _wants(wanted, {e}))
        if ner:
            recognizers.append(NerRecognizer(ner))
        self._engine: AnalyzerEngine | None = None
        if recognizers:  # an empty registry would make Presidio load all its predefined recognizers
            registry = RecognizerRegistry(recognizers=recognizers, supported_languages=[LANGUAGE])
            self._engine = AnalyzerEngine(
                registry=registry,
                nlp_engine=self._nlp,
                supported_languages=[LANGUAGE],
                context_aware_enhancer=LinearContextEnhancer(),
            )
        self._entities = sorted({e for r in recognizers for e in r.supported_entities})
        triggers = [
            t for t in triggers if t.entity not in custom_entities
        ]  # a custom spec may share an entity
        self._prefilter = Prefilter(triggers) if prefilter and triggers else None
        gated = {t.entity for t in triggers} if self._prefilter else set()
        self._always = [e for e in self._entities if e not in gated]
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

        Prefiltered, each entity runs only on its own windows (see prefilter.py), and on the whole text
        in one pass when its windows cover most of it; entities without a trigger always see the whole
        text. Identical to one whole-text pass: Presidio's de-duplication only compares results of the
        same entity, and those lie in the same window.
        """
        if not text or not self._entities:
            return []
        if self._prefilter is None:
            return self._run(text, 0, self._entities)
        whole = list(self._always)
        windowed: list[tuple[str, list[tuple[int, int]]]] = []
        for entity, spans in self._prefilter.spans(text).items():
            if sum(hi - lo for lo, hi in spans) > DENSE * len(text):
                whole.append(entity)
            else:
                windowed.append((entity, spans))
        results = self._run(text, 0, sorted(whole)) if whole else []
        for entity, spans in windowed:
            for lo, hi in spans:
                for r in self._run(text[lo:hi], lo, [entity]):
                    r.start += lo
                    r.end += lo
                    results.append(r)
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


def _wants(wanted: frozenset[str] | None, entities: set[str] | frozenset[str]) -> bool:
    return wanted is None or bool(wanted & entities)
