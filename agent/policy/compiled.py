"""The compiled form of policies: immutable rules, the PolicySet, and the one-line PolicyError.

Kept apart from the loader so the evaluator depends only on what it evaluates, not on YAML parsing.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.models import RecognizerSpec

#: Entities only a NER model produces. A rule may name them without a model loaded: it loads, lint
#: warns that nothing can currently produce them, and the rule lights up once a model is configured.
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "NRP", "ORGANIZATION"})
#: Entities of the exact-data-match and fingerprint detectors: produced only when an index is given,
#: yet rules using them must load without one (same treatment as NER entities).
INDEX_ENTITIES = frozenset({"EDM_MATCH", "DOC_FINGERPRINT"})


@dataclass(frozen=True)
class Issue:
    """One problem in a pack: ``file:rule:field: message``."""

    file: str
    rule: str
    field: str
    message: str
    suggestion: str = ""
    level: str = "error"  # error | warning


def format_issue(issue: Issue) -> str:
    """``file:rule:field: message`` (warnings say so), with the suggestion when there is one."""
    hint = f" (did you mean {issue.suggestion}?)" if issue.suggestion else ""
    level = "warning: " if issue.level == "warning" else ""
    return f"{issue.file}:{issue.rule or '-'}:{issue.field or '-'}: {level}{issue.message}{hint}"


@dataclass(frozen=True)
class ScoreReach:
    """How high detections can score, as the classifier declares it (the caller passes it in: policy
    never imports classify): ``ceilings``, the highest score of each built-in entity that never reaches
    1.0; a match with a context word near is raised by ``boost``, to at least ``floor``, at most 1.0."""

    ceilings: Mapping[str, float]
    boost: float
    floor: float

    def of_spec(self, spec: RecognizerSpec) -> float:
        """The highest score a pack recognizer gives: its best pattern's, raised when it has context."""
        best = max(score for _, _, score in spec.patterns)
        raised = min(1.0, max(best + self.boost, self.floor)) if spec.context else best
        return round(raised, 4)  # as the classifier rounds the scores of its detections

    def as_key(self) -> list[object]:
        """Its JSON form, for the checked-packs cache key (lint's result depends on it)."""
        return [sorted(self.ceilings.items()), self.boost, self.floor]


class PolicyError(Exception):
    """A broken policy pack: one line naming the file, the rule and the field."""

    def __init__(self, file: str, rule: str, field: str, message: str, suggestion: str = "") -> None:
        self.file, self.rule, self.field, self.message, self.suggestion = (
            file,
            rule,
            field,
            message,
            suggestion,
        )
        where = file + (f": rule '{rule}'" if rule else "") + (f": field '{field}'" if field else "")
        hint = f" (did you mean {suggestion}?)" if suggestion else ""
        super().__init__(f"{where}: {message}{hint}")

    @classmethod
    def from_issue(cls, issue: Issue) -> PolicyError:
        return cls(issue.file, issue.rule, issue.field, issue.message, issue.suggestion)


_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_NON_WORD = re.compile(r"[\W_]+")


def normalise_text(text: str) -> str:
    """Casefold, strip accents, turn every non-alphanumeric run into one space; padded with spaces."""
    text = _CAMEL.sub(" ", text)  # accountHolder, dbPassword: JSON/YAML keys are words too
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " " + " ".join(_NON_WORD.sub(" ", text.casefold()).split()) + " "


def phrases(words: Sequence[str]) -> list[str]:
    """The distinct phrases of ``words`` as :func:`normalise_text` writes them, shortest first (words
    that normalise to nothing dropped)."""
    return sorted({normalise_text(w).strip() for w in words if normalise_text(w).strip()}, key=len)


def phrase_regex(words: Sequence[str]) -> re.Pattern[str] | None:
    """One regex matching any of the phrases as whole words in :func:`normalise_text` output."""
    found = phrases(words)
    if not found:
        return None
    try:
        alternation = _factored(found, 0)
    except _TooDeep:  # a pack of phrases each extending the last: a plain list, which re can parse
        alternation = "|".join(re.escape(p) for p in reversed(found))
    return re.compile(" (?:" + alternation + ") ")


