"""The classifier: runs the recognizers over text chunks, fast where the prefilter allows.

Our own loop, with Presidio's semantics: every recognizer of the wanted entities runs (over the
prefilter's regions where it keeps the prefilter contract, else over the whole text), then context
words raise scores (:class:`LinearContextEnhancer`), then Presidio's de-duplication rule applies
(:func:`~agent.classify.results.remove_duplicates`). Presidio itself is imported only for an entity
that only one of its predefined recognizers produces (``recognizers/builtin.py``, through
``agent/classify/presidio.py``), spaCy only for a configured NER model: with neither, a scan starts
without them (importing Presidio costs about a second). tests/unit/classify/test_presidio_engine.py
checks this loop against Presidio's ``AnalyzerEngine``.

Every text is analysed alike whatever its language: the recognizers are patterns whose context words
already cover German, French and Italian.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import replace
from operator import attrgetter
from typing import Any, TypeGuard

import structlog

from agent.classify import ChunkDetector, ClassifierSettings, keystore
from agent.classify.context import LinearContextEnhancer
from agent.classify.prefilter import Prefilter, Trigger, regex_reach
from agent.classify.recognizers import OURS
from agent.classify.recognizers.base import ATTRIBUTES_KEY, DwPatternRecognizer, Rejection
from agent.classify.recognizers.builtin import BUILTIN, COVERING_TRIGGERS
from agent.classify.recognizers.custom import SpecRecognizer
from agent.classify.recognizers.ner import NER_ENTITIES, NerRecognizer, load_ner
from agent.classify.results import (
    RECOGNIZER_NAME_KEY,
    Recognizer,
    RegionRecognizer,
    Result,
    disjoint,
    remove_duplicates,
)
from agent.classify.tokenizer import Tokens
from agent.models import KEYSTORE_PART, Detection, RecognizerSpec, TextChunk

log = structlog.get_logger(__name__)

#: Parts of a document where a confidentiality marking is a label by position: +0.1.
_LABEL_PARTS = frozenset({"header", "footer", "metadata"})
#: Fast-path regions closer than this are merged: fewer regex calls, the same matches.
FAST_MERGE_GAP = 64
_START = attrgetter("start")
_POSITION = attrgetter("start", "end", "entity_type")


class Classifier:
    """Runs the recognizers over text chunks. Build once (recognizers are built in ``__init__``), reuse."""

    def __init__(
        self,
        settings: ClassifierSettings = ClassifierSettings(),  # noqa: B008  (frozen dataclass)
        extra: Sequence[ChunkDetector] = (),
        prefilter: bool = True,
    ) -> None:
        self.settings = settings
        self.extra = tuple(extra)
        wanted = settings.entities
        recognizers, triggers, owners = _registry(wanted, settings.custom, settings.custom_checked)
        nlp = load_ner(settings.ner_model) if settings.ner_model and _wants(wanted, NER_ENTITIES) else None
        ner = sorted(e for e in NER_ENTITIES if _wants(wanted, {e})) if nlp is not None else []
        if ner:
            recognizers.append(NerRecognizer(nlp, ner))
        self._recognizers = recognizers
        self._enhancer = LinearContextEnhancer()
        self._entities = sorted({e for r in recognizers for e in r.supported_entities})
        self._ours = [r for r in recognizers if isinstance(r, DwPatternRecognizer)]
        self._group_entity, reach = (
            _fast_groups(recognizers, owners, settings.regex_reach or regex_reach) if prefilter else ({}, {})
        )
        self._fast: dict[str, RegionRecognizer] = {
            key: rec for key in self._group_entity if _regional(rec := owners[key][1])
        }
        triggers = [replace(t, reach=reach[t.entity]) for t in triggers if t.entity in self._fast]
        self._prefilter = Prefilter(triggers, merge_gap=FAST_MERGE_GAP) if triggers else None
        self._fast_recognizers: list[Recognizer] = list(self._fast.values())
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

    def analyze_text(self, text: str) -> list[Result]:
        """Results for the whole of ``text`` (offsets local to it), prefiltered or not.

        Without the prefilter every entity's recognizers run over the whole text (the reference).
        With it, entities whose recognizers all keep the prefilter contract take the fast path: the
        re2 pass gives each its regions (trigger hits plus the longest match and the regex reach), its
        recognizers' regexes run only there, and context words and the de-duplication are applied as
        over the whole text, with context tokens taken from the whole text. Identical results
        (Hypothesis tests in test_prefilter.py): de-duplication only compares results of one entity,
        and those all lie in its regions.
        """
        if not text or not self._entities:
            return []
        tokens = Tokens(text)
        if self._prefilter is None:
            return self._run(text, tokens, self._entities)
        results = self._run(text, tokens, self._always) if self._always else []
        per_entity: dict[str, list[Result]] = {}
        for key, spans in self._prefilter.spans(text).items():
            found = self._fast[key].analyze_regions(text, spans)
            if found:
                per_entity.setdefault(self._group_entity[key], []).extend(found)
        if per_entity:
            flat = [r for found in per_entity.values() for r in found]
            self._enhancer.enhance_using_context(text, flat, tokens, self._fast_recognizers)  # in place
            for found in per_entity.values():  # de-duplication compares results of one entity only
                found.sort(key=_START)  # groups of one entity were appended one after the other
                results.extend(found if disjoint(found) else remove_duplicates(found))
        return results

    def _run(self, text: str, tokens: Tokens, entities: list[str]) -> list[Result]:
        """Every recognizer of ``entities`` over the whole text, as Presidio's ``AnalyzerEngine`` does."""
        chosen = [r for r in self._recognizers if any(e in r.supported_entities for e in entities)]
        found: list[Result] = []
        for rec in chosen:
            found.extend(rec.analyze(text, entities, tokens))
        self._enhancer.enhance_using_context(text, found, tokens, chosen)  # in place
        return remove_duplicates(found)

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
        results = sorted(self.analyze_text(text), key=_POSITION)
        out: list[Detection] = []
        radius, min_score = self.settings.context_radius, self.settings.min_score
        offset, path, member, part = chunk.offset, chunk.path, chunk.member, chunk.part
        label = part in _LABEL_PARTS
        line, line_pos = chunk.line, 0
        for r in results:
            score = r.score
            if label and r.entity_type == "CONFIDENTIAL_MARKING":
                score = min(1.0, score + 0.1)
            if score < min_score or score <= 0:
                continue
            start, end = r.start, r.end
            line += text.count("\n", line_pos, start)
            line_pos = start
            cs = max(0, start - radius)
            meta = r.recognition_metadata
            attributes = meta.get(ATTRIBUTES_KEY, ())
            out.append(
                _new_detection(
                    entity=r.entity_type,
                    start=offset + start,
                    end=offset + end,
                    score=round(score, 4),
                    recognizer=str(meta.get(RECOGNIZER_NAME_KEY, "")),
                    path=path,
                    member=member,
                    line=line,
                    part=part,
                    value=text[start:end],
                    context=text[cs : end + radius],
                    context_start=offset + cs,
                    attributes=tuple(attributes) if isinstance(attributes, tuple) else (),
                )
            )
        for detector in self.extra:
            out.extend(detector.detect(chunk))
        return out


