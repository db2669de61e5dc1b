"""Quarantine: move an offending file into an encrypted vault and leave a tombstone in its place.

The vault (`<state_dir>/quarantine/`, 0700) holds per incident `<id>.blob` (sealed to the security
team's X25519 public key, see agent.security.evidence) and `<id>.json` (metadata, no content; the path
as alerts show it, the real one only sealed: agent.actions.vaultpath). The agent needs only the public
key, so a compromised server cannot read what it quarantined, nor the names it quarantined it under.

Crash-safe order, each step durable before the next (the `fault` hook fires after each named step):

1. ``encrypted``  blob written to a temp name, fsynced, renamed, vault directory fsynced;
2. ``recorded``   metadata written atomically with state "pending" (the `hook` lets the journal record it);
3. ``removed``    original renamed aside to `.dropwarden-<id>.quarantining` in its own directory, then
                  checked to be the very inode, size and mtime that was encrypted (else rolled back);
4. ``tombstoned`` tombstone linked in at the original name (never clobbering a file created meanwhile),
                  the set-aside original unlinked, metadata marked "done".

Whoever writes into the zone may swap any directory on the path for a symlink at any moment. So the
file's directory is reached by walking from the zone root's descriptor without following links
(:mod:`agent.security.dirfd`), and every step acts relative to that descriptor (``openat``,
``renameat``, ``linkat``, ``unlinkat``): nothing outside the zone is ever moved, linked or unlinked.
The file opened must be the one the pipeline scanned (device, inode, size, mtime), when it says which.

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

from agent.actions.vaultpath import (
    PathSealError,
    decrypt_for_agent,
    encrypt_for_agent,
    seal_path,
    unseal_path,
)
from agent.redact import printable
from agent.security.audit import AuditLog
from agent.security.dirfd import FILE_FLAGS, Entry, PathRefused, locate
from agent.security.evidence import fsync_dir, seal_stream, write_atomic
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
    """Metadata of one vault item. Holds no content: the hash is keyed when the agent has a key.

    ``original_path`` is the path as alerts show it (values in its name masked); the real path is only
    in ``sealed_path`` (sealed to the security team's key) and, while the agent still has to act on it,
    ``agent_path`` (:mod:`agent.actions.vaultpath`). Records from before hold the real path in
    ``original_path`` and no ``sealed_path``: they stay readable and restorable.
    """

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
    root: str | None = None  # the zone (or directory) the path was walked from; None: records before it
    sealed_path: str | None = None  # the real path sealed to key_id; None: a record from before
    agent_path: str | None = None  # the real path under the agent key, only while quarantine/restore runs

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


class Hasher:
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


def _aside(incident_id: str) -> str:
    return f".dropwarden-{incident_id}.quarantining"


def _file_id(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def remove_restore_leftovers(d: Entry, incident_id: str) -> bool:
    """Delete `.dropwarden-<id>.restore*.tmp` files an interrupted restore left in the walked directory."""
    prefix, removed = f".dropwarden-{incident_id}.restore", False
    for name in os.listdir(d.dir_fd):
        if name.startswith(prefix) and name.endswith(".tmp"):
            st = _lstat_at(d, name)
            if st is not None and stat.S_ISREG(st.st_mode):
                os.unlink(name, dir_fd=d.dir_fd)
                removed = True
    return removed


def _same_file(st: os.stat_result, rec: QuarantineRecord) -> bool:
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns) == (
        rec.inode,
        rec.device,
        rec.size,
        rec.mtime_ns,
    )


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def create_new(d: Entry, name: str, mode: int = 0o600) -> int:
    """A new file ``name`` in the walked directory: never an existing entry, never through a link."""
    return os.open(name, _CREATE, mode, dir_fd=d.dir_fd)


def _write_synced(d: Entry, name: str, data: bytes, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=d.dir_fd)  # a leftover (or a planted entry): removed, never written through
    fd = create_new(d, name, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _lstat_at(d: Entry, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=d.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _link_no_clobber(d: Entry, src: str, dst: str) -> bool:
    """Put src at dst (same directory) unless something is already there; True when done."""
    try:
        os.link(src, dst, src_dir_fd=d.dir_fd, dst_dir_fd=d.dir_fd, follow_symlinks=False)
    except FileExistsError:
        return False
    os.unlink(src, dir_fd=d.dir_fd)
    os.fsync(d.dir_fd)
    return True


def small_file_sha256(d: Entry, name: str | None = None) -> str | None:
    """SHA-256 of a regular file of at most 64 KiB in the walked directory (a link never is one)."""
    try:
        fd = os.open(d.name if name is None else name, FILE_FLAGS, dir_fd=d.dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > 64 * 1024:
            return None
        return hashlib.sha256(os.read(fd, 64 * 1024 + 1)).hexdigest()
    except OSError:
        return None
    finally:
        os.close(fd)


def is_tombstone_at(d: Entry, name: str, rec: QuarantineRecord) -> bool:
    """Whether ``name`` in the walked directory is this record's tombstone."""
    return small_file_sha256(d, name) == rec.tombstone_sha256


def locate_original(rec: QuarantineRecord, real_path: str) -> Entry:
    """The original's directory walked from its recorded zone root (from / for older records)."""
    try:
        return locate(rec.root or "/", real_path)
    except PathRefused as exc:
        raise QuarantineError(
            "outside_zone", f"{rec.original_path}: the path no longer leads inside its zone ({exc.reason})"
        ) from None


def real_path(rec: QuarantineRecord, private_key: X25519PrivateKey) -> str:
    """The real path of the original, unsealed with the security team's private key."""
    if rec.sealed_path is None:
        return rec.original_path  # a record from before paths were sealed
    try:
        return unseal_path(private_key, rec.incident_id, rec.sealed_path)
    except PathSealError as exc:
        raise QuarantineError("tampered", str(exc)) from None


def _sealed_fallback(root: str) -> str:
    """How a record shows a path nobody said how to mask: its zone only, never a name."""
    return os.path.join(root, "[name sealed]")


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
        self,
        path: str | os.PathLike[str],
        zone: str | None,
        rule: str,
        reason: str,
        *,
        root: str | None = None,
        expect: tuple[int, int, int, int] | None = None,
        shown: str | None = None,
    ) -> QuarantineRecord:
        """Move `path` into the vault and leave a tombstone; returns the finished record.

        ``root``: the zone directory the path lies in (default: the file's own directory); no link
        below it is followed. ``expect``: (dev, ino, size, mtime_ns) of the file that was scanned; a
        different file at the path is left alone (``changed``). ``shown``: the path as alerts show it
        (values in the name masked), the only form the record, tombstone and audit line keep in clear.
        """
        public_key = self.public_key
        if public_key is None:
            raise QuarantineError("no_key", "quarantine needs the security team's public key")
        original = Path(os.path.abspath(path))
        root = os.path.abspath(root) if root is not None else str(original.parent)
        try:
            d = locate(root, str(original))
        except PathRefused as exc:
            raise QuarantineError(exc.reason, f"{original}: {exc.detail}") from None
        try:
            why = (zone, rule, reason, shown or _sealed_fallback(root))
            return self._quarantine_at(d, original, root, expect, why, public_key)
        finally:
            d.close()

    def _quarantine_at(
        self,
        d: Entry,
        original: Path,
        root: str,
        expect: tuple[int, int, int, int] | None,
        why: tuple[str | None, str, str, str],
        public_key: X25519PublicKey,
    ) -> QuarantineRecord:
        zone, rule, reason, shown = why
        self._ensure_dir()
        iid = new_incident_id()
        blob = self.blob_path(iid)
        tmp = blob.with_name(f".{blob.name}.tmp")
        try:
            fd = os.open(d.name, FILE_FLAGS, dir_fd=d.dir_fd)
        except FileNotFoundError:
            raise QuarantineError("vanished", f"{original} no longer exists") from None
        except OSError as exc:
            raise QuarantineError("io_error", f"cannot open {original}: {exc.strerror}") from None
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise QuarantineError("not_regular_file", f"{original} is not a regular file")
            if expect is not None and _file_id(before) != expect:
                raise QuarantineError("changed", f"{original} is not the file that was scanned")
            hasher = Hasher(self.hash_key)
            out_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(os.dup(fd), "rb") as src, os.fdopen(out_fd, "wb") as dst:
                seal_stream(public_key, src, dst, on_plaintext=hasher.update)
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
        tombstone = self.tombstone_template.format(incident_id=iid, path=printable(shown), time=at).encode()
        rec = QuarantineRecord(
            incident_id=iid,
            original_path=shown,
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
            key_id=key_id(public_key),
            tombstone_sha256=hashlib.sha256(tombstone).hexdigest(),
            root=root,
            sealed_path=seal_path(public_key, iid, str(original)),
            agent_path=encrypt_for_agent(self.hash_key, iid, str(original)) if self.hash_key else None,
        )
        self._step("encrypted", rec)
        self._save(rec)
        self._step("recorded", rec)
        return self._finish(rec, d, tombstone)

    def _finish(self, rec: QuarantineRecord, d: Entry, tombstone: bytes | None = None) -> QuarantineRecord:
        """Steps 3 and 4 from wherever they stand, in the walked directory ``d`` (quarantine, recover)."""
        name, aside = d.name, _aside(rec.incident_id)
        if _lstat_at(d, aside) is None:
            st = _lstat_at(d, name)
            if st is not None and _same_file(st, rec):
                os.rename(name, aside, src_dir_fd=d.dir_fd, dst_dir_fd=d.dir_fd)
                os.fsync(d.dir_fd)
            elif st is not None and is_tombstone_at(d, name, rec):
                return self._done(rec, "tombstoned")
            elif st is not None:
                return self._roll_back(rec, "changed")
            else:  # the contractor deleted it meanwhile: the vault copy is all there is, keep it
                log.warning("quarantine_original_vanished", incident_id=rec.incident_id)
                return self._done(rec, "vanished")
        st = os.stat(aside, dir_fd=d.dir_fd, follow_symlinks=False)
        if not _same_file(st, rec):  # written to after we encrypted it: put it back, drop the stale copy
            if not _link_no_clobber(d, aside, name):
                log.error("quarantine_putback_blocked", incident_id=rec.incident_id, kept_as=aside)
            return self._roll_back(rec, "changed")
        self._step("removed", rec)
        if tombstone is None:
            tombstone = self.tombstone_template.format(
                incident_id=rec.incident_id, path=printable(rec.original_path), time=rec.time
            ).encode()
        ttmp = f".dropwarden-{rec.incident_id}.tombstone.tmp"
        _write_synced(d, ttmp, tombstone, 0o644)
        if not _link_no_clobber(d, ttmp, name):
            os.unlink(ttmp, dir_fd=d.dir_fd)  # a new file appeared at the name: never overwrite it
            if not is_tombstone_at(d, name, rec):
                log.warning("quarantine_tombstone_skipped", incident_id=rec.incident_id, reason="path_reused")
        if self.fault is not None:
            self.fault("linked")
        os.unlink(aside, dir_fd=d.dir_fd)
        os.fsync(d.dir_fd)
        return self._done(rec, "tombstoned")

    def _done(self, rec: QuarantineRecord, how: str) -> QuarantineRecord:
        rec = replace(rec, state="done", agent_path=None)  # nothing left to do on the path: sealed only
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
                done.extend(self._recover_one(rec))
            if done:
                fsync_dir(self.dir)
        for line in done:
            log.info("quarantine_recovered", action=line)
        return done

    def agent_real_path(self, rec: QuarantineRecord) -> str | None:
        """The real path when the agent may still act on it (older record, unfinished work), else None."""
        if rec.sealed_path is None:
            return rec.original_path
        if rec.agent_path is None or not self.hash_key:
            return None
        try:
            return decrypt_for_agent(self.hash_key, rec.incident_id, rec.agent_path)
        except PathSealError as exc:
            log.error("quarantine_record_unreadable", incident_id=rec.incident_id, error=str(exc))
            return None

    def note_restoring(self, incident_id: str, path: str | None) -> None:
        """Keep the restore target's directory for the agent (``path``) or drop it again (None), so a
        restore killed mid-way is cleaned up by :meth:`recover` without the path ever in clear."""
        if not self.hash_key:
            return
        with self._lock:
            rec = self.get(incident_id)
            token = encrypt_for_agent(self.hash_key, incident_id, path) if path is not None else None
            self._save(replace(rec, agent_path=token))

    def _recover_one(self, rec: QuarantineRecord) -> list[str]:
        done = []
        path = self.agent_real_path(rec)
        if path is None:
            return [f"{rec.incident_id}: left as it is (path sealed)"] if rec.state == "pending" else []
        try:
            d = locate_original(rec, path)
        except QuarantineError as exc:
            return [f"{rec.incident_id}: left as it is ({exc.reason})"] if rec.state == "pending" else []
        try:
            if remove_restore_leftovers(d, rec.incident_id):  # a restore killed before its rename
                done.append(f"{rec.incident_id}: removed interrupted restore")
            if rec.state != "pending":
                if rec.agent_path is not None:  # the interrupted restore is cleaned up: seal the path again
                    self._save(replace(rec, agent_path=None))
                return done
            if not self.blob_path(rec.incident_id).exists():
                self.meta_path(rec.incident_id).unlink()
                return [*done, f"{rec.incident_id}: dropped record without blob"]
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f".dropwarden-{rec.incident_id}.tombstone.tmp", dir_fd=d.dir_fd)
            try:
                self._finish(rec, d)
                done.append(f"{rec.incident_id}: completed")
            except QuarantineError as exc:
                done.append(f"{rec.incident_id}: rolled back ({exc.reason})")
            return done
        finally:
            d.close()

    # -- restore -----------------------------------------------------------------------------
    def restore(self, incident_id: str, private_key: X25519PrivateKey, **options: Any) -> Path:
        """Decrypt a vault item beside its tombstone under a fresh name; ``options`` (to, force,
        in_place) as in :func:`agent.actions.restore.restore`."""
        from agent.actions.restore import restore

        return restore(self, incident_id, private_key, **options)

    def record_restore(self, rec: QuarantineRecord, target: str, forced: bool) -> None:
        """Note a finished restore in the record and the audit chain (``target`` as shown: masked)."""
        with self._lock:
            now = self.get(rec.incident_id)
            self._save(replace(now, restored=(*now.restored, f"{_now()} {target}"), agent_path=None))
        self._audit("file_restored", incident_id=rec.incident_id, path=target, forced=forced)
        log.info("file_restored", incident_id=rec.incident_id)