#: Nested groups of a factored alternation, past which :func:`phrase_regex` lists the phrases plainly
#: (re parses each group level by recursion).
_MAX_NESTING = 64


class _TooDeep(Exception):
    pass


def _factored(found: Sequence[str], depth: int) -> str:
    """An alternation of ``found`` (distinct strings, "" allowed) factored by common prefixes, like a
    trie: the same strings match. re tries a plain alternation's branches one after the other at each
    space of a window (150 phrases, 5x slower); factored, each character is compared about once."""
    if depth > _MAX_NESTING:
        raise _TooDeep
    by_first: dict[str, list[str]] = {}
    for p in found:
        if p:
            by_first.setdefault(p[0], []).append(p[1:])
    branches = []
    for first, rests in by_first.items():
        common = _common_prefix(rests)
        tail = _factored([r[len(common) :] for r in rests], depth + 1) if len(rests) > 1 else ""
        branches.append(re.escape(first + common) + tail)
    optional = "" in found
    if not branches:
        return ""
    if len(branches) == 1 and not optional:
        return branches[0]
    return "(?:" + "|".join(branches) + ")" + ("?" if optional else "")


def _common_prefix(strings: Sequence[str]) -> str:
    """The longest prefix of every one of ``strings``: the one the first and last in order share."""
    lo, hi = min(strings), max(strings)
    n = 0
    while n < len(lo) and lo[n] == hi[n]:
        n += 1
    return lo[:n]


@dataclass(frozen=True)
class Rule:
    """A compiled, effective rule (after overrides)."""

    id: str
    pack: str
    file: str
    desc: str
    severity: str
    severity_by_zone: tuple[tuple[str, str], ...]
    zones: frozenset[str]
    entities: frozenset[str]
    min_score: float
    min_count: int
    context: tuple[str, ...]
    window: tuple[str, int]  # ("chars" | "tokens", n)
    not_context: tuple[str, ...]
    not_context_window: tuple[str, int]
    attributes: tuple[tuple[str, frozenset[str]], ...]
    min_attributes: tuple[tuple[str, float], ...]
    path_globs: tuple[str, ...]
    allow_values: frozenset[str]  # normalise_value() of allow-listed values
    allow_patterns: tuple[re.Pattern[str], ...]
    tags: tuple[str, ...]
    actions: tuple[str, ...]
    enabled: bool
    examples_match: tuple[str, ...]
    examples_no_match: tuple[str, ...]
    examples_require: str | None

    # Compiled on first use (by the evaluator): `policy lint` and `config check` never evaluate, and
    # compiling every rule's phrases cost them ~10 ms. Not fields: equality and repr ignore them.
    @functools.cached_property
    def context_re(self) -> re.Pattern[str] | None:
        """The ``context`` phrases as one regex (:func:`phrase_regex`), None when there are none."""
        return phrase_regex(self.context)

    @functools.cached_property
    def not_context_re(self) -> re.Pattern[str] | None:
        """The ``not_context`` phrases as one regex, None when there are none."""
        return phrase_regex(self.not_context)

    def severity_for(self, role: str) -> str:
        return dict(self.severity_by_zone).get(role, self.severity)

    def path_excepted(self, path: str, member: str | None) -> bool:
        if not self.path_globs:
            return False
        names = [path, Path(path).name] + ([member, Path(member).name] if member else [])
        return any(fnmatch.fnmatchcase(n, g) for g in self.path_globs for n in names)


@dataclass(frozen=True)
class PolicySet:
    """Immutable compiled policies; ``digest`` changes whenever the effective rules do."""

    rules: tuple[Rule, ...]
    recognizers: tuple[RecognizerSpec, ...]
    digest: str
    disabled_by: tuple[tuple[str, str], ...] = ()  # (rule id, file that disabled it), for lint

    def entities(self) -> frozenset[str]:
        return frozenset(e for r in self.rules if r.enabled for e in r.entities)