def _plain_constructor(cls: type[Detection]) -> Callable[..., Detection]:
    """``cls(**fields)`` for a frozen dataclass given every field by keyword, without its ``__init__``.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``: 3 us for a
    :class:`Detection` of thirteen fields, built for every result (ten thousand per 8 MB of prose).
    Setting the instance's ``__dict__`` to the keyword dict gives an equal object (same fields, equal,
    same hash, pickles alike) in a third of that. Only while the class is a plain one (no
    ``__post_init__``, no slots, no field with an ``init=False``); else the class itself.
    """
    plain = (
        not hasattr(cls, "__post_init__")
        and not hasattr(cls, "__slots__")
        and all(f.init for f in dataclasses.fields(cls))
    )
    if not plain:
        return cls
    names = frozenset(f.name for f in dataclasses.fields(cls))
    new, set_attr = object.__new__, object.__setattr__

    def build(**fields: Any) -> Detection:
        if fields.keys() != names:  # a field left to its default, or an unknown one: the real thing
            return cls(**fields)
        obj = new(cls)
        set_attr(obj, "__dict__", fields)
        return obj

    return build


_new_detection = _plain_constructor(Detection)


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
    wanted: frozenset[str] | None, custom: Sequence[RecognizerSpec], checked: bool = False
) -> tuple[list[Recognizer], list[Trigger], dict[str, tuple[str, Recognizer]]]:
    """The recognizers for the wanted entities (ours, the built-ins, the packs' own), their prefilter
    triggers, and each trigger's owner: prefilter group key -> (entity, recognizer).

    Built-ins are keyed by their entity (one each); pack recognizers each get their own group, so a
    hundred token formats sharing one entity each run only around their own trigger's hits.
    """
    recognizers: list[Recognizer] = []
    triggers: list[Trigger] = []
    owners: dict[str, tuple[str, Recognizer]] = {}
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
        recognizers.append(SpecRecognizer(spec, checked))
        if spec.trigger:
            key = f"{spec.entity}/{spec.name}"
            triggers.append(Trigger(key, spec.trigger, spec.max_len))
            owners[key] = (spec.entity, recognizers[-1])
    return recognizers, triggers, owners


