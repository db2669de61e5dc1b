"""The one place that knows every stage: extract -> classify -> evaluate -> verdict.

`dropwarden scan` and the daemon both call :meth:`Pipeline.scan`; the daemon adds the journal
before it and the actions after it. Stages never call each other; they only see dataclasses.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import structlog

from agent.classify import Classifier, ClassifierSettings, prefilter
from agent.classify.prefilter import regex_reach
from agent.extract import Extractor
from agent.models import (
    Detection,
    ExtractError,
    FileRecord,
    FileRef,
    Finding,
    Limits,
    TextChunk,
    Verdict,
)
from agent.policy import DocContext, Evaluation, PolicySet, evaluate
from agent.policy.checkcache import keep, recall, seal_for
from agent.policy.evaluate import evaluate_hits
from agent.policy.group import MAX_EXCERPTS_SHOWN, FileFindings, RuleHits
from agent.policy.names import MAX_NAMES, NameText, redact_error, redact_finding, redact_record, rename
from agent.policy.regexcheck import parsed as parsed_regex
from agent.policy.regexcheck import release_parse_trees
from agent.policy.setcache import cached_policies
from agent.policy.shipped import SHIPPED_POLICIES, default_policy_dirs, expand_policy_paths
from agent.policy.unscanned import unscanned_findings
from agent.redact import Redactor
from agent.sources import longpath

log = structlog.get_logger(__name__)

__all__ = ["SHIPPED_POLICIES", "Pipeline", "build_pipeline", "default_policy_dirs", "expand_policy_paths"]

#: Detections kept per (member, entity) before evaluation; beyond it a file is plainly a bulk leak,
#: and keeping every one would let a hostile 1 GB file exhaust memory.
MAX_DETECTIONS_PER_ENTITY = 5_000

#: Called with every chunk's detections as the classifier returned them (before de-duplication and
#: evaluation): the daemon's workers keep their context to seal it as evidence (agent.daemon.workers).
DetectionHook = Callable[[Sequence[Detection]], None]


@dataclass
class _DocState:
    detections: list[Detection] = field(default_factory=list)
    seen: dict[tuple[str, int, int], int] = field(default_factory=dict)  # span -> index in detections
    per_entity: dict[str, int] = field(default_factory=lambda: defaultdict(int))


@dataclass(frozen=True)
class _Shown:
    """How a file's path and member names are shown: detected values masked."""

    path: str
    masked: dict[str, str]


_Named = TypeVar("_Named", Finding, ExtractError, FileRecord)


def _as_shown(
    items: Iterable[_Named], shown: _Shown, redact: Callable[[_Named, str, dict[str, str]], _Named]
) -> tuple[_Named, ...]:
    """``items`` with the path and member names as ``shown``: a copy only of those it changes (a
    file without a value in its names, most, keeps its findings as they are)."""
    if shown.masked:
        return tuple(redact(x, shown.path, shown.masked) for x in items)
    return tuple(x if x.path == shown.path else redact(x, shown.path, shown.masked) for x in items)


def _scrubbed(path: str, relative: str, names: NameText) -> _Shown:
    """The names no detector could judge, every digit and token-like run masked (NameText.scrubbed)."""
    scrubbed = names.scrubbed()
    return _Shown(rename(path, relative, scrubbed), scrubbed)


