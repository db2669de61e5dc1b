"""The shared index file format: checksum, version, detached Ed25519 signatures, no pickle."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.classify.indexes.indexfile import (
    MAGIC,
    IndexRejected,
    KeyedHasher,
    generate_signing_key,
    read_index,
    sign_file,
    verify_file,
    write_index,
)


@pytest.fixture
def index_path(tmp_path: Path) -> Path:
    path = tmp_path / "t.idx"
    arrays = {
        "hashes": np.array([3, 1, 2], dtype="<u8"),
        "records": np.array([7, 8, 9], dtype="<u4"),
        "cols": np.array([0, 1, 2], dtype="|u1"),
    }
    write_index(path, "edm", {"n": 3, "names": ["a", "b"]}, arrays)
    return path


def test_roundtrip_keeps_arrays_and_meta(index_path: Path) -> None:
    """What is written is read back identically, with the file created private (0600)."""
    data = read_index(index_path, "edm")
    assert data.meta == {"n": 3, "names": ["a", "b"]}
    assert data.arrays["hashes"].tolist() == [3, 1, 2]
    assert data.arrays["records"].dtype == np.dtype("<u4")
    assert data.arrays["cols"].tolist() == [0, 1, 2]
    # the payload is 8-byte aligned, so arrays are used in place (a misaligned one is copied per numpy call)
    hlen = int.from_bytes(index_path.read_bytes()[12:16], "little")
    assert (16 + hlen) % 8 == 0
    assert all(a.flags.aligned and not a.flags.owndata for a in data.arrays.values())
    assert index_path.read_bytes().startswith(MAGIC)
    assert index_path.stat().st_mode & 0o777 == 0o600


def test_flipped_payload_byte_is_rejected_by_checksum(index_path: Path) -> None:
    """A single modified byte anywhere in the file fails the SHA-256 check."""
    raw = bytearray(index_path.read_bytes())
    raw[-40] ^= 0x01
    index_path.write_bytes(bytes(raw))
    with pytest.raises(IndexRejected) as exc:
        read_index(index_path, "edm")
    assert exc.value.reason == "checksum_mismatch"
    assert isinstance(exc.value, IndexError)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda b: b"NOTANIDX" + b[8:], "bad_magic"),
        (lambda b: b[:8] + b"\x09\x00" + b[10:], "unsupported_version"),
        (lambda b: b[:20], "truncated"),
    ],
)
def test_foreign_or_future_files_are_rejected(index_path: Path, mutate: object, reason: str) -> None:
    """Wrong magic, an unknown format version and truncation each give their own reason."""
    index_path.write_bytes(mutate(index_path.read_bytes()))  # type: ignore[operator]
    with pytest.raises(IndexRejected) as exc:
        read_index(index_path, "edm")
    assert exc.value.reason == reason


def test_wrong_kind_is_rejected(index_path: Path) -> None:
    """An EDM index is not accepted where a fingerprint index is expected."""
    with pytest.raises(IndexRejected) as exc:
        read_index(index_path, "fingerprint")
    assert exc.value.reason == "wrong_kind"


def test_signed_index_loads_and_unsigned_or_tampered_is_refused(index_path: Path) -> None:
    """With require_signed, a missing, foreign or stale signature is refused; a valid one loads."""
    priv_pem, pub_pem = generate_signing_key()
    with pytest.raises(IndexRejected) as exc:
        read_index(index_path, "edm", public_key=pub_pem, require_signed=True)
    assert exc.value.reason == "unsigned"
    sign_file(index_path, priv_pem)
    assert read_index(index_path, "edm", public_key=pub_pem, require_signed=True).meta["n"] == 3
    verify_file(index_path, pub_pem)
    other = Ed25519PrivateKey.generate().public_key()
    with pytest.raises(IndexRejected) as exc:
        read_index(index_path, "edm", public_key=other, require_signed=True)
    assert exc.value.reason == "bad_signature"
    # rewrite the index (valid checksum!) without re-signing: the signature no longer matches
    write_index(index_path, "edm", {"n": 4}, {"hashes": np.array([1], dtype="<u8")})
    with pytest.raises(IndexRejected) as exc:
        read_index(index_path, "edm", public_key=pub_pem, require_signed=True)
    assert exc.value.reason == "bad_signature"
    with pytest.raises(IndexRejected) as exc:
        read_index(index_path, "edm", require_signed=True)
    assert exc.value.reason == "no_public_key"


def test_index_signed_by_the_cli_format_loads_and_a_flipped_byte_is_refused(
    index_path: Path, tmp_path: Path
) -> None:
    """`dropwarden sign INDEX` (agent.security.signing) writes the .sig the loader checks, with key lists."""
    from agent.security import signing
    from agent.security.keys import load_signing_private, load_signing_public, write_keypair

    files = write_keypair(tmp_path / "keys", "signing")
    priv, pub = load_signing_private(files.private), load_signing_public(files.public)
    signing.sign_file(index_path, priv)
    assert (tmp_path / "t.idx.sig").read_text().startswith(signing.HEADER)
    other = Ed25519PrivateKey.generate().public_key()
    assert read_index(index_path, "edm", public_key=[other, pub], require_signed=True).meta["n"] == 3
    assert signing.verify(index_path, [pub])  # and what indexfile signs, agent.security.signing accepts
    sign_file(index_path, priv)
    assert signing.verify(index_path, [pub])
    raw = bytearray(index_path.read_bytes())
    raw[30] ^= 0x01
    index_path.write_bytes(bytes(raw))
    with pytest.raises(IndexRejected) as exc:
        read_index(index_path, "edm", public_key=pub, require_signed=True)
    assert exc.value.reason == "bad_signature"


def test_object_arrays_cannot_be_written() -> None:
    """Only plain integer dtypes are allowed, so nothing ever needs unpickling."""
    with pytest.raises(ValueError, match="unsupported dtype"):
        write_index("/nonexistent/x", "edm", {}, {"bad": np.array([object()], dtype=object)})


def test_keyed_hasher_is_hmac_sha256() -> None:
    """The fast hasher computes exactly HMAC-SHA256(key, domain NUL msg) truncated to 8 bytes."""
    key = b"\x01" * 32
    h = KeyedHasher(key, "dom")
    expected = hmac.new(key, b"dom\x00d:19800101", hashlib.sha256).digest()[:8]
    assert h.digest8(b"d:19800101") == expected
    assert h.hash_many(["d:19800101"])[0] == int.from_bytes(expected, "little")
