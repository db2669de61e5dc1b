"""Signed policy bundles: one file carrying policy packs and index files to a fleet of agents.

A bundle is a plain tar whose root holds the packs (``NN-<dir>-<file>.yaml``, ``NN`` keeping the
layer order of the directories it was built from), ``indexes/`` (EDM and fingerprint index files),
and ``policy-manifest.json`` with its ``.sig`` (:mod:`agent.security.manifest`: every file's SHA-256,
a set name, a version, a creation time; Ed25519). So the whole unpacked bundle is one signed policy
directory: the agent accepts it only when the files are exactly the manifest's, the signature is
from a trusted key, and the version is not older than the last one accepted (rollback).

Installing never trusts the tar: members must be regular files or directories with plain relative
names (no links, devices, absolute paths or ``..``), their count and sizes are bounded, the tree is
unpacked into a fresh directory of the private state dir and verified there; only then the
``current`` link is swapped atomically (``rename`` of a new symlink over the old one), so a
half-written or refused bundle never becomes the running one.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.security.manifest import MANIFEST, Manifest, check_not_older, load_set, remember, write_manifest
from agent.security.signing import SignatureRejected

BUNDLES_DIR = "bundles"
CURRENT = "current"
INDEX_DIR = "indexes"
MAX_MEMBERS = 2_000
#: Bundles kept besides the current one (for a manual rollback by the operator).
KEEP_PREVIOUS = 2


class BundleRejected(Exception):
    """A bundle that was not installed. ``reason`` is a bounded label value; the message names no content."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"bundle rejected ({reason}): {detail}")


@dataclass(frozen=True)
class Installed:
    """The bundle now in force."""

    manifest: Manifest
    sha256: str  # of the bundle file as fetched
    path: Path  # the unpacked directory `current` points to
    changed: bool  # False when the same bundle was already current


