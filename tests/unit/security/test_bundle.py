"""Signed policy bundles (agent.security.bundle): built, verified and installed for real on disk;
tampered, unsigned, older and hostile bundles are refused and the bundle in force stays."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.security.bundle import BundleRejected, build_bundle, current_dir, index_files, install
from tests.helpers import rewrite_tar

PACK = "pack: fleet\nversion: 1\ndesc: fleet pack\nrules: []\n"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _bundle(tmp: Path, key: Ed25519PrivateKey, version: int, pack: str = PACK, name: str = "fleet") -> bytes:
    src = tmp / f"src-{version}-{os.urandom(4).hex()}"
    (src / "policies").mkdir(parents=True)
    (src / "policies" / "50-fleet.yaml").write_text(pack)
    index = src / "customers.edm"
    index.write_bytes(b"\x00index bytes\x00")
    out = build_bundle([src / "policies"], [index], key, version, name, src / "bundle.tar")
    return out.read_bytes()


def _retar(data: bytes, change: dict[str, bytes | None]) -> bytes:
    """The bundle's members with some replaced (bytes) or dropped (None), written as a new tar."""
    return rewrite_tar(data, lambda name, body: change.get(name, body))


def test_a_signed_bundle_installs_and_exposes_its_packs_and_indexes(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    """Install unpacks into the state dir, points `current` at it, and lists its index files."""
    state = tmp_path / "state"
    got = install(_bundle(tmp_path, key, 3), state, [key.public_key()])
    assert got.changed and got.manifest.version == 3 and got.manifest.name == "fleet"
    cur = current_dir(state)
    assert cur.is_symlink() and (cur / "00-policies-50-fleet.yaml").read_text() == PACK
    assert index_files(state, (".edm",)) == [str(cur / "indexes" / "customers.edm")]
    assert (state / "bundles").stat().st_mode & 0o777 == 0o700


def test_the_same_bundle_again_changes_nothing(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Re-fetching the bundle in force is a verified no-op (no reload)."""
    state, data = tmp_path / "state", _bundle(tmp_path, key, 1)
    install(data, state, [key.public_key()])
    again = install(data, state, [key.public_key()])
    assert not again.changed and again.manifest.version == 1


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"00-policies-50-fleet.yaml": PACK.replace("rules: []", "rules: [] # edited").encode()}, "tampered"),
        ({"00-policies-50-fleet.yaml": None}, "tampered"),
        ({"policy-manifest.json.sig": None}, "unsigned"),
    ],
)
def test_a_changed_bundle_is_refused_and_the_old_one_stays(
    tmp_path: Path, key: Ed25519PrivateKey, change: dict[str, bytes | None], reason: str
) -> None:
    """Edited, missing or unsigned members: BundleRejected with the reason, `current` unchanged."""
    state = tmp_path / "state"
    install(_bundle(tmp_path, key, 1), state, [key.public_key()])
    before = os.readlink(current_dir(state))
    bad = _retar(_bundle(tmp_path, key, 2), change)
    with pytest.raises(BundleRejected) as exc:
        install(bad, state, [key.public_key()])
    assert exc.value.reason == reason
    assert os.readlink(current_dir(state)) == before
    assert not [p for p in (state / "bundles").iterdir() if p.name.startswith(".incoming-")]


def test_a_file_added_to_a_signed_bundle_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """A pack slipped into a validly signed bundle (say, one disabling a rule) makes it tampered."""
    data = _bundle(tmp_path, key, 2)
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        extra = b"pack: evil\nversion: 1\ndesc: x\nrules: []\n"
        info = tarfile.TarInfo("99-evil.yaml")
        info.size = len(extra)
        dst.addfile(info, io.BytesIO(extra))
    with pytest.raises(BundleRejected) as exc:
        install(out.getvalue(), tmp_path / "state", [key.public_key()])
    assert exc.value.reason == "tampered"


def test_an_older_signed_bundle_is_a_rollback(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Version 2 accepted, then a validly signed version 1: refused as a rollback."""
    state = tmp_path / "state"
    install(_bundle(tmp_path, key, 2), state, [key.public_key()])
    with pytest.raises(BundleRejected) as exc:
        install(_bundle(tmp_path, key, 1), state, [key.public_key()])
    assert exc.value.reason == "rollback"


def test_a_bundle_signed_by_another_key_is_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Only the configured signing keys are trusted."""
    with pytest.raises(BundleRejected) as exc:
        install(_bundle(tmp_path, Ed25519PrivateKey.generate(), 1), tmp_path / "s", [key.public_key()])
    assert exc.value.reason == "unknown_key"


@pytest.mark.parametrize("kind", ["symlink", "dotdot", "absolute", "device"])
def test_hostile_tar_members_are_refused_before_anything_is_written(
    tmp_path: Path, key: Ed25519PrivateKey, kind: str
) -> None:
    """Links, `..`, absolute names and devices in the tar: refused, nothing lands outside the state dir."""
    victim = tmp_path / "victim"
    victim.mkdir()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(
            {"dotdot": "../../victim/owned", "absolute": str(victim / "owned")}.get(kind, "x")
        )
        if kind == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, str(victim)
        elif kind == "device":
            info.type = tarfile.CHRTYPE
        body = b"owned"
        info.size = len(body) if info.type == tarfile.REGTYPE else 0
        tar.addfile(info, io.BytesIO(body) if info.size else None)
    with pytest.raises(BundleRejected) as exc:
        install(out.getvalue(), tmp_path / "state", [key.public_key()])
    assert exc.value.reason == "malformed"
    assert list(victim.iterdir()) == []


def test_oversized_and_garbage_bundles_are_refused(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    """Bytes over the limit and bytes that are not a tar: BundleRejected, never an exception leak."""
    data = _bundle(tmp_path, key, 1)
    with pytest.raises(BundleRejected) as exc:
        install(data, tmp_path / "s", [key.public_key()], max_bytes=len(data) - 1)
    assert exc.value.reason == "too_large"
    with pytest.raises(BundleRejected) as exc:
        install(b"not a tar at all" * 100, tmp_path / "s", [key.public_key()])
    assert exc.value.reason == "malformed"