@dataclass
class Pipeline:
    """Extract, classify and evaluate one top-level file at a time. Built once per process."""

    extractor: Extractor
    classifier: Classifier
    policies: PolicySet
    redactor: Redactor
    warmed: bool = field(default=False, init=False)

    def warm_up(self) -> None:
        """Load what recognizers load lazily (phone metadata, the suffix list, the regexes of the
        common entities) and every format reader now, once: call it before forking workers, so each
        does not load them again on its first file. A one-file scan skips it and loads only what its
        file needs."""
        if not self.warmed:
            self.extractor.load_readers()
            self.evaluate_text(_WARM_UP, FileRef("<warm-up>"))
            self.warmed = True

    def scan(self, ref: FileRef, on_detections: DetectionHook | None = None) -> Verdict:
        """The verdict on one top-level file; ``on_detections`` sees every chunk's raw detections."""
        started = time.monotonic()
        findings = FileFindings()  # one finding per rule for the whole file (bounded)
        errors: list[ExtractError] = []
        docs: dict[str | None, _DocState] = {}
        members: dict[str, None] = {}  # member names in order of appearance (bounded): names are text too
        try:
            size = longpath.lstat(ref.path).st_size
        except OSError:
            size = 0
        files: list[FileRecord] = []
        for item in self.extractor.extract(ref, files):
            if item.member is not None and len(members) < MAX_NAMES:
                members.setdefault(item.member)
            if isinstance(item, ExtractError):
                errors.append(item)
                continue
            state = docs.setdefault(item.member, _DocState())
            self._classify_into(item, state, errors, on_detections)
            if item.final:
                findings.add_hits(self._evaluate(ref, item.member, docs.pop(item.member)))
        for member, state in docs.items():  # an extractor that stopped early (limit, timeout)
            findings.add_hits(self._evaluate(ref, member, state))
        findings.add(self.unscanned(ref, errors))
        shown, in_names = self._names(ref, list(members), on_detections)
        findings.add(in_names)
        return Verdict(
            path=ref.path,
            zone=ref.zone,
            findings=_as_shown(findings.findings(), shown, redact_finding),
            errors=_as_shown(errors, shown, redact_error),
            bytes=size,
            seconds=time.monotonic() - started,
            files=_as_shown(files, shown, redact_record),
        )

    def explain(self, ref: FileRef) -> tuple[list[Evaluation], list[ExtractError]]:
        """Every candidate with the decision of every rule: the tuning tool behind `dropwarden explain`."""
        errors: list[ExtractError] = []
        docs: dict[str | None, _DocState] = {}
        self.classifier.keep_rejections(True)  # candidates a named filter dropped, with its name
        try:
            for item in self.extractor.extract(ref):
                if isinstance(item, ExtractError):
                    errors.append(item)
                    continue
                self._classify_into(item, docs.setdefault(item.member, _DocState()), errors)
        finally:
            self.classifier.keep_rejections(False)
        evaluations = [
            evaluate(state.detections, self._doc(ref, member), self.policies, self.redactor, explain=True)
            for member, state in docs.items()
        ]
        return evaluations, errors

    def evaluate_text(self, text: str, ref: FileRef, explain: bool = False) -> Evaluation:
        """Classify and evaluate a string as if it were a whole file (policy examples, tests)."""
        state = _DocState()
        self._classify_into(TextChunk(path=ref.path, member=None, text=text), state, [])
        return evaluate(state.detections, self._doc(ref, None), self.policies, self.redactor, explain=explain)

    def unscanned(self, ref: FileRef, errors: Sequence[ExtractError]) -> tuple[Finding, ...]:
        """The findings the policies raise for what could not be read (agent.policy.unscanned)."""
        return unscanned_findings(ref, errors, self.policies, self.redactor)

    def shown_path(self, ref: FileRef) -> str:
        """The file's path as every output must show it: values in its name masked."""
        return self._names(ref, [])[0].path

    def shown(self, ref: FileRef, findings: Sequence[Finding]) -> tuple[Finding, ...]:
        """``findings`` made outside :meth:`scan` (a killed worker's unscanned alert) with the path as
        every output must show it: values in the file's name masked."""
        shown, _ = self._names(ref, [])
        return tuple(redact_finding(f, shown.path, shown.masked) for f in findings)

    def _names(
        self, ref: FileRef, members: list[str], on_detections: DetectionHook | None = None
    ) -> tuple[_Shown, tuple[Finding, ...]]:
        """Detect values in the file's path (below its root) and member names: findings, and the names
        as every output must show them (agent.policy.names)."""
        relative = os.path.relpath(ref.path, ref.root) if ref.root and ref.path != ref.root else ref.path
        names = NameText.of([relative, *members])
        state = _DocState()
        chunk = TextChunk(path=ref.path, member=None, text=names.text, part="name")
        failed: list[ExtractError] = []
        self._classify_into(chunk, state, failed, on_detections)
        if failed:  # no value could be looked for (logged): none may be shown as it is
            return _scrubbed(ref.path, relative, names), ()
        if not state.detections:
            return _Shown(ref.path, {}), ()
        try:
            found = evaluate(state.detections, self._doc(ref, None), self.policies, self.redactor).findings
        except Exception as exc:  # an evaluation bug must neither stop the scan nor show a name in clear
            log.error("name_evaluation_failed", error=type(exc).__name__)
            return _scrubbed(ref.path, relative, names), ()
        masked = names.masked(found)
        return _Shown(rename(ref.path, relative, masked), masked), found

    def _classify_into(
        self,
        chunk: TextChunk,
        state: _DocState,
        errors: list[ExtractError],
        on_detections: DetectionHook | None = None,
    ) -> None:
        try:
            detections = self.classifier.detect(chunk)
        except MemoryError:
            errors.append(ExtractError(chunk.path, chunk.member, "limit_memory", "memory ceiling reached"))
            return
        except Exception as exc:  # a detector bug must not lose the rest of the file
            # no path or member name, which may hold values: the worker's log context names the file
            # as alerts do (agent.log.about_file); the member is named, masked, in the verdict's error
            in_member = chunk.member is not None
            log.error("classify_failed", part=chunk.part, in_member=in_member, error=type(exc).__name__)
            errors.append(
                ExtractError(chunk.path, chunk.member, "internal", f"classifier: {type(exc).__name__}")
            )
            return
        if on_detections is not None:
            on_detections(detections)
        per_entity, seen = state.per_entity, state.seen
        for d in detections:
            if per_entity[d.entity] >= MAX_DETECTIONS_PER_ENTITY:  # before `seen`: memory stays bounded
                continue
            key = (d.entity, d.start, d.end)
            at = seen.get(key)
            if at is not None:  # overlapping chunks report the same value twice: keep the better read,
                if d.score > state.detections[at].score:  # e.g. the later chunk holds its context word
                    state.detections[at] = d
                continue
            seen[key] = len(state.detections)
            per_entity[d.entity] += 1
            state.detections.append(d)

    def _evaluate(self, ref: FileRef, member: str | None, state: _DocState) -> tuple[RuleHits, ...]:
        if not state.detections:
            return ()
        doc = self._doc(ref, member)  # the file's incident shows a few excerpts per rule: build only those
        return evaluate_hits(
            state.detections, doc, self.policies, self.redactor, excerpts_per_rule=MAX_EXCERPTS_SHOWN
        )

    @staticmethod
    def _doc(ref: FileRef, member: str | None) -> DocContext:
        return DocContext(path=ref.path, member=member, zone=ref.zone, role=ref.role)


