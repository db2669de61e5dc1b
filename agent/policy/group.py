"""One incident per top-level file: the findings of a file grouped per rule, with bounded state.

A 12 KB zip nesting 16x16x16 copies of one carded text holds 4,096 members; reported member by member
it floods every sink with thousands of alerts about one file. The pipeline feeds each member's findings
here and gets back one finding per rule for the whole file: the first occurrence (its location,
excerpt and fingerprint, so de-duplication stays stable), plus how many findings there were, how many
distinct values, the first few members and excerpts. Memory is bounded whatever the file holds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from agent.models import SEVERITY_RANK, Finding, Severity

MAX_MEMBERS_SHOWN = 10  # member names kept per group (the alert lists them)
MAX_EXCERPTS_SHOWN = 3  # distinct excerpts kept per group
MAX_FINGERPRINTS = 10_000  # distinct values counted exactly; beyond it, each new finding counts as new


@dataclass(frozen=True)
class RuleHits:
    """The findings of one rule in one document, as a file's incident needs them: the first whole,
    then of every finding (the first's included, in order) only its excerpt and what its fingerprint
    is the keyed hash of (:func:`agent.redact.fingerprint_message`). All of them share the first's
    path, member, rule, severity and count (several findings only ever come from a rule that counts
    each value once). A phone-number rule turns thousands of values into one incident: building a
    Finding for each was a large share of the evaluation, and hashing each value is needed only when
    the incident already holds fingerprints from elsewhere (another member, the file's name).

    ``messages`` hold the values in clear: a RuleHits never leaves the process that evaluated it."""

    first: Finding
    messages: tuple[str, ...] = field(repr=False)  # values in clear: memory only
    excerpts: tuple[str, ...]  # "" where the excerpt budget built none
    fingerprint_of: Callable[[str], str] = field(repr=False, compare=False)

    @property
    def fingerprints(self) -> tuple[str, ...]:
        return tuple(map(self.fingerprint_of, self.messages))


@dataclass
class _Group:
    first: Finding
    occurrences: int = 0
    distinct: int = 0
    #: The fingerprints seen (at most MAX_FINGERPRINTS), or while ``hashing`` is set, the messages
    #: they are the keyed hashes of: distinct messages have distinct fingerprints (HMAC-SHA256, 128
    #: bits kept), so either counts the same distinct values.
    seen: set[str] = field(default_factory=set, repr=False)
    hashing: Callable[[str], str] | None = None
    members: list[str] = field(default_factory=list)
    excerpts: list[str] = field(default_factory=list)

    def add(self, f: Finding) -> None:
        self._by_fingerprint()
        members = f.members or ((f.member,) if f.member else ())
        self._take(f.occurrences, (f.fingerprint,), f.count, members, f.excerpts or (f.excerpt,), f.severity)

    def add_hits(self, h: RuleHits) -> None:
        """As :meth:`add` of each of the findings ``h`` stands for, in order."""
        if not self.occurrences:  # a new incident: it counts messages until a fingerprint comes
            self.hashing = h.fingerprint_of
        if self.hashing is not None and self.hashing == h.fingerprint_of:
            keys = h.messages
        else:
            self._by_fingerprint()
            keys = h.fingerprints
        f = h.first
        members = (f.member,) if f.member else ()
        self._take(len(keys), keys, f.count, members, h.excerpts, f.severity)

    def _by_fingerprint(self) -> None:
        """Count by fingerprint from now on: those of the messages seen so far."""
        if self.hashing is not None:
            self.seen = set(map(self.hashing, self.seen))
            self.hashing = None

    def _take(
        self,
        occurrences: int,
        keys: Sequence[str],
        count: int,
        members: Iterable[str],
        excerpts: Iterable[str],
        severity: Severity,
    ) -> None:
        """Findings with these fingerprints (or messages: ``seen``), ``count`` distinct values behind
        each, members, excerpts and severity: each field is merged on its own, so the order across
        fields is free."""
        self.occurrences += occurrences
        self._count(keys, count)
        for m in members:
            if len(self.members) < MAX_MEMBERS_SHOWN and m not in self.members:
                self.members.append(m)
        for e in excerpts:
            if len(self.excerpts) >= MAX_EXCERPTS_SHOWN:
                break
            if e not in self.excerpts:
                self.excerpts.append(e)
        if SEVERITY_RANK[severity] > SEVERITY_RANK[self.first.severity]:
            self.first = dataclasses.replace(self.first, severity=severity)

    def _count(self, keys: Sequence[str], count: int) -> None:
        """Each key not seen yet adds ``count`` distinct values; the first MAX_FINGERPRINTS are kept."""
        seen = self.seen
        new = set(keys)
        if len(new) == len(keys) and new.isdisjoint(seen):  # the usual case, without a loop in Python
            self.distinct += count * len(keys)
            room = MAX_FINGERPRINTS - len(seen)
            seen.update(new if len(keys) <= room else keys[: max(0, room)])
            return
        for key in keys:
            if key not in seen:
                self.distinct += count
                if len(seen) < MAX_FINGERPRINTS:
                    seen.add(key)

    def finding(self) -> Finding:
        if self.occurrences == 1:
            return self.first
        return dataclasses.replace(
            self.first,
            count=self.distinct,
            occurrences=self.occurrences,
            members=tuple(self.members),
            excerpts=tuple(self.excerpts),
        )


class FileFindings:
    """Accumulates the findings of one top-level file, one group per (policy, rule)."""

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str], _Group] = {}

    def add(self, findings: tuple[Finding, ...] | list[Finding]) -> None:
        for f in findings:
            self._group(f).add(f)

    def add_hits(self, hits: Iterable[RuleHits]) -> None:
        """The same as :meth:`add` of the findings the hits stand for."""
        for h in hits:
            self._group(h.first).add_hits(h)

    def _group(self, first: Finding) -> _Group:
        key = (first.policy, first.rule)
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = _Group(first=first)
        return group

    def findings(self) -> tuple[Finding, ...]:
        """One finding per rule, in the order the rules first fired."""
        return tuple(g.finding() for g in self._groups.values())
