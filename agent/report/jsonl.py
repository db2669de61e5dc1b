"""JSON lines: one finding or error per line, then a summary line. The contract scripts rely on."""

from __future__ import annotations

import json
from typing import IO

from agent.models import ExtractError, FileRecord, Finding, Verdict
from agent.redact import json_safe, shown


def finding_record(f: Finding) -> dict[str, object]:
    return {
        "kind": "finding",
        "path": shown(f.path),
        "member": _member(f.member),
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
        "excerpt": shown(f.excerpt),
        "fingerprint": f.fingerprint,
        "tags": list(f.tags),
        **_grouped(f),
    }


def _grouped(f: Finding) -> dict[str, object]:
    """Findings of one rule in one file come grouped: how many, and the first members and excerpts."""
    if f.occurrences <= 1:
        return {}
    return {
        "occurrences": f.occurrences,
        "members": [shown(m) for m in f.members],
        "excerpts": [shown(x) for x in f.excerpts],
    }


def error_record(e: ExtractError) -> dict[str, object]:
    return {"kind": "error", "path": shown(e.path), "member": _member(e.member), "reason": e.reason,
            "detail": shown(e.detail)}  # fmt: skip


def _member(member: str | None) -> str | None:
    return shown(member) if member is not None else None


def file_record(r: FileRecord) -> dict[str, object]:
    """Inventory line (``scan --inventory``): proof that a file or member was read, or why not."""
    return {"kind": "file", "path": shown(r.path), "member": _member(r.member), "format": r.format,
            "chars": r.chars, "status": r.status}  # fmt: skip


#: One encoder for every line: json.dumps with a keyword builds a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False).encode


def _encode(record: dict[str, object]) -> str:
    return json_safe(_ENCODER(record))


class JsonlReporter:
    def __init__(self, out: IO[str], inventory: bool = False) -> None:
        self.out = out
        self.inventory = inventory

    def _write(self, record: dict[str, object]) -> None:
        self.out.write(_encode(record) + "\n")

    def verdict(self, verdict: Verdict) -> None:
        lines = [_encode(finding_record(f)) for f in verdict.findings]
        lines += [_encode(error_record(e)) for e in verdict.errors]
        if self.inventory:
            lines += [_encode(file_record(r)) for r in verdict.files]
        if lines:
            self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def error(self, error: ExtractError) -> None:
        self._write(error_record(error))

    def close(self, summary: dict[str, object]) -> None:
        self._write({"kind": "summary", **summary})
        self.out.flush()