def _builtin_trigger(entity: str) -> list[Trigger]:
    """The prefilter trigger of a built-in recognizer's entity, if it has one (our phone recognizer)."""
    if entity in COVERING_TRIGGERS:
        return [Trigger(entity, *COVERING_TRIGGERS[entity], covering=True)]
    return []


def _regional(rec: Recognizer) -> TypeGuard[RegionRecognizer]:
    """Whether ``rec`` can run over regions (a plain check: isinstance on a Protocol costs ~25 us)."""
    return hasattr(rec, "analyze_regions") and hasattr(rec, "patterns")


def _regex_reach(rec: Recognizer, reach_of: Callable[[str], int | None]) -> int | None:
    """The largest regex reach of a region recognizer's patterns (None: unbounded, or not patterns)."""
    if not _regional(rec) or not rec.patterns:
        return None
    reaches = [reach_of(p.regex) for p in rec.patterns]
    return None if None in reaches else max(r for r in reaches if r is not None)


def _fast_groups(
    recognizers: Sequence[Recognizer],
    owners: dict[str, tuple[str, Recognizer]],
    reach_of: Callable[[str], int | None] = regex_reach,
) -> tuple[dict[str, str], dict[str, int]]:
    """Prefilter groups whose entity can take the fast path, with each group's regex reach.

    An entity is prefiltered only if every recognizer producing it owns a trigger and is a region
    recognizer whose regex reach is bounded (the fast path runs its regexes itself); otherwise all of
    its recognizers run over the whole text.
    """
    owned = {id(rec) for _, rec in owners.values()}
    producers: dict[str, list[Recognizer]] = {}
    for r in recognizers:
        for entity in r.supported_entities:
            producers.setdefault(entity, []).append(r)
    reaches = {id(r): _regex_reach(r, reach_of) for r in recognizers}
    fast = {
        entity
        for entity in {entity for entity, _ in owners.values()}
        if all(id(r) in owned and reaches[id(r)] is not None for r in producers[entity])
    }
    groups = {key: entity for key, (entity, _) in sorted(owners.items()) if entity in fast}
    reach = {key: reaches[id(owners[key][1])] or 0 for key in groups}
    return groups, reach


def _wants(wanted: frozenset[str] | None, entities: set[str] | frozenset[str]) -> bool:
    return wanted is None or bool(wanted & entities)
