"""SARIF 2.1.0, for code-scanning dashboards. Archive members become `outer.zip!inner/path` URIs."""

from __future__ import annotations

import contextlib
import json
import os
from typing import IO
from urllib.parse import quote

from agent import __version__
from agent.models import ExtractError, Finding, Verdict
from agent.redact import json_safe, shown

_URI_SAFE = "/!$&'()*+,;=:@"

_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}


def _name_bytes(name: str) -> bytes:
    """A path's or member's bytes: undecodable ones (surrogate escapes) as they were on disk or in the
    archive; a surrogate no decoder made that way (never from a name) as its escape :func:`shown`."""
    try:
        return name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return shown(name).encode("utf-8")


class SarifReporter:
    def __init__(self, out: IO[str], root: str | None = None) -> None:
        self.out = out
        self.root = root
        self.results: list[dict[str, object]] = []
        self.rules: dict[str, dict[str, object]] = {}
        self.notifications: list[dict[str, object]] = []

    def _uri(self, path: str, member: str | None) -> str:
        if self.root:
            with contextlib.suppress(ValueError):
                path = os.path.relpath(path, self.root)
        # a URI reference: the name's bytes percent-encoded (RFC 3986), lossless for any file name
        return quote(_name_bytes(path), safe=_URI_SAFE) + (
            f"!{quote(_name_bytes(member), safe=_URI_SAFE)}" if member else ""
        )

    def verdict(self, verdict: Verdict) -> None:
        for f in verdict.findings:
            self._finding(f)
        for e in verdict.errors:
            self.error(e)

    def _finding(self, f: Finding) -> None:
        rule_id = f"{f.policy}/{f.rule}"
        self.rules.setdefault(
            rule_id,
            {
                "id": rule_id,
                "shortDescription": {"text": f.desc or f.rule},
                "properties": {"tags": list(f.tags), "severity": f.severity},
            },
        )
        self.results.append(
            {
                "ruleId": rule_id,
                "level": _LEVEL[f.severity],
                "message": {"text": f"{f.entity} ({f.severity}): {shown(f.excerpt)}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": self._uri(f.path, f.member)},
                            "region": {"startLine": max(1, f.line)},
                        }
                    }
                ],
                "partialFingerprints": {"dropwarden/v1": f.fingerprint},
                "properties": {"severity": f.severity, "score": round(f.score, 3), "entity": f.entity},
            }
        )

    def error(self, error: ExtractError) -> None:
        self.notifications.append(
            {
                "level": "warning",
                "message": {"text": f"{error.reason}: {shown(error.detail)}"},
                "locations": [
                    {"physicalLocation": {"artifactLocation": {"uri": self._uri(error.path, error.member)}}}
                ],
                "descriptor": {"id": error.reason},
            }
        )

    def close(self, summary: dict[str, object]) -> None:
        doc = {
            "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {
                        "driver": {
                            "name": "dropwarden",
                            "version": __version__,
                            "informationUri": "https://github.com/dropwarden/dropwarden",
                            "rules": sorted(self.rules.values(), key=lambda r: str(r["id"])),
                        }
                    },
                    "results": self.results,
                    "invocations": [
                        {
                            "executionSuccessful": True,
                            "toolExecutionNotifications": self.notifications,
                            "properties": {"summary": summary},
                        }
                    ],
                }
            ],
        }
        self.out.write(json_safe(json.dumps(doc, indent=2, ensure_ascii=False)))
        self.out.write("\n")
        self.out.flush()
