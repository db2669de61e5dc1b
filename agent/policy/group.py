"""One incident per top-level file: the findings of a file grouped per rule, with bounded state.

A 12 KB zip nesting 16x16x16 copies of one carded text holds 4,096 members; reported member by member
it floods every sink with thousands of alerts about one file. The pipeline feeds each member's findings
here and gets back one finding per rule for the whole file: the first occurrence (its location,
excerpt and fingerprint, so de-duplication stays stable), plus how many findings there were, how many
distinct values, the first few members and excerpts. Memory is bounded whatever the file holds.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from agent.models import SEVERITY_RANK, Finding

MAX_MEMBERS_SHOWN = 10  # member names kept per group (the alert lists them)
MAX_EXCERPTS_SHOWN = 3  # distinct excerpts kept per group
MAX_FINGERPRINTS = 10_000  # distinct values counted exactly; beyond it, each new finding counts as new


@dataclass
class _Group:
    first: Finding
    occurrences: int = 0
    distinct: int = 0
    fingerprints: set[str] = field(default_factory=set)
    members: list[str] = field(default_factory=list)
    excerpts: list[str] = field(default_factory=list)

    def add(self, f: Finding) -> None:
        self.occurrences += f.occurrences
        if f.fingerprint not in self.fingerprints:
            self.distinct += f.count
            if len(self.fingerprints) < MAX_FINGERPRINTS:
                self.fingerprints.add(f.fingerprint)
        for m in f.members or ((f.member,) if f.member else ()):
            if len(self.members) < MAX_MEMBERS_SHOWN and m not in self.members:
                self.members.append(m)
        for e in f.excerpts or (f.excerpt,):
            if len(self.excerpts) < MAX_EXCERPTS_SHOWN and e not in self.excerpts:
                self.excerpts.append(e)
        if SEVERITY_RANK[f.severity] > SEVERITY_RANK[self.first.severity]:
            self.first = dataclasses.replace(self.first, severity=f.severity)

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
            key = (f.policy, f.rule)
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _Group(first=f)
            group.add(f)

    def findings(self) -> tuple[Finding, ...]:
        """One finding per rule, in the order the rules first fired."""
        return tuple(g.finding() for g in self._groups.values())
