"""Tamper-evident audit log of what the agent did (quarantine, restore, reload, key changes, rejections).

JSON lines forming a hash chain: every line carries `seq`, `time`, `event`, `fields`, `alg`, `prev` (the
previous line's hash, 64 zeros for the first) and `hash` over the canonical JSON of the line without
`hash`. Editing, deleting or reordering a line breaks the chain at that line. The last (seq, hash) is
also written to `<log>.head`, so cutting lines off the end is detected too.

Trade-off: a plain SHA-256 chain only stops an attacker who cannot recompute it; one who can rewrite
the whole file can also rebuild the chain. With an agent key the hashes are HMACs (`alg` hmac-sha256)
that cannot be recomputed without the key, but the key must then live on the host, so root on the
host defeats it too. Only a copy elsewhere stops that: every append also logs `audit_appended` with
seq and hash, so the remote log collector (journald forwarding) holds the chain's head.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from agent.log import scrub_value
from agent.redact import shown
from agent.security.keys import derive_subkey

log = structlog.get_logger(__name__)

AUDIT_FILE = "audit.jsonl"
GENESIS = "0" * 64
_TAIL = 64 * 1024
_REQUIRED = ("seq", "time", "event", "fields", "alg", "prev", "hash")


def _shown(value: Any) -> Any:
    """Names that are not UTF-8 in their documented escaped form (the chain is UTF-8 JSON)."""
    if isinstance(value, str):
        return shown(value)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    return value


def _canonical(entry: dict[str, Any]) -> bytes:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _digest(entry: dict[str, Any], mac_key: bytes | None) -> str:
    data = _canonical(entry)
    if mac_key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(mac_key, data, hashlib.sha256).hexdigest()


class AuditError(Exception):
    """The log cannot be appended to as asked (e.g. a keyed log without the key). Message is safe to print."""


def audit_path(state_dir: str | os.PathLike[str]) -> Path:
    """Where the agent and the CLI keep the audit log."""
    return Path(state_dir) / AUDIT_FILE


def _head_path(path: Path) -> Path:
    return path.with_name(path.name + ".head")


class AuditLog:
    """Appends to one chain; safe for threads (lock) and for processes (flock on the file)."""

    def __init__(self, path: str | os.PathLike[str], key: bytes | None = None) -> None:
        self.path = Path(path)
        self.head_path = _head_path(self.path)
        self._mac_key = derive_subkey(key, "audit chain") if key else None
        self._alg = "sha256" if self._mac_key is None else "hmac-sha256"
        self._lock = threading.Lock()

    def check_key(self) -> None:
        """Raise AuditError now if append() would fail for a key mismatch (before irreversible work)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return
        try:
            size = os.fstat(fd).st_size
            tail = os.pread(fd, min(size, _TAIL), max(0, size - _TAIL))
        finally:
            os.close(fd)
        lines = [ln for ln in tail.splitlines() if ln.strip()]
        try:
            last = json.loads(lines[-1]) if lines else None
        except ValueError:
            return  # a torn line: append() repairs it
        if isinstance(last, dict):
            self._check_last(last)

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Add one event; fields must be plain JSON values and are scrubbed of secret-looking strings."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                last, dropped = self._tail(fd)
                seq, prev = (int(last["seq"]), str(last["hash"])) if last else (0, GENESIS)
                if last is not None:
                    self._check_last(last)
                if dropped:
                    log.warning("audit_tail_repaired", dropped_bytes=dropped)
                entry: dict[str, Any] = {
                    "seq": seq + 1,
                    "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                    "event": event,
                    "fields": scrub_value(_shown(fields)),
                    "alg": self._alg,
                    "prev": prev,
                }
                entry["hash"] = _digest(entry, self._mac_key)
                line = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
                data = line.encode()
                while data:
                    n = os.write(fd, data)
                    data = data[n:]
                os.fsync(fd)
                self._write_head(entry["seq"], entry["hash"])
            finally:
                os.close(fd)  # releases the flock
        log.info("audit_appended", audit_event=event, seq=entry["seq"], hash=entry["hash"])
        return entry

    def _tail(self, fd: int) -> tuple[dict[str, Any] | None, int]:
        """The last complete line; a torn last line from a crash is cut off (bytes dropped returned)."""
        size = os.fstat(fd).st_size
        if size == 0:
            return None, 0
        start = max(0, size - _TAIL)
        tail = os.pread(fd, size - start, start)
        dropped = 0
        if not tail.endswith(b"\n"):
            cut = tail.rfind(b"\n")
            keep = start + cut + 1 if cut >= 0 else start
            dropped = size - keep
            os.ftruncate(fd, keep)
            tail = tail[: cut + 1] if cut >= 0 else b""
            if keep == 0:
                return None, dropped
        return json.loads(tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]), dropped

    def _check_last(self, last: dict[str, Any]) -> None:
        """Refuse to extend a chain we could not have written: other alg, or (keyed) another key."""
        if last.get("alg") != self._alg:
            raise AuditError(f"{self.path} is {last.get('alg')}-chained; pass the matching agent key")
        if self._mac_key is not None and _digest(last, self._mac_key) != last.get("hash"):
            raise AuditError(f"{self.path} was written with another agent key (or its last line was altered)")

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(json.dumps({"seq": seq, "hash": digest}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.head_path)


@dataclass(frozen=True)
class AuditReport:
    """Outcome of `verify_chain`. `line` is 1-based; `reason` a bounded code ("ok" when intact)."""

    ok: bool
    lines: int
    reason: str = "ok"
    line: int | None = None
    detail: str = ""


def verify_chain(path: str | os.PathLike[str], key: bytes | None = None) -> AuditReport:
    """Check every line and the head file. With a key, un-keyed lines are rejected (no downgrade)."""
    p = Path(path)
    mac_key = derive_subkey(key, "audit chain") if key else None
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        return AuditReport(False, 0, "missing", None, f"{p} does not exist")
    prev, n = GENESIS, 0
    hashes: dict[int, str] = {}
    for n, line in enumerate(raw.splitlines(), start=1):
        entry, bad = _check_line(line, n, prev, mac_key)
        if bad is not None:
            return bad
        prev = hashes[n] = entry["hash"]
    if raw and not raw.endswith(b"\n"):
        return AuditReport(False, n, "malformed", n, "last line is incomplete")
    return _check_head(_head_path(p), n, hashes)


def _check_line(
    line: bytes, n: int, prev: str, mac_key: bytes | None
) -> tuple[dict[str, Any], AuditReport | None]:
    """Line `n` parsed, and the report of the first check it fails (None when it is intact)."""
    try:
        entry = json.loads(line)
        if not isinstance(entry, dict) or any(k not in entry for k in _REQUIRED):
            raise ValueError
    except ValueError:
        return {}, AuditReport(False, n, "malformed", n, "not a complete audit line")
    failure: tuple[str, str] | None = None
    if entry["seq"] != n:
        failure = "seq_gap", f"expected seq {n}, found {entry['seq']}"
    elif entry["prev"] != prev:
        failure = "chain_broken", "prev does not match the previous line's hash"
    elif entry["alg"] == "hmac-sha256" and mac_key is None:
        failure = "key_required", "the log is keyed; pass the agent key"
    elif mac_key is not None and entry["alg"] != "hmac-sha256":
        failure = "downgraded", "un-keyed line in a keyed log"
    elif entry["alg"] not in ("sha256", "hmac-sha256"):
        failure = "malformed", "unknown alg"
    elif not hmac.compare_digest(str(entry["hash"]), _digest(entry, mac_key)):
        failure = "hash_mismatch", "line content does not match its hash"
    return entry, None if failure is None else AuditReport(False, n, failure[0], n, failure[1])


def _check_head(head_path: Path, n: int, hashes: dict[int, str]) -> AuditReport:
    """Does the head file agree with the `n` lines read (no truncation, same last hash)?"""
    try:
        head = json.loads(head_path.read_text(encoding="utf-8"))
        head_seq, head_hash = int(head["seq"]), str(head["hash"])
    except FileNotFoundError:
        if n == 0:
            return AuditReport(True, 0)
        return AuditReport(False, n, "head_missing", None, f"{head_path} is missing")
    except (ValueError, KeyError, TypeError):
        return AuditReport(False, n, "head_mismatch", None, f"{head_path} is malformed")
    if head_seq > n:
        return AuditReport(False, n, "truncated", n + 1, f"head says {head_seq} lines, log has {n}")
    if hashes.get(head_seq, GENESIS if head_seq == 0 else "") != head_hash:
        return AuditReport(False, n, "head_mismatch", head_seq or None, "head hash does not match the log")
    return AuditReport(True, n)