def build_pipeline(
    policy_paths: Sequence[str | Path] | None,
    key: bytes,
    limits: Limits | None = None,
    extra_detectors: Iterable[object] = (),
    ner_model: str | None = None,
    sources: Mapping[Path, bytes] | None = None,
    warm_up: bool = True,
    policy_cache: str | Path | None = None,
) -> Pipeline:
    """Compose the stages from plain settings. Raises PolicyError on a broken policy pack.

    ``sources``: pack bytes already read (and, with require_signed, verified) by the daemon, so the
    policies loaded are exactly the bytes that were checked. ``warm_up=False`` leaves
    :meth:`Pipeline.warm_up` to the caller (`scan` calls it only when it forks several workers).
    ``policy_cache``: a private state directory where the compiled policies of unchanged packs are
    remembered, sealed with ``key`` (agent.policy.setcache); None loads the packs every time.
    """
    extra = tuple(extra_detectors)
    known = Classifier.known_entities() | frozenset(e for d in extra for e in getattr(d, "entities", ()))
    paths = expand_policy_paths(policy_paths) if policy_paths else default_policy_dirs()
    reach = _Reaches(policy_cache, key)
    try:  # the loader compiles and parses every pack pattern; the classifier reuses it, then it goes
        policies = cached_policies(paths, known, policy_cache, key, sources, keep_parse_trees=True)
        settings = ClassifierSettings(
            entities=policies.entities(),
            custom=policies.recognizers,
            custom_checked=True,
            ner_model=ner_model,
            regex_reach=reach,
        )
        classifier = Classifier(settings, extra=extra)  # type: ignore[arg-type]
    finally:
        release_parse_trees()
    reach.keep()
    # values the EDM indexes know (a customer's name in free text) are blanked in every excerpt
    finders = (getattr(d, "known_spans", None) for d in extra)
    protected = tuple(f for f in finders if callable(f))
    pipeline = Pipeline(
        Extractor(limits or Limits()), classifier, policies, Redactor(key, protected=protected)
    )
    if warm_up:
        pipeline.warm_up()
    return pipeline


class _Reaches:
    """The regex reach (:func:`~agent.classify.prefilter.regex_reach`) of each pattern the classifier
    asks about, remembered in ``state_dir`` between launches (sealed with a key derived from ``key``):
    parsing the ~260 patterns for it cost a launch ~0.03 CPU s. The entry is keyed by the code that
    computes it (the prefilter's source, the Python version whose parser it walks); a value of another
    shape voids the whole table. Without a state dir: computed every time."""

    KIND = "regex-reach"

    def __init__(self, state_dir: str | Path | None, key: bytes) -> None:
        self.state_dir, self.seal = state_dir, seal_for(key, b"dropwarden regex reach")
        try:
            code = hashlib.sha256(Path(prefilter.__file__).read_bytes()).hexdigest()
        except OSError:  # the code cannot be read (no source installed): nothing is remembered
            self.state_dir = None
            code = ""
        self.version = [sys.version, code]
        stored = recall(self.KIND, self.version, self.state_dir, self.seal)
        self.known: dict[str, int | None] = _reach_table(stored)
        self.asked: dict[str, int | None] = {}

    def __call__(self, pattern: str) -> int | None:
        if pattern not in self.asked:
            known = pattern in self.known
            self.asked[pattern] = self.known[pattern] if known else regex_reach(pattern, parsed_regex)
        return self.asked[pattern]

    def keep(self) -> None:
        """Store what was asked (only that: patterns of packs since changed are dropped) if it is new."""
        if self.state_dir is not None and self.asked != self.known:
            keep(self.KIND, self.version, self.state_dir, self.seal, self.asked)


def _reach_table(stored: object) -> dict[str, int | None]:
    """A stored table as it was written (pattern -> reach >= 0 or None), else empty."""
    if not isinstance(stored, dict):
        return {}
    good = all(v is None or (type(v) is int and v >= 0) for v in stored.values())
    return stored if good else {}  # JSON object keys are always strings


#: Fake values of the common entities (none of them real): exercises every lazily loaded table.
_WARM_UP = (
    "Call +41 44 668 18 00 or 030 901820, mail anna.muster@example.com, https://intranet.example.org/x "
    "IBAN CH93 0076 2011 6238 5295 7, card 4111 1111 1111 1111, SSN 078-05-1123, host 10.1.2.3\n"
)
