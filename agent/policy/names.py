"""Values in names: file paths and archive member names are text an attacker controls, so the same
detection runs on them as on content, and every output shows them with the detected values masked.

The pipeline classifies the names of a file (its path below the zone root, then each member name, one a
line) as one text and evaluates the detections with the policies: an accepted detection is a finding
like any other (its excerpt is scrubbed like a content excerpt), and its span is masked in the name
(agent.redact.mask) wherever the name is shown: findings, errors, alerts, reports. Only the journal
keeps the real path: the agent needs it to act on the file.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from agent.models import ExtractError, FileRecord, Finding
from agent.redact import mask, scrub_name

MAX_NAMES = 1_000  # member names classified per file (the first ones; a bound on hostile archives)


@dataclasses.dataclass(frozen=True)
class NameText:
    """The names of one file joined one a line, and where each starts in that text."""

    names: tuple[str, ...]
    text: str
    starts: tuple[int, ...]

    @classmethod
    def of(cls, names: Sequence[str]) -> NameText:
        starts, at = [], 0
        for n in names:
            starts.append(at)
            at += len(n) + 1
        # "_" joins words in names (card_4539...): read as a space, so word boundaries hold (same length)
        return cls(tuple(names), "\n".join(names).replace("_", " "), tuple(starts))

    def scrubbed(self) -> dict[str, str]:
        """raw name -> name with every digit and token-like run masked, for names the classifier could
        not search (it failed on them): shown in clear, they could show any value they hold."""
        out = {n: scrub_name(n) for n in self.names}
        return {n: shown for n, shown in out.items() if shown != n}

    def masked(self, findings: Iterable[Finding]) -> dict[str, str]:
        """raw name -> name with every finding's value masked, for the names holding one."""
        spans: dict[int, list[tuple[int, int, str]]] = {}
        for f in findings:
            i = bisect_right(self.starts, f.start) - 1
            if i < 0:
                continue
            lo = f.start - self.starts[i]
            hi = min(f.end - self.starts[i], len(self.names[i]))
            spans.setdefault(i, []).append((lo, hi, f.entity))
        out: dict[str, str] = {}
        values: dict[str, str] = {}  # raw value -> its masked form
        for i, found in spans.items():
            name = self.names[i]
            for lo, hi, entity in sorted(found, reverse=True):  # from the end: offsets stay valid
                values.setdefault(name[lo:hi], mask(name[lo:hi], entity))
                name = name[:lo] + mask(name[lo:hi], entity) + name[hi:]
            out[self.names[i]] = name
        return self._repeats(out, values)

    def _repeats(self, out: dict[str, str], values: dict[str, str]) -> dict[str, str]:
        """A value found once is masked wherever it recurs (``acct 4539…/copy 4539….txt``, a member
        named like its archive): findings keep one location per distinct value, names show them all."""
        for name in self.names:
            shown = out.get(name, name)
            for raw in sorted((v for v in values if v), key=len, reverse=True):
                shown = shown.replace(raw, values[raw])
            if shown != name:
                out[name] = shown
        return out


def rename(path: str, relative: str, masked: dict[str, str]) -> str:
    """``path`` with its part below the root (``relative``) masked, when that part holds a value."""
    shown = masked.get(relative)
    if shown is None:
        return path
    return path[: len(path) - len(relative)] + shown if path.endswith(relative) else shown


def member_shown(member: str | None, masked: dict[str, str]) -> str | None:
    return None if member is None else masked.get(member, member)


def redact_finding(f: Finding, path: str, masked: dict[str, str]) -> Finding:
    return dataclasses.replace(
        f,
        path=path,
        member=member_shown(f.member, masked),
        members=tuple(masked.get(m, m) for m in f.members),
    )


def redact_record(r: FileRecord, path: str, masked: dict[str, str]) -> FileRecord:
    """An inventory line (scan --inventory) with the names as every output shows them."""
    return dataclasses.replace(r, path=path, member=member_shown(r.member, masked))


def redact_error(e: ExtractError, path: str, masked: dict[str, str]) -> ExtractError:
    return dataclasses.replace(e, path=path, member=member_shown(e.member, masked))
