"""The policy evaluator: detections of one document + compiled policies -> findings (+ decisions).

A pure function: no I/O, no clock, no globals, so it is tested exhaustively and `explain` shows
exactly what `scan` decided. Decisions carry redacted excerpts only, never raw values.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from agent.models import Detection, Finding
from agent.policy.compiled import PolicySet, Rule, normalise_text
from agent.redact import Redactor, normalise_value

_SEP = " \x00 "  # between the text before and after a value: no phrase can span the value


@dataclass(frozen=True)
class DocContext:
    """Where the detections come from: one file, or one member of an archive."""

    path: str
    member: str | None
    zone: str | None
    role: str


@dataclass(frozen=True)
class Decision:
    """What one rule decided about one candidate, and why (for `dropwarden explain`)."""

    rule: str  # "" when no enabled rule uses the entity
    entity: str
    accepted: bool
    reason: str
    score: float
    excerpt: str  # redacted
    line: int = 0
    start: int = 0


@dataclass(frozen=True)
class Evaluation:
    findings: tuple[Finding, ...]
    decisions: tuple[Decision, ...]
    member: str | None = None  # archive member the detections came from (for explain output)


def evaluate(
    detections: Sequence[Detection],
    doc: DocContext,
    policies: PolicySet,
    redactor: Redactor,
    explain: bool = False,
) -> Evaluation:
    """Apply every enabled rule to the detections of one document."""
    ordered = sorted(detections, key=lambda d: (d.start, d.end, d.entity, d.recognizer))
    excerpts: dict[int, str] = {}
    starts = [d.start for d in ordered]
    longest = max((d.end - d.start for d in ordered), default=0)

    def excerpt(d: Detection) -> str:
        key = id(d)
        if key not in excerpts:
            rel = d.start - d.context_start if d.context else -1
            excerpts[key] = redactor.excerpt(d.value, d.entity, d.context, rel, neighbours(d))
        return excerpts[key]

    def neighbours(d: Detection) -> list[tuple[int, int]]:
        """Other detected values inside d's context window, relative to it (they get blanked)."""
        if not d.context:
            return []
        lo = bisect_left(starts, d.context_start - longest)
        hi = bisect_left(starts, d.context_start + len(d.context))
        return [
            (o.start - d.context_start, o.end - d.context_start)
            for o in ordered[lo:hi]
            if o is not d and o.end > d.context_start
        ]

    findings: list[Finding] = []
    decisions: list[Decision] = []

    def decide(rule: str, d: Detection, accepted: bool, reason: str) -> None:
        if explain:
            decisions.append(Decision(rule, d.entity, accepted, reason, d.score, excerpt(d), d.line, d.start))

    covered: set[str] = set()
    windows: dict[tuple[int, str, int], str] = {}  # normalised text around a detection, per window
    by_entity: dict[str, list[Detection]] = {}
    for d in ordered:
        by_entity.setdefault(d.entity, []).append(d)
    for rule in policies.rules:
        present = [e for e in rule.entities if e in by_entity]
        if len(present) > 1:
            candidates = [d for d in ordered if d.entity in rule.entities]
        else:
            candidates = by_entity[present[0]] if present else []
        if not candidates:
            continue
        if not rule.enabled:
            for d in candidates:
                decide(rule.id, d, False, "rule disabled")
            continue
        covered.update(rule.entities)
        if doc.role not in rule.zones:
            for d in candidates:
                decide(rule.id, d, False, f"zone role '{doc.role}' not applicable")
            continue
        accepted: list[Detection] = []
        path_hit = rule.path_excepted(doc.path, doc.member)
        for d in candidates:
            reason = "path exception" if path_hit else rejection(rule, d, windows)
            if reason:
                decide(rule.id, d, False, reason)
            else:
                accepted.append(d)
        distinct: dict[str, Detection] = {}
        for d in accepted:
            distinct.setdefault(distinct_key(d), d)
        n = len(distinct)
        if n < rule.min_count:
            for d in accepted:
                decide(rule.id, d, False, f"min_count not reached ({n} of {rule.min_count} distinct values)")
            continue
        firsts = set(map(id, distinct.values()))
        for d in accepted:
            decide(rule.id, d, True, "accepted" if id(d) in firsts else "accepted (repeat of a value)")
        chosen = list(distinct.values())[:1] if rule.min_count > 1 else list(distinct.values())
        severity = rule.severity_for(doc.role)
        for d in chosen:
            findings.append(
                Finding(
                    path=doc.path,
                    member=doc.member,
                    policy=rule.pack,
                    rule=rule.id,
                    entity=d.entity,
                    severity=severity,  # type: ignore[arg-type]
                    score=d.score,
                    line=d.line,
                    start=d.start,
                    end=d.end,
                    excerpt=excerpt(d),
                    fingerprint=redactor.fingerprint(d.entity, d.value),
                    desc=rule.desc,
                    zone=doc.zone,
                    count=n if rule.min_count > 1 else 1,
                    tags=rule.tags,
                    actions=rule.actions,
                )
            )
    if explain:
        for d in ordered:
            if d.entity not in covered:
                decide("", d, False, "no enabled rule uses this entity")
    return Evaluation(findings=tuple(findings), decisions=tuple(decisions), member=doc.member)


