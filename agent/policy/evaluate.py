"""The policy evaluator: detections of one document + compiled policies -> findings (+ decisions).

A pure function: no I/O, no clock, no globals, so it is tested exhaustively and `explain` shows
exactly what `scan` decided. Decisions carry redacted excerpts only, never raw values.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import starmap
from operator import attrgetter

from agent.models import Detection, Finding
from agent.policy.compiled import PolicySet, Rule, normalise_text
from agent.policy.group import RuleHits
from agent.redact import Redactor, fingerprint_message, normalise_value

_SEP = " \x00 "  # between the text before and after a value: no phrase can span the value
_ORDER = attrgetter("start", "end", "entity", "recognizer")


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
    excerpts_per_rule: int | None = None,
) -> Evaluation:
    """Apply every enabled rule to the detections of one document.

    ``excerpts_per_rule``: build excerpts for a rule's findings only until that many distinct ones are
    built; its later findings carry an empty excerpt. Masking an excerpt is most of the cost of a
    finding, and a file's incident keeps only its first few distinct excerpts per rule
    (agent.policy.group): with that cap here the grouped findings are the same, whatever members came
    before (a group still short of excerpts takes them from the first distinct ones of this document).
    """
    ev = _Evaluation(detections, doc, redactor, explain, excerpts_per_rule)
    for rule in policies.rules:
        ev.apply(rule)
    if explain:
        for d in ev.ordered:
            if d.entity not in ev.covered:
                ev.decide("", d, False, "no enabled rule uses this entity")
    return Evaluation(findings=tuple(ev.findings), decisions=tuple(ev.decisions), member=doc.member)


def evaluate_hits(
    detections: Sequence[Detection],
    doc: DocContext,
    policies: PolicySet,
    redactor: Redactor,
    excerpts_per_rule: int | None = None,
) -> tuple[RuleHits, ...]:
    """:func:`evaluate`'s findings as a file's incident takes them (agent.policy.group): per rule,
    the first finding whole and the others' fingerprints and excerpts only."""
    ev = _Evaluation(detections, doc, redactor, False, excerpts_per_rule, hits=True)
    for rule in policies.rules:
        ev.apply(rule)
    return tuple(ev.hits or ())


