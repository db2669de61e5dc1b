"""`scan --baseline PREVIOUS.jsonl`: findings already reported in an earlier JSONL run are not new.

As gitleaks' ``--baseline-path``: a finding is known when the previous report holds one with the
same rule, the same keyed fingerprint and the same path and archive member. The fingerprint is keyed
with the scanning user's key, so a baseline is only comparable with scans made with the same key
(the default key file, or ``--key-file`` / ``--config`` as before).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from agent.models import Finding, Verdict
from agent.redact import shown

Key = tuple[str, str, str, str]


class BaselineError(ValueError):
    """A baseline file that cannot be used; ``str()`` names the file and line."""


def _key(rule: str, fingerprint: str, path: str, member: str | None) -> Key:
    """A finding's identity, its names as the JSONL report shows them (undecodable bytes as \\xNN)."""
    return (rule, fingerprint, shown(path), shown(member or ""))


@dataclass(frozen=True)
class Baseline:
    known: frozenset[Key]

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """Read the findings of a JSONL report (other record kinds are ignored)."""
        keys: set[Key] = set()
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise BaselineError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                raise BaselineError(
                    f"{path}: line {n}: not JSON (a baseline is a --format jsonl report)"
                ) from None
            if isinstance(rec, dict) and rec.get("kind") == "finding":
                keys.add(
                    _key(
                        str(rec.get("rule")),
                        str(rec.get("fingerprint")),
                        str(rec.get("path")),
                        rec.get("member"),
                    )
                )
        return cls(frozenset(keys))

    def is_known(self, f: Finding) -> bool:
        return _key(f.rule, f.fingerprint, f.path, f.member) in self.known

    def new_only(self, verdict: Verdict) -> tuple[Verdict, int]:
        """The verdict without the findings of the baseline, and how many were dropped."""
        new = tuple(f for f in verdict.findings if not self.is_known(f))
        dropped = len(verdict.findings) - len(new)
        return (dataclasses.replace(verdict, findings=new) if dropped else verdict), dropped