def distinct_key(d: Detection) -> str:
    """Values that differ only in presentation (spaces, dashes, case) count once."""
    return f"{d.entity}\x00{normalise_value(d.value)}" if d.value else f"{d.entity}\x00@{d.start}"


def rejection(rule: Rule, d: Detection, cache: dict[tuple[int, str, int], str] | None = None) -> str | None:
    """Why ``rule`` rejects ``d`` on its own (before path exceptions and min_count), or None."""
    dropped = d.attribute("filtered_by")
    if dropped:  # only while explaining: a candidate a named false-positive filter dropped
        return f"dropped by filter '{dropped}'"
    if d.score < rule.min_score:
        return f"score {d.score:.2f} below min_score {rule.min_score:.2f}"
    for key, allowed in rule.attributes:
        value = d.attribute(key)
        if value is None or normalise_text(value).strip() not in allowed:
            return f"attribute {key}={value or '-'} not in {sorted(allowed)}"
    for key, minimum in rule.min_attributes:
        try:
            number = float(d.attribute(key) or "nan")
        except ValueError:
            number = float("nan")
        if not number >= minimum:
            return f"attribute {key}={d.attribute(key) or '-'} below {minimum:g}"
    if rule.allow_values and normalise_value(d.value) in rule.allow_values:
        return "allow-listed value"
    if any(p.search(d.value) for p in rule.allow_patterns):
        return "allow-listed value pattern"
    if rule.context_re is not None and not near(d, rule.context_re, rule.window, cache):
        return f"no context word within {rule.window[1]} {rule.window[0]}"
    if rule.not_context_re is not None and near(d, rule.not_context_re, rule.not_context_window, cache):
        return f"not_context word within {rule.not_context_window[1]} {rule.not_context_window[0]}"
    return None


def near(
    d: Detection,
    regex: re.Pattern[str],
    window: tuple[str, int],
    cache: dict[tuple[int, str, int], str] | None = None,
) -> bool:
    """Whether a phrase of ``regex`` occurs within the window on either side of the value."""
    if not d.context:
        return False
    key = (id(d), *window)
    if cache is not None and key in cache:
        return regex.search(cache[key]) is not None
    rel = max(0, min(len(d.context), d.start - d.context_start))
    end = max(rel, min(len(d.context), rel + (d.end - d.start)))
    before, after = d.context[:rel], d.context[end:]
    kind, n = window
    if kind == "chars":
        text = normalise_text(before[-n:]) + _SEP + normalise_text(after[:n])
    else:
        tb, ta = normalise_text(before).split()[-n:], normalise_text(after).split()[:n]
        text = " " + " ".join(tb) + _SEP + " ".join(ta) + " "
    if cache is not None:
        cache[key] = text
    return regex.search(text) is not None