class _Evaluation:
    """The state of one evaluate() call: detections in order, excerpts, windows, what was decided."""

    def __init__(
        self,
        detections: Sequence[Detection],
        doc: DocContext,
        redactor: Redactor,
        explain: bool,
        excerpts_per_rule: int | None = None,
        hits: bool = False,
    ):
        self.doc, self.redactor, self.explain = doc, redactor, explain
        self.hits: list[RuleHits] | None = [] if hits else None
        self.excerpts_per_rule = excerpts_per_rule
        self.ordered = sorted(detections, key=_ORDER)
        self.by_entity: dict[str, list[Detection]] = {}
        for d in self.ordered:
            self.by_entity.setdefault(d.entity, []).append(d)
        self.excerpts: dict[int, str] = {}
        self.windows: dict[tuple[int, str, int], str] = {}  # normalised text around a detection, per window
        self.covered: set[str] = set()
        self.findings: list[Finding] = []
        self.decisions: list[Decision] = []

    @cached_property
    def starts(self) -> list[int]:
        """Where the detections start, in order (for :meth:`neighbours`: excerpts only)."""
        return [d.start for d in self.ordered]

    @cached_property
    def longest(self) -> int:
        return max((d.end - d.start for d in self.ordered), default=0)

    # -- one rule -------------------------------------------------------------------------------
    def apply(self, rule: Rule) -> None:
        candidates = self.candidates(rule)
        if not candidates:
            return
        if not rule.enabled:
            self.decide_all(rule, candidates, "rule disabled")
            return
        self.covered.update(rule.entities)
        if self.doc.role not in rule.zones:
            self.decide_all(rule, candidates, f"zone role '{self.doc.role}' not applicable")
            return
        accepted = self.screen(rule, candidates)
        distinct = _firsts(list(map(distinct_key, accepted)), accepted)
        n = len(distinct)
        if n < rule.min_count:
            self.decide_all(
                rule, accepted, f"min_count not reached ({n} of {rule.min_count} distinct values)"
            )
            return
        if self.explain:
            firsts = set(map(id, distinct.values()))
            for d in accepted:
                repeat = id(d) not in firsts
                self.decide(rule.id, d, True, "accepted (repeat of a value)" if repeat else "accepted")
        chosen = list(distinct.items())[:1] if rule.min_count > 1 else list(distinct.items())
        count = n if rule.min_count > 1 else 1
        excerpts = self.capped_excerpts([d for _, d in chosen])
        if self.hits is None or not chosen:  # none chosen: only a hand-built rule of min_count 0
            for (key, d), excerpt in zip(chosen, excerpts, strict=True):
                self.findings.append(self.finding(rule, d, count, excerpt, self.fingerprint(key, d)))
            return
        messages = tuple(starmap(_message, chosen))
        hashed = self.redactor.fingerprint_of  # the others only if the incident needs them (group.py)
        first = self.finding(rule, chosen[0][1], count, excerpts[0], hashed(messages[0]))
        self.hits.append(RuleHits(first, messages, tuple(excerpts), hashed))

    def capped_excerpts(self, chosen: list[Detection]) -> list[str]:
        """The excerpt of each chosen detection, built only until ``excerpts_per_rule`` distinct
        ones are (then "")."""
        limit = self.excerpts_per_rule
        if limit is None:
            return [self.excerpt(d) for d in chosen]
        shown: set[str] = set()  # distinct excerpts built for this rule
        out: list[str] = []
        for d in chosen:
            if len(shown) >= limit:
                out.extend([""] * (len(chosen) - len(out)))
                break
            excerpt = self.excerpt(d)
            shown.add(excerpt)
            out.append(excerpt)
        return out

    def fingerprint(self, key: str, d: Detection) -> str:
        return self.redactor.fingerprint_of(_message(key, d))

    def candidates(self, rule: Rule) -> list[Detection]:
        """The detections of the rule's entities, in document order."""
        present = [e for e in rule.entities if e in self.by_entity]
        if len(present) > 1:
            return [d for d in self.ordered if d.entity in rule.entities]
        return self.by_entity[present[0]] if present else []

    def screen(self, rule: Rule, candidates: list[Detection]) -> list[Detection]:
        """The candidates no check rejects (a path exception rejects them all); rejections decided."""
        accepted: list[Detection] = []
        path_hit = rule.path_excepted(self.doc.path, self.doc.member)
        checks = applicable_checks(rule)
        if not self.explain:
            return [] if path_hit else self.passing(rule, candidates, checks)
        for d in candidates:
            reason = "path exception" if path_hit else rejection(rule, d, self.windows, checks)
            if reason:
                self.decide(rule.id, d, False, reason)
            else:
                accepted.append(d)
        return accepted

    def passing(self, rule: Rule, candidates: list[Detection], checks: Sequence[Check]) -> list[Detection]:
        """The candidates no check rejects, when no decision is recorded: only passing matters, so a
        candidate below min_score is dropped before any check (``_score`` cannot reject the others),
        and ``_filtered``, all that the rules of phone numbers and e-mail addresses check, is inline."""
        minimum, windows = rule.min_score, self.windows
        rest = tuple(c for c in checks if c is not _score and c is not _filtered)
        return [
            d
            for d in candidates
            if not d.score < minimum
            and not (d.attributes and d.attribute("filtered_by"))
            and (not rest or rejection(rule, d, windows, rest) is None)
        ]

    def finding(self, rule: Rule, d: Detection, count: int, excerpt: str, fingerprint: str) -> Finding:
        return Finding(
            path=self.doc.path,
            member=self.doc.member,
            policy=rule.pack,
            rule=rule.id,
            entity=d.entity,
            severity=rule.severity_for(self.doc.role),  # type: ignore[arg-type]
            score=d.score,
            line=d.line,
            start=d.start,
            end=d.end,
            excerpt=excerpt,
            fingerprint=fingerprint,
            desc=rule.desc,
            zone=self.doc.zone,
            count=count,
            tags=rule.tags,
            actions=rule.actions,
        )

    # -- decisions and excerpts -------------------------------------------------------------------
    def decide(self, rule: str, d: Detection, accepted: bool, reason: str) -> None:
        if self.explain:
            self.decisions.append(
                Decision(rule, d.entity, accepted, reason, d.score, self.excerpt(d), d.line, d.start)
            )

    def decide_all(self, rule: Rule, detections: list[Detection], reason: str) -> None:
        for d in detections:
            self.decide(rule.id, d, False, reason)

    def excerpt(self, d: Detection) -> str:
        key = id(d)
        if key not in self.excerpts:
            rel = d.start - d.context_start if d.context else -1
            self.excerpts[key] = self.redactor.excerpt(d.value, d.entity, d.context, rel, self.neighbours(d))
        return self.excerpts[key]

    def neighbours(self, d: Detection) -> list[tuple[int, int]]:
        """Other detected values inside d's context window, relative to it (they get blanked)."""
        if not d.context:
            return []
        lo = bisect_left(self.starts, d.context_start - self.longest)
        hi = bisect_left(self.starts, d.context_start + len(d.context))
        return [
            (o.start - d.context_start, o.end - d.context_start)
            for o in self.ordered[lo:hi]
            if o is not d and o.end > d.context_start
        ]


