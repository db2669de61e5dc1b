"""JSON lines: one finding or error per line, then a summary line. The contract scripts rely on."""

from __future__ import annotations

import json
from typing import IO

from agent.models import ExtractError, Finding, Verdict


def finding_record(f: Finding) -> dict[str, object]:
    return {
        "kind": "finding",
        "path": f.path,
        "member": f.member,
        "zone": f.zone,
        "policy": f.policy,
        "rule": f.rule,
        "entity": f.entity,
        "severity": f.severity,
        "score": round(f.score, 3),
        "line": f.line,
        "start": f.start,
        "end": f.end,
        "count": f.count,
        "excerpt": f.excerpt,
        "fingerprint": f.fingerprint,
        "tags": list(f.tags),
    }


def error_record(e: ExtractError) -> dict[str, object]:
    return {"kind": "error", "path": e.path, "member": e.member, "reason": e.reason, "detail": e.detail}


class JsonlReporter:
    def __init__(self, out: IO[str]) -> None:
        self.out = out

    def _write(self, record: dict[str, object]) -> None:
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")

    def verdict(self, verdict: Verdict) -> None:
        for f in verdict.findings:
            self._write(finding_record(f))
        for e in verdict.errors:
            self._write(error_record(e))
        self.out.flush()

    def error(self, error: ExtractError) -> None:
        self._write(error_record(error))

    def close(self, summary: dict[str, object]) -> None:
        self._write({"kind": "summary", **summary})
        self.out.flush()
