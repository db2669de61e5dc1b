"""Sealed blobs and streams: round trips, and every kind of tampering detected."""

from __future__ import annotations

import io

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agent.security.evidence import (
    HEADER_BYTES,
    KIND_EVIDENCE,
    KIND_VAULT,
    TAG_BYTES,
    EvidenceStore,
    SealError,
    open_sealed,
    open_stream,
    seal,
    seal_stream,
)

SEG = 64  # tiny segments so multi-segment streams stay small enough to flip every byte


def _seal(pub, data: bytes) -> bytes:
    out = io.BytesIO()
    seal_stream(pub, io.BytesIO(data), out, segment_bytes=SEG)
    return out.getvalue()


def _open(priv, blob: bytes) -> bytes:
    out = io.BytesIO()
    open_stream(priv, io.BytesIO(blob), out, segment_bytes=SEG)
    return out.getvalue()


@pytest.mark.parametrize("size", [0, 1, SEG - 1, SEG, SEG + 1, 3 * SEG, 3 * SEG + SEG // 2])
def test_stream_round_trip(keys, size: int) -> None:
    """Any length, including 0 and exact segment multiples, comes back byte-identical."""
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    blob = _seal(keys.q_pub, data)
    segments = max(1, -(-size // SEG))  # ceil, and an empty plaintext still has one (final) segment
    assert len(blob) == HEADER_BYTES + size + segments * TAG_BYTES
    assert _open(keys.q_priv, blob) == data


def test_every_bit_flip_is_detected(keys) -> None:
    """Flipping any single bit anywhere in a 3.5-segment blob makes it fail to open."""
    blob = _seal(keys.q_pub, b"A" * (3 * SEG + SEG // 2))
    for i in range(len(blob)):
        for bit in (0x01, 0x80):
            bad = bytearray(blob)
            bad[i] ^= bit
            with pytest.raises(SealError):
                _open(keys.q_priv, bytes(bad))


def test_truncation_reorder_and_extension_are_detected(keys) -> None:
    """Dropping the last segment, cutting mid-segment, swapping or appending segments all fail."""
    blob = _seal(keys.q_pub, bytes(range(200)) + bytes(100))  # 300 bytes: 5 segments
    ct = SEG + TAG_BYTES
    head, body = blob[:HEADER_BYTES], blob[HEADER_BYTES:]
    segs = [body[i : i + ct] for i in range(0, len(body), ct)]
    assert len(segs) == 5
    cases = {
        "drop_last": head + b"".join(segs[:-1]),  # cut exactly at a segment boundary
        "drop_first": head + b"".join(segs[1:]),
        "mid_cut": blob[:-7],
        "header_only": head,
        "short_header": blob[:10],
        "swap": head + segs[1] + segs[0] + b"".join(segs[2:]),
        "append": blob + segs[-1],
        "duplicate": head + segs[0] + b"".join(segs),
    }
    for name, bad in cases.items():
        try:
            _open(keys.q_priv, bad)
        except SealError:
            continue
        pytest.fail(f"{name} was not detected")


def test_wrong_private_key_is_named_not_called_corruption(keys) -> None:
    """A blob sealed to another key fails with a message naming the key id."""
    blob = seal(keys.q_pub, b"context")
    with pytest.raises(SealError, match="sealed to key"):
        open_sealed(X25519PrivateKey.generate(), blob)


def test_seal_is_randomised_and_kind_bound(keys) -> None:
    """Sealing twice gives different blobs (ephemeral keys), and an evidence blob is not a vault blob."""
    a, b = seal(keys.q_pub, b"same"), seal(keys.q_pub, b"same")
    assert a != b and b"same" not in a
    assert open_sealed(keys.q_priv, a) == b"same"
    with pytest.raises(SealError, match="another kind"):
        open_stream(keys.q_priv, io.BytesIO(a), io.BytesIO(), kind=KIND_VAULT)
    assert KIND_EVIDENCE != KIND_VAULT


def test_evidence_store_needs_private_key_to_read(keys, tmp_path) -> None:
    """The agent stores evidence with the public key only; files are 0600, readable with the private key."""
    store = EvidenceStore(tmp_path, keys.q_pub)
    eid = store.put(b"IBAN DE89 3704 0044 0532 0130 00 in invoice")
    p = store.path(eid)
    assert p.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "evidence").stat().st_mode & 0o777 == 0o700
    assert b"DE89" not in p.read_bytes()
    assert EvidenceStore(tmp_path).get(eid, keys.q_priv).startswith(b"IBAN DE89")
    with pytest.raises(ValueError, match="evidence id must be lowercase hex"):
        store.path("../etc/passwd")