def _firsts(keys: list[str], detections: list[Detection]) -> dict[str, Detection]:
    """Each key with its first detection, in order of first occurrence."""
    firsts = dict(zip(keys, detections, strict=True))  # distinct keys (the usual case): no loop in Python
    if len(firsts) < len(keys):
        firsts = {}
        for key, d in zip(keys, detections, strict=True):
            firsts.setdefault(key, d)
    return firsts


def _message(key: str, d: Detection) -> str:
    """What ``d``'s fingerprint is the keyed hash of, from its :func:`distinct_key`: that key itself
    when ``d`` has a value."""
    return key if d.value else fingerprint_message(d.entity, d.value)


def distinct_key(d: Detection) -> str:
    """Values that differ only in presentation (spaces, dashes, case) count once."""
    return fingerprint_message(d.entity, d.value) if d.value else f"{d.entity}\x00@{d.start}"


Windows = dict[tuple[int, str, int], str]


Check = Callable[[Rule, Detection, "Windows | None"], "str | None"]


def rejection(
    rule: Rule, d: Detection, cache: Windows | None = None, checks: Sequence[Check] | None = None
) -> str | None:
    """Why ``rule`` rejects ``d`` on its own (before path exceptions and min_count), or None: the
    first check, in this order, that says no. ``checks``: :func:`applicable_checks` of the rule."""
    for check in _CHECKS if checks is None else checks:
        if (reason := check(rule, d, cache)) is not None:
            return reason
    return None


def applicable_checks(rule: Rule) -> tuple[Check, ...]:
    """The checks, in order, that can reject a candidate of ``rule``: the others pass every candidate
    of a rule that sets none of their fields (the scan asks each of them for every candidate)."""
    sets: dict[Check, bool] = {
        _attributes: bool(rule.attributes),
        _min_attributes: bool(rule.min_attributes),
        _allow_listed: bool(rule.allow_values or rule.allow_patterns),
        _context: rule.context_re is not None,
        _not_context: rule.not_context_re is not None,
    }
    return tuple(check for check in _CHECKS if sets.get(check, True))


def _filtered(rule: Rule, d: Detection, _: Windows | None) -> str | None:
    if not d.attributes:
        return None
    dropped = d.attribute("filtered_by")
    if dropped:  # only while explaining: a candidate a named false-positive filter dropped
        return f"dropped by filter '{dropped}'"
    return None


def _score(rule: Rule, d: Detection, _: Windows | None) -> str | None:
    if d.score < rule.min_score:
        return f"score {d.score:.2f} below min_score {rule.min_score:.2f}"
    return None


