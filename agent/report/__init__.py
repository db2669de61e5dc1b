"""One reporter per output format of `dropwarden scan` (JSON lines, text, SARIF, HTML).

A reporter receives verdicts and error records as they come and writes a summary at the end. Only
:class:`agent.models.Finding` fields leave the process: they hold redacted excerpts and keyed hashes.
"""

from __future__ import annotations

from typing import IO, Protocol

from agent.models import ExtractError, Verdict


class Reporter(Protocol):
    def verdict(self, verdict: Verdict) -> None: ...
    def error(self, error: ExtractError) -> None: ...
    def close(self, summary: dict[str, object]) -> None: ...


def make_reporter(
    fmt: str, out: IO[str], color: bool = False, root: str | None = None, inventory: bool = False
) -> Reporter:
    from agent.report.html import HtmlReporter
    from agent.report.jsonl import JsonlReporter
    from agent.report.sarif import SarifReporter
    from agent.report.text import TextReporter

    if fmt == "jsonl":
        return JsonlReporter(out, inventory=inventory)
    if fmt == "html":
        return HtmlReporter(out)
    if fmt == "sarif":
        return SarifReporter(out, root=root)
    return TextReporter(out, color=color)
