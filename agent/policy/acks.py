"""Acknowledged findings: triage without editing policy (``/etc/dropwarden/acknowledged.yaml``).

An entry names a rule and a keyed fingerprint (the value's HMAC under the agent key, as alerts show
it), optionally a path glob, and always who acknowledged it, why and until when. A matching finding
is still counted (``dropwarden_acknowledged_findings_total``) but raises no alert. Entries expire:
``expires`` is a date (valid through that day, UTC) or an ISO timestamp. ``dropwarden ack`` edits the
file and records every change in the audit log; the daemon reloads it on SIGHUP.

File format::

    acknowledged:
      - id: 3f2a9c1e0b7d
        rule: iban-customer
        fingerprint: hmac-sha256:5585f0bad5f90ffa13234d3735aa981c
        path: /srv/drop/finance/*        # optional (fnmatch glob on the top-level path)
        reason: payroll file, legal basis documented in TICKET-123
        author: alice
        expires: 2027-01-31
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.models import Finding
from agent.redact import shown

DEFAULT_ACK_FILE = "/etc/dropwarden/acknowledged.yaml"


class AckError(ValueError):
    """An acknowledgement file that cannot be used; ``str()`` names the file and the field."""


class AckModel(BaseModel):
    #: defer_build: validated only when an ack file exists; importing its path (settings) builds nothing
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = ""
    rule: str = Field(min_length=1)
    fingerprint: str = Field(min_length=8, pattern=r"^[a-z0-9-]+:[0-9a-f]+$")
    path: str | None = None
    reason: str = Field(min_length=1)
    author: str = Field(min_length=1)
    expires: datetime | date
    added: str | None = None


def ack_id(rule: str, fingerprint: str, path: str | None) -> str:
    """A short stable id for an entry (what `ack expire` takes)."""
    return hashlib.sha256(f"{rule}\0{fingerprint}\0{path or ''}".encode()).hexdigest()[:12]


def _expiry(value: datetime | date) -> datetime:
    """A date is valid through that day (UTC); a naive timestamp is UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value + timedelta(days=1), time(0), tzinfo=UTC)


@dataclass(frozen=True)
class Ack:
    id: str
    rule: str
    fingerprint: str
    path: str | None
    reason: str
    author: str
    expires: datetime
    raw: dict[str, Any]

    def active(self, now: datetime) -> bool:
        return now < self.expires

    def matches(self, f: Finding) -> bool:
        if f.rule != self.rule or f.fingerprint != self.fingerprint:
            return False
        if self.path is None or fnmatch.fnmatchcase(f.path, self.path):
            return True
        # a path copied from an alert shows bytes that were not UTF-8 as \xNN (agent.redact.shown)
        return fnmatch.fnmatchcase(shown(f.path), self.path)


@dataclass(frozen=True)
class AckSet:
    """The entries of one file, and a digest of its content (a change triggers a re-evaluation)."""

    entries: tuple[Ack, ...] = ()
    digest: str = ""

    def match(self, f: Finding, now: datetime | None = None) -> Ack | None:
        now = now or datetime.now(UTC)
        return next((a for a in self.entries if a.active(now) and a.matches(f)), None)

    def expired_ids(self, now: datetime | None = None) -> frozenset[str]:
        now = now or datetime.now(UTC)
        return frozenset(a.id for a in self.entries if not a.active(now))


def parse_acks(data: Any, source: str) -> AckSet:
    """Validate the YAML mapping of an acknowledgement file; raise AckError naming the field."""
    if data is None:
        return AckSet()
    entries = data.get("acknowledged") if isinstance(data, dict) else None
    if not isinstance(data, dict) or set(data) - {"acknowledged"} or not isinstance(entries, list | None):
        raise AckError(f"{source}: <root>: must be a mapping with a list 'acknowledged'")
    out = []
    for i, entry in enumerate(entries or []):
        try:
            m = AckModel.model_validate(entry)
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = str(err["loc"][0]) if err["loc"] else ""  # the field (not pydantic's union branch)
            raise AckError(f"{source}: acknowledged.{i}{'.' + loc if loc else ''}: {err['msg']}") from None
        raw = m.model_dump(mode="json", exclude_none=True)
        raw["id"] = m.id or ack_id(m.rule, m.fingerprint, m.path)
        out.append(Ack(raw["id"], m.rule, m.fingerprint, m.path, m.reason, m.author, _expiry(m.expires), raw))
    digest = hashlib.sha256(json.dumps([a.raw for a in out], sort_keys=True).encode()).hexdigest()[:16]
    return AckSet(tuple(out), digest)


def load_acks(path: str | os.PathLike[str] | None) -> AckSet:
    """The entries of ``path``; a missing file is an empty set (nothing acknowledged yet)."""
    if path is None:
        return AckSet()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return AckSet()
    except (OSError, UnicodeDecodeError) as exc:
        raise AckError(f"{path}: <file>: {getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    try:
        return parse_acks(yaml.safe_load(text), str(path))
    except yaml.YAMLError:
        raise AckError(f"{path}: <yaml>: invalid YAML") from None


def save_acks(path: str | os.PathLike[str], entries: list[dict[str, Any]]) -> None:
    """Write the file atomically (temp file + rename in the same directory), readable by the agent's group."""
    target = Path(path)
    text = (
        "# Acknowledged findings (managed by `dropwarden ack`; every change is in the audit log).\n"
        + yaml.safe_dump({"acknowledged": entries}, sort_keys=False, allow_unicode=True)
    )
    parse_acks(yaml.safe_load(text), str(target))  # never write what the agent could not load
    fd, tmp = tempfile.mkstemp(prefix=".acknowledged.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o640)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
