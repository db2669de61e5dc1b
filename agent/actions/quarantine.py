"""Quarantine: move an offending file into an encrypted vault and leave a tombstone in its place.

The vault (`<state_dir>/quarantine/`, 0700) holds per incident `<id>.blob` (sealed to the security
team's X25519 public key, see agent.security.evidence) and `<id>.json` (metadata, no content). The agent
needs only the public key, so a compromised server cannot read what it quarantined.

Crash-safe order, each step durable before the next (the `fault` hook fires after each named step):

1. ``encrypted``  blob written to a temp name, fsynced, renamed, vault directory fsynced;
2. ``recorded``   metadata written atomically with state "pending" (the `hook` lets the journal record it);
3. ``removed``    original renamed aside to `.dropwarden-<id>.quarantining` in its own directory, then
                  checked to be the very inode, size and mtime that was encrypted (else rolled back);
4. ``tombstoned`` tombstone linked in at the original name (never clobbering a file created meanwhile),
                  the set-aside original unlinked, metadata marked "done".

`recover()` at start-up finishes or rolls back whatever a crash interrupted; at every point either the
original is intact at its path (or set aside next to it), or the vault holds it with its metadata. It
also deletes `.dropwarden-<id>.restore.tmp` left next to an original path by an interrupted restore.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from agent.security.audit import AuditLog
from agent.security.evidence import SealError, fsync_dir, open_stream, seal_stream, write_atomic
from agent.security.keys import derive_subkey, key_id

log = structlog.get_logger(__name__)

STEPS = ("encrypted", "recorded", "removed", "tombstoned")
#: Where `fault` is called: the steps plus one point inside step 4 (tombstone in, original not yet unlinked).
FAULT_POINTS = ("encrypted", "recorded", "removed", "linked", "tombstoned")
DEFAULT_TOMBSTONE = (
    "This file was withheld by Dropwarden data-leak prevention.\n"
    "Incident: {incident_id}\n"
    "Original path: {path}\n"
    "Time: {time}\n"
    "Contact your security team and quote the incident id to have it reviewed.\n"
)
_ID_RE = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{12}$")
_READ = 1024 * 1024


class QuarantineError(Exception):
    """Quarantine or restore refused or failed; `reason` is a bounded code, the message is safe to print."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class QuarantineRecord:
    """Metadata of one vault item. Holds no content: the hash is keyed when the agent has a key."""

    incident_id: str
    original_path: str
    size: int
    mtime_ns: int
    mode: int
    uid: int
    gid: int
    inode: int
    device: int
    content_hash: str  # "hmac-sha256:<hex>" (agent key) or "sha256:<hex>"
    zone: str | None
    rule: str
    reason: str
    time: str
    key_id: str  # recipient public key the blob is sealed to
    tombstone_sha256: str
    state: str = "pending"  # pending | done
    restored: tuple[str, ...] = field(default=())  # "time target" of each restore
    alerted: bool = False  # the agent sent the alert naming this incident (a crash may come first)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True, indent=1).encode()

    @classmethod
    def from_json(cls, data: bytes) -> QuarantineRecord:
        raw = json.loads(data)
        raw["restored"] = tuple(raw.get("restored", ()))
        raw.setdefault("alerted", True)  # records from before the field existed were alerted then
        return cls(**raw)