def build_bundle(
    policy_dirs: Sequence[str | os.PathLike[str]],
    index_files: Sequence[str | os.PathLike[str]],
    key: Ed25519PrivateKey,
    version: int,
    name: str,
    out: str | os.PathLike[str],
) -> Path:
    """Pack the directories' packs and the index files into a signed bundle at ``out``."""
    with tempfile.TemporaryDirectory(prefix="dropwarden-bundle-") as tmp:
        stage = Path(tmp) / "bundle"
        stage.mkdir()
        for i, directory in enumerate(policy_dirs):
            d = Path(directory)
            if not d.is_dir():
                raise BundleRejected("malformed", f"{d} is not a directory")
            for pack in sorted((*d.glob("*.yaml"), *d.glob("*.yml")), key=lambda f: f.name):
                shutil.copyfile(pack, stage / f"{i:02d}-{d.name}-{pack.name}")
        if index_files:
            (stage / INDEX_DIR).mkdir()
        for f in index_files:
            shutil.copyfile(f, stage / INDEX_DIR / Path(f).name)
            sig = Path(f).with_name(Path(f).name + ".sig")  # kept for agents with require_signed
            if sig.is_file():
                shutil.copyfile(sig, stage / INDEX_DIR / sig.name)
        write_manifest(stage, key, version, name)
        target = Path(out)
        tmp_out = target.with_name(f".{target.name}.tmp")
        with tarfile.open(tmp_out, "w", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(stage.rglob("*")):
                info = tar.gettarinfo(str(path), arcname=path.relative_to(stage).as_posix())
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                info.mode = 0o755 if path.is_dir() else 0o644
                if path.is_dir():
                    tar.addfile(info)
                else:
                    with path.open("rb") as src:
                        tar.addfile(info, src)
        os.replace(tmp_out, target)
    return target


def _check_members(tar: tarfile.TarFile, max_bytes: int) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    if len(members) > MAX_MEMBERS:
        raise BundleRejected("malformed", f"{len(members)} members (limit {MAX_MEMBERS})")
    total = 0
    for m in members:
        parts = PurePosixPath(m.name).parts
        if not (m.isfile() or m.isdir()):
            raise BundleRejected("malformed", "a member is not a regular file or directory")
        if not parts or m.name.startswith("/") or any(p in ("..", "") for p in parts) or "\\" in m.name:
            raise BundleRejected("malformed", "a member name leaves the bundle")
        total += m.size
        if total > max_bytes:
            raise BundleRejected("too_large", f"more than {max_bytes} bytes unpacked")
    return members


def unpack(data: bytes, dest: Path, max_bytes: int) -> None:
    """Unpack a bundle into the new, empty directory ``dest`` after checking every member."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            members = _check_members(tar, max_bytes)
            tar.extractall(dest, members=members, filter="data")
    except tarfile.TarError as exc:
        raise BundleRejected("malformed", f"not a bundle tar ({type(exc).__name__})") from None


def current_dir(state_dir: str | os.PathLike[str]) -> Path:
    """Where the bundle in force is unpacked (a symlink inside the private state directory)."""
    return Path(state_dir) / BUNDLES_DIR / CURRENT


def index_files(state_dir: str | os.PathLike[str], suffixes: tuple[str, ...]) -> list[str]:
    """The current bundle's index files with one of ``suffixes`` (e.g. ``(".edm",)``), sorted."""
    d = current_dir(state_dir) / INDEX_DIR
    if not d.is_dir():
        return []
    return [str(f) for f in sorted(d.iterdir()) if f.suffix in suffixes and f.is_file()]


def install(
    data: bytes,
    state_dir: str | os.PathLike[str],
    public_keys: Sequence[Ed25519PublicKey],
    max_bytes: int = 256 * 1024**2,
) -> Installed:
    """Verify ``data`` and make it the current bundle; raise BundleRejected and keep the old one otherwise."""
    if len(data) > max_bytes:
        raise BundleRejected("too_large", f"{len(data)} bytes")
    sha = hashlib.sha256(data).hexdigest()
    root = Path(state_dir) / BUNDLES_DIR
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    link = root / CURRENT
    final = root / f"bundle-{sha[:16]}"
    if link.is_symlink() and os.readlink(link) == final.name and final.is_dir():
        manifest, _ = verified(final, public_keys)
        return Installed(manifest, sha, final, changed=False)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        unpack(data, staging, max_bytes)
        manifest, _ = verified(staging, public_keys)
        try:
            check_not_older(state_dir, manifest, "bundle")
        except SignatureRejected as exc:
            raise BundleRejected("rollback", str(exc.detail)) from None
        shutil.rmtree(final, ignore_errors=True)
        os.rename(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    tmp_link = root / f".{CURRENT}.{os.getpid()}"
    tmp_link.unlink(missing_ok=True)
    os.symlink(final.name, tmp_link)
    os.replace(tmp_link, link)
    remember(state_dir, [manifest])
    _prune(root, keep=final.name)
    return Installed(manifest, sha, final, changed=True)


def verified(directory: Path, public_keys: Sequence[Ed25519PublicKey]) -> tuple[Manifest, dict[Path, bytes]]:
    if not (directory / MANIFEST).is_file():
        raise BundleRejected("unsigned", f"no {MANIFEST}")
    try:
        return load_set(directory, public_keys)
    except SignatureRejected as exc:
        raise BundleRejected(exc.reason, exc.detail or exc.reason) from None


def _prune(root: Path, keep: str) -> None:
    """Drop unpacked bundles beyond the current one and the KEEP_PREVIOUS newest others."""
    old = sorted(
        (d for d in root.iterdir() if d.is_dir() and not d.is_symlink() and d.name.startswith("bundle-")),
        key=lambda d: d.stat().st_mtime,
        reverse=True,
    )
    for d in [d for d in old if d.name != keep][KEEP_PREVIOUS:]:
        shutil.rmtree(d, ignore_errors=True)
