"""Unscanned is not clean: every extraction error of a file becomes a detection the policies judge.

A file that could not be read completely (a timeout, encryption, a malformed part, a limit, a format
nobody reads) may hold anything. The pipeline turns its :class:`~agent.models.ExtractError` records into
``UNSCANNED_CONTENT`` detections whose value is the error reason (a bounded, content-free code), and the
policy engine evaluates them like any other detection: a shipped rule (policies/unscanned.yaml) alerts in
contractor-drop and outbound zones, and a pack can tune its severity per zone role or disable it.
"""

from __future__ import annotations

from collections.abc import Iterable

from agent.models import UNSCANNED_ENTITY, Detection, ExtractError, FileRef, Finding
from agent.policy.compiled import PolicySet
from agent.policy.evaluate import DocContext, evaluate
from agent.redact import Redactor

#: Reasons that say nothing is there to read: no content was missed.
NOT_CONTENT_REASONS = frozenset({"vanished"})
RECOGNIZER = "extractor"


def unscanned_detections(path: str, errors: Iterable[ExtractError]) -> list[Detection]:
    """One detection per distinct error reason of the file (the members that failed count as facts)."""
    by_reason: dict[str, int] = {}
    for e in errors:
        if e.reason not in NOT_CONTENT_REASONS:
            by_reason[e.reason] = by_reason.get(e.reason, 0) + 1
    return [
        Detection(
            entity=UNSCANNED_ENTITY,
            start=0,
            end=0,
            score=1.0,
            recognizer=RECOGNIZER,
            path=path,
            member=None,
            line=0,
            value=reason,
            attributes=(("reason", reason), ("parts", str(n))),
        )
        for reason, n in sorted(by_reason.items())
    ]


def unscanned_findings(
    ref: FileRef, errors: Iterable[ExtractError], policies: PolicySet, redactor: Redactor
) -> tuple[Finding, ...]:
    """The findings ``policies`` raise for what could not be read (paths as given: not masked). No
    classifier is needed, so the daemon's parent, which holds policies and no pipeline, alerts a file
    whose worker was killed."""
    detections = unscanned_detections(ref.path, errors)
    if not detections:
        return ()
    doc = DocContext(path=ref.path, member=None, zone=ref.zone, role=ref.role)
    return evaluate(detections, doc, policies, redactor).findings
