"""Restore a vault item without letting the share's writers choose where (or as whom) it lands.

The tombstone names the incident, so anyone who can write into the zone knows the restore is coming
and can plant a symlink at any name they can predict, or swap a directory on the path for a link
into, say, ``/etc/cron.d`` (issue 14, item 1). So:

- the target directory is walked from the recorded zone root without following links
  (:func:`agent.actions.quarantine.locate_original`); a path that now leads elsewhere is refused;
- content is decrypted into a file created ``O_CREAT|O_EXCL|O_NOFOLLOW`` relative to that directory's
  descriptor under a random name, and published with ``linkat`` (never replaces anything) or, for an
  explicit in-place restore, ``renameat`` (replaces the entry itself, never follows it);
- by default the file lands beside the tombstone under a fresh name (``<name>.restored-<random>``);
  overwriting the tombstone needs ``in_place``, anything else also ``force``;
- the restored file belongs to whoever runs the restore, mode 0600: the original owner and mode were
  the writer's choice and are not reapplied (the mtime is, it is harmless and helps review).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.actions.quarantine import (
    Hasher,
    QuarantineError,
    QuarantineRecord,
    create_new,
    is_tombstone_at,
    locate_original,
    real_path,
    remove_restore_leftovers,
)
from agent.security.dirfd import Entry, PathRefused, open_root
from agent.security.evidence import SealError, open_stream

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from agent.actions.quarantine import QuarantineStore

RESTORED_MODE = 0o600


@dataclass
class _Target:
    dir: Entry  # the directory written in (``dir.name``: the name to publish under)
    shown: Path  # what to print (to the holder of the private key)
    replace: bool  # publish with rename (over an existing entry) rather than link
    recorded: str  # what the record and the audit line keep: the name masked as in the record


def _operator_target(
    to: str | os.PathLike[str], rec: QuarantineRecord, original: str, force: bool
) -> _Target:
    """``--to``: the operator's own path (links in it are the operator's choice); the name is new."""
    path = Path(os.path.abspath(to))
    recorded = str(path)
    if path.is_dir():
        path, recorded = path / os.path.basename(original), str(path / os.path.basename(rec.original_path))
    try:
        d = Entry(open_root(str(path.parent)), path.name)
    except PathRefused:
        raise QuarantineError("no_dir", f"directory {path.parent} does not exist") from None
    return _Target(d, path, replace=force, recorded=recorded)


def _zone_target(rec: QuarantineRecord, original: str, in_place: bool, force: bool) -> _Target:
    d = locate_original(rec, original)
    remove_restore_leftovers(d, rec.incident_id)  # of an earlier restore killed mid-way
    if in_place:
        if not force and _exists(d, d.name) and not is_tombstone_at(d, d.name, rec):
            d.close()
            why = f"{rec.original_path} exists and is not the tombstone; use --force"
            raise QuarantineError("exists", why)
        return _Target(d, Path(original), replace=True, recorded=rec.original_path)
    for _ in range(8):
        suffix = f".restored-{secrets.token_hex(4)}"
        if not _exists(d, d.name + suffix):
            shown = Path(original).parent / (d.name + suffix)
            return _Target(Entry(d.dir_fd, d.name + suffix), shown, False, rec.original_path + suffix)
    d.close()
    raise QuarantineError("exists", "no free name beside the tombstone")


def _exists(d: Entry, name: str) -> bool:
    try:
        os.stat(name, dir_fd=d.dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def restore(
    store: QuarantineStore,
    incident_id: str,
    private_key: X25519PrivateKey,
    *,
    to: str | os.PathLike[str] | None = None,
    force: bool = False,
    in_place: bool = False,
) -> Path:
    """Decrypt ``incident_id`` (authenticated, hash-checked) and publish it; returns where it went."""
    rec = store.get(incident_id)
    blob = store.blob_path(incident_id)
    original = real_path(rec, private_key)
    if to is not None:
        target = _operator_target(to, rec, original, force)
    else:
        target = _zone_target(rec, original, in_place, force)
    # until published, the agent may have to clean up after us (recover): it gets the path, encrypted
    store.note_restoring(incident_id, original if to is None else None)
    try:
        _decrypt_and_publish(store, rec, blob, private_key, target)
    except BaseException:
        store.note_restoring(incident_id, None)
        raise
    finally:
        target.dir.close()
    store.record_restore(rec, target.recorded, forced=force)
    return target.shown


def _decrypt_and_publish(
    store: QuarantineStore, rec: QuarantineRecord, blob: Path, key: X25519PrivateKey, t: _Target
) -> None:
    d = t.dir
    tmp = f".dropwarden-{rec.incident_id}.restore-{secrets.token_hex(6)}.tmp"
    hasher = Hasher(store.hash_key if rec.content_hash.startswith("hmac-") else None)
    try:
        fd = create_new(d, tmp, RESTORED_MODE)
        with open(blob, "rb") as src, os.fdopen(fd, "wb") as dst:
            open_stream(key, src, _Tee(dst, hasher))  # type: ignore[arg-type]
            dst.flush()
            if rec.content_hash.startswith(hasher.prefix) and hasher.value() != rec.content_hash:
                raise QuarantineError("hash_mismatch", "restored content does not match the recorded hash")
            os.fchmod(dst.fileno(), RESTORED_MODE)
            os.utime(dst.fileno(), ns=(rec.mtime_ns, rec.mtime_ns))
            os.fsync(dst.fileno())
        _publish(d, tmp, t)
    except SealError as exc:
        _discard(d, tmp)
        why = f"vault item {rec.incident_id} failed verification: {exc}"
        raise QuarantineError("tampered", why) from None
    except FileNotFoundError:
        _discard(d, tmp)
        raise QuarantineError("not_found", f"vault blob of {rec.incident_id} is missing") from None
    except FileExistsError:
        _discard(d, tmp)
        raise QuarantineError("exists", f"{t.shown} exists; use --force") from None
    except BaseException:
        _discard(d, tmp)
        raise


def _publish(d: Entry, tmp: str, t: _Target) -> None:
    if t.replace:
        os.rename(tmp, d.name, src_dir_fd=d.dir_fd, dst_dir_fd=d.dir_fd)
    else:
        os.link(tmp, d.name, src_dir_fd=d.dir_fd, dst_dir_fd=d.dir_fd, follow_symlinks=False)
        os.unlink(tmp, dir_fd=d.dir_fd)
    os.fsync(d.dir_fd)


def _discard(d: Entry, tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp, dir_fd=d.dir_fd)


@dataclass
class _Tee:
    """A write-only file object that also feeds what is written to a hasher."""

    dst: Any
    hasher: Hasher

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        return int(self.dst.write(data))