def _attributes(rule: Rule, d: Detection, _: Windows | None) -> str | None:
    for key, allowed in rule.attributes:
        value = d.attribute(key)
        if value is None or _attribute_word(value) not in allowed:
            return f"attribute {key}={value or '-'} not in {sorted(allowed)}"
    return None


@lru_cache(maxsize=256)
def _attribute_word(value: str) -> str:
    """An attribute's value as a rule lists it: recognizers give a handful of values (a role, a card
    scheme, a country), asked of every candidate by every rule that filters on them."""
    return normalise_text(value).strip()


def _min_attributes(rule: Rule, d: Detection, _: Windows | None) -> str | None:
    for key, minimum in rule.min_attributes:
        try:
            number = float(d.attribute(key) or "nan")
        except ValueError:
            number = float("nan")
        if not number >= minimum:
            return f"attribute {key}={d.attribute(key) or '-'} below {minimum:g}"
    return None


def searchable(text: str) -> str:
    """``text`` as RE2 (allow patterns) can read it: a lone surrogate, which a value read from a name
    that is not UTF-8 holds (os.fsdecode), becomes U+FFFD; RE2 would raise on it."""
    if text.isascii():
        return text
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def _allow_listed(rule: Rule, d: Detection, _: Windows | None) -> str | None:
    if rule.allow_values and normalise_value(d.value) in rule.allow_values:
        return "allow-listed value"
    if rule.allow_patterns:
        value = searchable(d.value)
        if any(p.search(value) for p in rule.allow_patterns):
            return "allow-listed value pattern"
    return None


def _context(rule: Rule, d: Detection, cache: Windows | None) -> str | None:
    if rule.context_re is not None and not near(d, rule.context_re, rule.window, cache):
        return f"no context word within {rule.window[1]} {rule.window[0]}"
    return None


def _not_context(rule: Rule, d: Detection, cache: Windows | None) -> str | None:
    if rule.not_context_re is not None and near(d, rule.not_context_re, rule.not_context_window, cache):
        return f"not_context word within {rule.not_context_window[1]} {rule.not_context_window[0]}"
    return None


#: The checks of one candidate against one rule, in the order `explain` reports the first failing one.
_CHECKS: tuple[Check, ...] = (
    _filtered,
    _score,
    _attributes,
    _min_attributes,
    _allow_listed,
    _context,
    _not_context,
)


def near(
    d: Detection,
    regex: re.Pattern[str],
    window: tuple[str, int],
    cache: Windows | None = None,
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
        text = _normalised(before[-n:]) + _SEP + _normalised(after[:n])
    else:
        tb, ta = _normalised(before).split()[-n:], _normalised(after).split()[:n]
        text = " " + " ".join(tb) + _SEP + " ".join(ta) + " "
    if cache is not None:
        cache[key] = text
    return regex.search(text) is not None


_ASCII_CAMEL = re.compile(rb"(?<=[a-z])(?=[A-Z])")
#: ASCII as its case: lower-case letters as "a", capitals as "A", the rest as a space.
_ASCII_CASES = bytes.maketrans(
    bytes(range(128)), bytes(97 if chr(c).islower() else 65 if chr(c).isupper() else 32 for c in range(128))
)
#: ASCII folded: capitals as lower-case letters, every character but a letter or a digit as a space.
_ASCII_FOLD = bytes.maketrans(
    bytes(range(128)), bytes(ord(chr(c).lower()) if chr(c).isalnum() else 32 for c in range(128))
)


def _normalised(text: str) -> str:
    """:func:`normalise_text`, 4x faster on ASCII text (most windows): there ``casefold`` is ``lower``,
    accents are none and a non-word run (``[\\W_]+``) is any run of characters but letters and digits,
    so bytes translations do it; the camel-case split runs only where a capital follows a lower-case
    letter (tests/unit/policy/test_evaluate_windows.py checks it equals ``normalise_text``)."""
    if not text.isascii():
        return normalise_text(text)
    data = text.encode("ascii")
    if b"aA" in data.translate(_ASCII_CASES):
        data = _ASCII_CAMEL.sub(b" ", data)
    return " " + b" ".join(data.translate(_ASCII_FOLD).split()).decode("ascii") + " "
