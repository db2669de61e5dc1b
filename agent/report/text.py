"""Human-readable report, coloured by severity on a terminal; names and excerpts are escaped
(:func:`agent.redact.printable`), so a file name cannot forge a line or send escape sequences."""

from __future__ import annotations

from typing import IO

from agent.models import ExtractError, Verdict
from agent.redact import printable

_COLORS = {"critical": "\033[1;35m", "high": "\033[1;31m", "medium": "\033[33m", "low": "\033[36m"}
_RESET = "\033[0m"


class TextReporter:
    def __init__(self, out: IO[str], color: bool = False) -> None:
        self.out = out
        self.color = color

    def _sev(self, severity: str) -> str:
        label = severity.upper().ljust(8)
        return f"{_COLORS.get(severity, '')}{label}{_RESET}" if self.color else label

    def verdict(self, verdict: Verdict) -> None:
        for f in verdict.findings:
            where = printable(f"{f.path}!{f.member}" if f.member else f.path)
            self.out.write(f"{self._sev(f.severity)} {where}:{f.line}  {f.policy}/{f.rule}  {f.entity}\n")
            self.out.write(f"         {printable(f.excerpt)}  ({f.fingerprint[:24]})\n")
        for e in verdict.errors:
            self.error(e)

    def error(self, error: ExtractError) -> None:
        where = printable(f"{error.path}!{error.member}" if error.member else error.path)
        self.out.write(f"{'ERROR'.ljust(8)} {where}  {error.reason}: {printable(error.detail)}\n")

    def close(self, summary: dict[str, object]) -> None:
        by_sev = summary.get("findings", {})
        parts = ", ".join(f"{k} {v}" for k, v in by_sev.items() if v) if isinstance(by_sev, dict) else ""
        self.out.write(
            f"\n{summary['files']} files, {summary['bytes']} bytes in {summary['seconds']} s: "
            f"findings: {parts or 'none'}; errors: {summary['errors']}\n"
        )
        self.out.flush()