def new_incident_id() -> str:
    """Time-sortable and unguessable: 20261127T155012Z-3f9a1c2b7d10."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(6)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Hasher:
    def __init__(self, hash_key: bytes | None) -> None:
        if hash_key:
            self.prefix, self.h = (
                "hmac-sha256:",
                hmac.new(derive_subkey(hash_key, "content hash"), None, "sha256"),
            )
        else:
            self.prefix, self.h = "sha256:", hashlib.sha256()

    def update(self, data: bytes) -> None:
        self.h.update(data)

    def value(self) -> str:
        return self.prefix + self.h.hexdigest()


def _aside(original: Path, incident_id: str) -> Path:
    return original.with_name(f".dropwarden-{incident_id}.quarantining")


def _same_file(st: os.stat_result, rec: QuarantineRecord) -> bool:
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns) == (
        rec.inode,
        rec.device,
        rec.size,
        rec.mtime_ns,
    )


def _write_synced(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _link_no_clobber(src: Path, dst: Path) -> bool:
    """Put src at dst unless something is already there; True when done. src is removed on success."""
    try:
        os.link(src, dst)
    except FileExistsError:
        return False
    src.unlink()
    fsync_dir(dst.parent)
    return True


class QuarantineStore:
    """The vault. `public_key` is needed to quarantine; list/restore/recover work without it."""

    def __init__(
        self,
        state_dir: str | os.PathLike[str],
        public_key: X25519PublicKey | None = None,
        *,
        hash_key: bytes | None = None,
        tombstone_template: str = DEFAULT_TOMBSTONE,
        audit: AuditLog | None = None,
        hook: Callable[[str, QuarantineRecord], None] | None = None,
        fault: Callable[[str], None] | None = None,
    ) -> None:
        self.dir = Path(state_dir) / "quarantine"
        self.public_key = public_key
        self.hash_key = hash_key
        tombstone_template.format(incident_id="x", path="x", time="x")  # KeyError/ValueError early
        self.tombstone_template = tombstone_template
        self.audit = audit
        self.hook = hook
        self.fault = fault
        self._lock = threading.Lock()

    # -- paths and metadata ------------------------------------------------------------------
    def _ensure_dir(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)

    def blob_path(self, incident_id: str) -> Path:
        if not _ID_RE.match(incident_id):
            raise QuarantineError("bad_id", f"not an incident id: {incident_id!r}")
        return self.dir / f"{incident_id}.blob"

    def meta_path(self, incident_id: str) -> Path:
        return self.blob_path(incident_id).with_suffix(".json")

    def get(self, incident_id: str) -> QuarantineRecord:
        try:
            return QuarantineRecord.from_json(self.meta_path(incident_id).read_bytes())
        except FileNotFoundError:
            raise QuarantineError("not_found", f"no quarantined item {incident_id}") from None

    def list(self) -> list[QuarantineRecord]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in sorted(self.dir.glob("*.json")):
            try:
                out.append(QuarantineRecord.from_json(p.read_bytes()))
            except (ValueError, TypeError, KeyError):
                log.error("quarantine_record_unreadable", file=p.name)
        return out

    def _save(self, rec: QuarantineRecord) -> None:
        write_atomic(self.meta_path(rec.incident_id), rec.to_json(), 0o600)

    def _step(self, name: str, rec: QuarantineRecord) -> None:
        if self.hook is not None:
            self.hook(name, rec)
        if self.fault is not None:
            self.fault(name)

    def _audit(self, event: str, **fields: Any) -> None:
        if self.audit is not None:
            self.audit.append(event, **fields)

    # -- quarantine --------------------------------------------------------------------------
    def quarantine(
        self, path: str | os.PathLike[str], zone: str | None, rule: str, reason: str
    ) -> QuarantineRecord:
        """Move `path` into the vault and leave a tombstone; returns the finished record."""
        if self.public_key is None:
            raise QuarantineError("no_key", "quarantine needs the security team's public key")
        original = Path(os.path.abspath(path))
        self._ensure_dir()
        iid = new_incident_id()
        blob = self.blob_path(iid)
        tmp = blob.with_name(f".{blob.name}.tmp")
        try:
            fd = os.open(original, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            raise QuarantineError("vanished", f"{original} no longer exists") from None
        except OSError as exc:
            raise QuarantineError("io_error", f"cannot open {original}: {exc.strerror}") from None
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise QuarantineError("not_regular_file", f"{original} is not a regular file")
            hasher = _Hasher(self.hash_key)
            out_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(os.dup(fd), "rb") as src, os.fdopen(out_fd, "wb") as dst:
                seal_stream(self.public_key, src, dst, on_plaintext=hasher.update)
                dst.flush()
                os.fsync(dst.fileno())
            after = os.fstat(fd)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        finally:
            os.close(fd)
        # ctime too: a writer can reset mtime with utime(), but any write or chmod moves ctime
        if (after.st_size, after.st_mtime_ns, after.st_ctime_ns) != (
            before.st_size,
            before.st_mtime_ns,
            before.st_ctime_ns,
        ):
            tmp.unlink(missing_ok=True)
            raise QuarantineError("changed", f"{original} changed while it was being quarantined")
        os.replace(tmp, blob)
        fsync_dir(self.dir)
        at = _now()
        tombstone = self.tombstone_template.format(incident_id=iid, path=str(original), time=at).encode()
        rec = QuarantineRecord(
            incident_id=iid,
            original_path=str(original),
            size=before.st_size,
            mtime_ns=before.st_mtime_ns,
            mode=stat.S_IMODE(before.st_mode),
            uid=before.st_uid,
            gid=before.st_gid,
            inode=before.st_ino,
            device=before.st_dev,
            content_hash=hasher.value(),
            zone=zone,
            rule=rule,
            reason=reason,
            time=at,
            key_id=key_id(self.public_key),
            tombstone_sha256=hashlib.sha256(tombstone).hexdigest(),
        )
        self._step("encrypted", rec)
        self._save(rec)
        self._step("recorded", rec)
        return self._finish(rec, tombstone)

    def _finish(self, rec: QuarantineRecord, tombstone: bytes | None = None) -> QuarantineRecord:
        """Steps 3 and 4 from wherever they stand; shared by quarantine() and recover()."""
        original = Path(rec.original_path)
        aside = _aside(original, rec.incident_id)
        if not aside.exists():
            try:
                st = os.stat(original, follow_symlinks=False)
            except FileNotFoundError:
                st = None
            if st is not None and _same_file(st, rec):
                os.rename(original, aside)
                fsync_dir(original.parent)
            elif st is not None and self._is_tombstone(original, rec):
                return self._done(rec, "tombstoned")
            elif st is not None:
                return self._roll_back(rec, "changed")
            else:  # the contractor deleted it meanwhile: the vault copy is all there is, keep it
                log.warning("quarantine_original_vanished", incident_id=rec.incident_id)
                return self._done(rec, "vanished")
        st = os.stat(aside, follow_symlinks=False)
        if not _same_file(st, rec):  # written to after we encrypted it: put it back, drop the stale copy
            if not _link_no_clobber(aside, original):
                log.error("quarantine_putback_blocked", incident_id=rec.incident_id, kept_at=str(aside))
            return self._roll_back(rec, "changed")
        self._step("removed", rec)
        if tombstone is None:
            tombstone = self.tombstone_template.format(
                incident_id=rec.incident_id, path=rec.original_path, time=rec.time
            ).encode()
        ttmp = original.with_name(f".dropwarden-{rec.incident_id}.tombstone.tmp")
        _write_synced(ttmp, tombstone, 0o644)
        if not _link_no_clobber(ttmp, original):
            ttmp.unlink(missing_ok=True)  # a new file appeared at the name: never overwrite it
            if not self._is_tombstone(original, rec):
                log.warning("quarantine_tombstone_skipped", incident_id=rec.incident_id, reason="path_reused")
        if self.fault is not None:
            self.fault("linked")
        aside.unlink()
        fsync_dir(original.parent)
        return self._done(rec, "tombstoned")

    def _is_tombstone(self, path: Path, rec: QuarantineRecord) -> bool:
        try:
            if os.stat(path).st_size > 64 * 1024:
                return False
            return hashlib.sha256(path.read_bytes()).hexdigest() == rec.tombstone_sha256
        except OSError:
            return False

    def _done(self, rec: QuarantineRecord, how: str) -> QuarantineRecord:
        rec = replace(rec, state="done")
        self._audit(
            "file_quarantined",
            incident_id=rec.incident_id,
            path=rec.original_path,
            zone=rec.zone,
            rule=rec.rule,
            reason=rec.reason,
            size=rec.size,
            key_id=rec.key_id,
            outcome=how,
        )
        self._save(rec)  # after the audit line: a crash in between repeats the line, never loses it
        log.info("file_quarantined", incident_id=rec.incident_id, zone=rec.zone, rule=rec.rule, outcome=how)
        self._step("tombstoned", rec)
        return rec

    def _roll_back(self, rec: QuarantineRecord, why: str) -> QuarantineRecord:
        self.blob_path(rec.incident_id).unlink(missing_ok=True)
        self.meta_path(rec.incident_id).unlink(missing_ok=True)
        fsync_dir(self.dir)
        self._audit("quarantine_rolled_back", incident_id=rec.incident_id, path=rec.original_path, reason=why)
        log.warning("quarantine_rolled_back", incident_id=rec.incident_id, reason=why)
        raise QuarantineError(
            why, f"{rec.original_path} changed while it was being quarantined; left in place"
        )

    def mark_alerted(self, incident_id: str) -> None:
        """Record that the alert naming this incident went out (see `unalerted`)."""
        with self._lock:
            self._save(replace(self.get(incident_id), alerted=True))

    def unalerted(self) -> list[QuarantineRecord]:
        """Finished incidents whose alert a crash prevented: the agent alerts them at start-up."""
        return [r for r in self.list() if r.state == "done" and not r.alerted]

    # -- recovery ----------------------------------------------------------------------------
    def recover(self) -> list[str]:
        """Complete or roll back operations a crash interrupted; returns what was done, one line each."""
        if not self.dir.is_dir():
            return []
        done: list[str] = []
        with self._lock:
            for p in self.dir.iterdir():
                if p.name.startswith(".") and p.name.endswith(".tmp"):
                    p.unlink()
                    done.append(f"removed temp {p.name}")
            for blob in sorted(self.dir.glob("*.blob")):
                if not blob.with_suffix(".json").exists():  # crashed before "recorded": original untouched
                    blob.unlink()
                    done.append(f"{blob.stem}: dropped unrecorded blob")
            for rec in self.list():
                # a restore killed before its rename leaves decrypted content next to the original
                leftover = Path(rec.original_path).with_name(f".dropwarden-{rec.incident_id}.restore.tmp")
                with contextlib.suppress(OSError):
                    if stat.S_ISREG(os.lstat(leftover).st_mode):
                        leftover.unlink()
                        done.append(f"{rec.incident_id}: removed interrupted restore")
                if rec.state != "pending":
                    continue
                if not self.blob_path(rec.incident_id).exists():
                    self.meta_path(rec.incident_id).unlink()
                    done.append(f"{rec.incident_id}: dropped record without blob")
                    continue
                original = Path(rec.original_path)
                original.with_name(f".dropwarden-{rec.incident_id}.tombstone.tmp").unlink(missing_ok=True)
                try:
                    self._finish(rec)
                    done.append(f"{rec.incident_id}: completed")
                except QuarantineError as exc:
                    done.append(f"{rec.incident_id}: rolled back ({exc.reason})")
            if done:
                fsync_dir(self.dir)
        for line in done:
            log.info("quarantine_recovered", action=line)
        return done

    # -- restore -----------------------------------------------------------------------------
    def restore(
        self,
        incident_id: str,
        private_key: X25519PrivateKey,
        to: str | os.PathLike[str] | None = None,
        force: bool = False,
    ) -> Path:
        """Decrypt a vault item back to its path (or `to`), with mode and mtime; authenticated or nothing.

        Overwrites only the item's own tombstone unless `force`. Content is published by rename only
        after every segment authenticated and the content hash matched.
        """
        rec = self.get(incident_id)
        blob = self.blob_path(incident_id)
        target = Path(os.path.abspath(to if to is not None else rec.original_path))
        if target.is_dir():
            target = target / Path(rec.original_path).name
        if os.path.lexists(target) and not force and not self._is_tombstone(target, rec):
            raise QuarantineError("exists", f"{target} exists and is not the tombstone; use --force")
        if not target.parent.is_dir():
            raise QuarantineError("no_dir", f"directory {target.parent} does not exist")
        tmp = target.with_name(f".dropwarden-{incident_id}.restore.tmp")
        hasher = _Hasher(self.hash_key if rec.content_hash.startswith("hmac-") else None)
        can_check = rec.content_hash.startswith(hasher.prefix)
        try:
            with open(blob, "rb") as src, open(tmp, "wb") as dst:
                os.fchmod(dst.fileno(), 0o600)
                out = _Tee(dst, hasher)
                open_stream(private_key, src, out)  # type: ignore[arg-type]
                dst.flush()
                if can_check and hasher.value() != rec.content_hash:
                    raise QuarantineError(
                        "hash_mismatch", "restored content does not match the recorded hash"
                    )
                os.fchmod(dst.fileno(), rec.mode)
                if os.geteuid() == 0:
                    os.fchown(dst.fileno(), rec.uid, rec.gid)
                os.fsync(dst.fileno())
            os.utime(tmp, ns=(rec.mtime_ns, rec.mtime_ns))
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except SealError as exc:
            tmp.unlink(missing_ok=True)
            raise QuarantineError(
                "tampered", f"vault item {incident_id} failed verification: {exc}"
            ) from None
        except FileNotFoundError:
            tmp.unlink(missing_ok=True)
            raise QuarantineError("not_found", f"vault blob of {incident_id} is missing") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        rec = replace(rec, restored=(*rec.restored, f"{_now()} {target}"))
        self._save(rec)
        self._audit("file_restored", incident_id=incident_id, path=str(target), forced=force)
        log.info("file_restored", incident_id=incident_id)
        return target


@dataclass
class _Tee:
    """A write-only file object that also feeds what is written to a hasher."""

    dst: Any
    hasher: _Hasher

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return int(self.dst.write(data))
