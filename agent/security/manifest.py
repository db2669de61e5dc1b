"""Signed manifests of a whole set of files (policy packs, later policy bundles), against deletion,
addition and rollback.

A detached signature per file proves each file, not the set: deleting an override pack together with
its ``.sig`` silently dropped a quarantine action, and replaying a validly signed older pack re-enabled
what a newer one disabled. ``policy-manifest.json`` names every file of a directory (recursively) with
its SHA-256, plus a set name, a version and a creation time; its own ``.sig`` (agent.security.signing)
makes it trusted. A directory is accepted only when the files on disk are exactly the manifest's
(nothing added, removed or changed), and a manifest older than the last one accepted for the same set
name (remembered in the state directory) is refused::

    {"format": "dropwarden-manifest v1", "name": "bank-policies", "version": 7,
     "created": "2026-12-04T21:30:00Z", "files": {"bank.yaml": "<sha256 hex>", ...}}
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.security.signing import SignatureRejected, load_verified, sig_path, sign_file

MANIFEST = "policy-manifest.json"
FORMAT = "dropwarden-manifest v1"
#: Where the last accepted (version, created) of each set name is kept, in the state directory.
ACCEPTED = "accepted-manifests.json"


@dataclass(frozen=True)
class Manifest:
    name: str
    version: int
    created: str  # ISO 8601 UTC
    files: dict[str, str]  # path relative to the directory -> SHA-256 hex

    @property
    def order(self) -> tuple[int, str]:
        return (self.version, self.created)


def listed_files(directory: Path) -> list[Path]:
    """Every regular file the manifest covers: all of the tree but the manifest, signatures and dotfiles."""
    out = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name.endswith(".sig") or name == MANIFEST:
                continue
            out.append(Path(root) / name)
    return out


def write_manifest(
    directory: str | os.PathLike[str], key: Ed25519PrivateKey, version: int, name: str | None = None
) -> Path:
    """Write and sign the manifest of ``directory`` as it is now; returns the manifest's path."""
    d = Path(directory)
    files = {f.relative_to(d).as_posix(): hashlib.sha256(f.read_bytes()).hexdigest() for f in listed_files(d)}
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    doc = {"format": FORMAT, "name": name or d.resolve().name, "version": version, "created": created}
    out = d / MANIFEST
    tmp = d / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps({**doc, "files": files}, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out)
    sign_file(out, key)
    return out


def _parse(data: bytes, path: Path) -> Manifest:
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT:
            raise ValueError("format")
        files = {str(k): str(v) for k, v in doc["files"].items()}
        return Manifest(str(doc["name"]), int(doc["version"]), str(doc["created"]), files)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SignatureRejected("tampered", path, "manifest is malformed") from None


def load_set(
    directory: str | os.PathLike[str], public_keys: Sequence[Ed25519PublicKey]
) -> tuple[Manifest, dict[Path, bytes]]:
    """The directory's files, read once, if they are exactly its signed manifest's; else SignatureRejected.

    Reasons: ``unsigned`` (no manifest or no .sig), ``tampered`` (a file added, removed or changed), or
    those of the manifest's own signature.
    """
    d = Path(directory)
    path = d / MANIFEST
    if not path.exists() and not sig_path(path).exists():
        raise SignatureRejected("unsigned", d, f"{MANIFEST} not found")
    manifest = _parse(load_verified(path, public_keys), path)
    on_disk = {f.relative_to(d).as_posix(): f for f in listed_files(d)}
    added = sorted(set(on_disk) - set(manifest.files))
    removed = sorted(set(manifest.files) - set(on_disk))
    if added or removed:
        what = (
            f"{len(added)} file(s) not in the manifest" if added else f"{len(removed)} listed file(s) missing"
        )
        raise SignatureRejected("tampered", d, f"{what}: {', '.join((added or removed)[:3])}")
    sources: dict[Path, bytes] = {}
    for rel, f in on_disk.items():
        data = f.read_bytes()
        if hashlib.sha256(data).hexdigest() != manifest.files[rel]:
            raise SignatureRejected("tampered", f, "content differs from the signed manifest")
        sources[f] = data
    return manifest, sources


def check_not_older(state_dir: str | os.PathLike[str], manifest: Manifest, where: str | Path) -> None:
    """Refuse (``rollback``) a manifest older than the last one accepted under the same set name."""
    last = _accepted(state_dir).get(manifest.name)
    if last is not None and manifest.order < _order(last):
        raise SignatureRejected(
            "rollback", where, f"manifest version {manifest.version} is older than accepted {last['version']}"
        )


def remember(state_dir: str | os.PathLike[str], manifests: Sequence[Manifest]) -> None:
    """Record the manifests just accepted (atomically, mode 0600): later sets must not be older."""
    accepted = _accepted(state_dir)
    for m in manifests:
        last = accepted.get(m.name)
        if last is None or m.order >= _order(last):
            accepted[m.name] = {"version": m.version, "created": m.created, "at": time.time()}
    Path(state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    path = Path(state_dir) / ACCEPTED
    tmp = path.with_name(f".{ACCEPTED}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(accepted, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _order(record: dict[str, object]) -> tuple[int, str]:
    return (int(str(record.get("version", 0))), str(record.get("created", "")))


def _accepted(state_dir: str | os.PathLike[str]) -> dict[str, dict[str, object]]:
    try:
        data = json.loads((Path(state_dir) / ACCEPTED).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # unreadable: as on a first start (the state dir is the agent's own, mode 0700)
    return data if isinstance(data, dict) else {}
