"""Encryption to the security team's public key: streamed vault blobs and small sealed evidence blobs.

Format (version 1), all integers big-endian::

    header  = b"DWS1" | kind (1 byte: b"Q" vault, b"E" evidence) | recipient key id (8 bytes)
              | ephemeral X25519 public key (32 bytes)
    body    = segment*  (at least one)
    segment = ChaCha20-Poly1305(key, nonce = counter (11 bytes) | final flag (1 byte), plaintext,
                                aad = header) -> len(plaintext) + 16 bytes

key = HKDF-SHA256(X25519(ephemeral, recipient), salt = ephemeral_pub | recipient_pub,
                  info = "dropwarden seal v1").
Every segment but the last holds exactly SEGMENT_BYTES of plaintext; only the last has the final flag, so a
bit flip, a dropped or reordered segment, or truncation (even at a segment boundary) fails authentication.
The sender keeps no secret: once a blob is written not even the agent that wrote it can read it back.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from agent.security.keys import key_id

MAGIC = b"DWS1"
KIND_VAULT = b"Q"
KIND_EVIDENCE = b"E"
KIND_PATH = b"P"  # a quarantined file's real path, kept only sealed in the vault record
SEGMENT_BYTES = 1024 * 1024
TAG_BYTES = 16
HEADER_BYTES = len(MAGIC) + 1 + 8 + 32
_INFO = b"dropwarden seal v1"
_MAX_COUNTER = 2**88 - 1


class SealError(Exception):
    """A blob failed to open: wrong key, corruption, tampering or truncation. Never holds content."""


def _raw(pub: X25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _derive(shared: bytes, eph_pub: bytes, recipient_pub: bytes) -> ChaCha20Poly1305:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=eph_pub + recipient_pub, info=_INFO).derive(shared)
    return ChaCha20Poly1305(key)


def _nonce(counter: int, final: bool) -> bytes:
    if counter > _MAX_COUNTER:
        raise SealError("stream too long")
    return counter.to_bytes(11, "big") + (b"\x01" if final else b"\x00")


def _read_full(src: BinaryIO, n: int) -> bytes:
    """Read exactly n bytes unless EOF comes first (pipes and sockets return short reads)."""
    parts, got = [], 0
    while got < n:
        chunk = src.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def seal_stream(
    public_key: X25519PublicKey,
    src: BinaryIO,
    dst: BinaryIO,
    kind: bytes = KIND_VAULT,
    on_plaintext: Callable[[bytes], None] | None = None,
    segment_bytes: int = SEGMENT_BYTES,
) -> int:
    """Encrypt src to dst in authenticated segments; returns plaintext bytes. Memory stays O(segment).

    on_plaintext sees every plaintext segment (to hash the content in the same single read).
    """
    eph = X25519PrivateKey.generate()
    eph_pub, recipient_pub = _raw(eph.public_key()), _raw(public_key)
    header = MAGIC + kind + bytes.fromhex(key_id(public_key)) + eph_pub
    aead = _derive(eph.exchange(public_key), eph_pub, recipient_pub)
    dst.write(header)
    total, counter = 0, 0
    current = _read_full(src, segment_bytes)
    while True:
        nxt = _read_full(src, segment_bytes) if len(current) == segment_bytes else b""
        final = not nxt
        if on_plaintext is not None:
            on_plaintext(current)
        dst.write(aead.encrypt(_nonce(counter, final), current, header))
        total += len(current)
        counter += 1
        if final:
            return total
        current = nxt


def blob_key_id(header: bytes) -> str:
    """Key id of the recipient a blob was sealed to (to say "wrong key" instead of "corrupt")."""
    return header[len(MAGIC) + 1 : len(MAGIC) + 9].hex()


def open_stream(
    private_key: X25519PrivateKey,
    src: BinaryIO,
    dst: BinaryIO,
    kind: bytes = KIND_VAULT,
    segment_bytes: int = SEGMENT_BYTES,
) -> int:
    """Decrypt and authenticate src into dst; returns plaintext bytes.

    Raises SealError on any tampering. dst may have received earlier, authentic segments by then:
    callers write to a temporary file and only publish it after this returns.
    """
    header = _read_full(src, HEADER_BYTES)
    if len(header) < HEADER_BYTES or header[: len(MAGIC)] != MAGIC:
        raise SealError("not a dropwarden sealed blob (bad header)")
    if header[len(MAGIC) : len(MAGIC) + 1] != kind:
        raise SealError("sealed blob is of another kind")
    recipient_pub = _raw(private_key.public_key())
    if blob_key_id(header) != key_id(private_key.public_key()):
        raise SealError(f"blob was sealed to key {blob_key_id(header)}, not to this private key")
    eph_pub = header[-32:]
    try:
        shared = private_key.exchange(X25519PublicKey.from_public_bytes(eph_pub))
    except ValueError:
        raise SealError("sealed blob has an invalid ephemeral key") from None
    aead = _derive(shared, eph_pub, recipient_pub)
    seg_ct = segment_bytes + TAG_BYTES
    total, counter = 0, 0
    current = _read_full(src, seg_ct)
    while True:
        if len(current) < TAG_BYTES:
            raise SealError("sealed blob is truncated")
        nxt = _read_full(src, seg_ct) if len(current) == seg_ct else b""
        final = not nxt
        try:
            plain = aead.decrypt(_nonce(counter, final), current, header)
        except InvalidTag:
            raise SealError(f"sealed blob failed authentication at segment {counter}") from None
        dst.write(plain)
        total += len(plain)
        counter += 1
        if final:
            return total
        current = nxt


def seal(public_key: X25519PublicKey, plaintext: bytes, kind: bytes = KIND_EVIDENCE) -> bytes:
    """Seal a small blob (match context, a path) so that only the private key holder can read it."""
    out = io.BytesIO()
    seal_stream(public_key, io.BytesIO(plaintext), out, kind=kind)
    return out.getvalue()


def open_sealed(private_key: X25519PrivateKey, blob: bytes, kind: bytes = KIND_EVIDENCE) -> bytes:
    """Open a blob made by `seal`; raises SealError when it was altered or sealed to another key."""
    out = io.BytesIO()
    open_stream(private_key, io.BytesIO(blob), out, kind=kind)
    return out.getvalue()


def evidence_id(blob: bytes) -> str:
    """Content address of a sealed evidence blob (of the ciphertext: reveals nothing of the plaintext)."""
    return hashlib.sha256(blob).hexdigest()[:32]


class EvidenceStore:
    """Sealed evidence blobs under `<state_dir>/evidence/<id>.sealed` (dir 0700, files 0600).

    The agent needs only the public key to add evidence; reading it needs the private key.
    """

    def __init__(self, state_dir: str | os.PathLike[str], public_key: X25519PublicKey | None = None) -> None:
        self.dir = Path(state_dir) / "evidence"
        self.public_key = public_key

    def put(self, plaintext: bytes) -> str:
        """Seal and store; returns the evidence id (idempotent per blob, not per plaintext)."""
        if self.public_key is None:
            raise ValueError("EvidenceStore needs the quarantine public key to store evidence")
        return self.put_sealed(seal(self.public_key, plaintext))

    def put_sealed(self, blob: bytes) -> str:
        """Store a blob a worker already sealed (the parent never sees the plaintext); returns its id."""
        if blob[: len(MAGIC)] != MAGIC or blob[len(MAGIC) : len(MAGIC) + 1] != KIND_EVIDENCE:
            raise ValueError("not a sealed evidence blob")
        eid = evidence_id(blob)
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.dir, 0o700)
        write_atomic(self.dir / f"{eid}.sealed", blob)
        return eid

    def path(self, eid: str) -> Path:
        if not eid or not all(c in "0123456789abcdef" for c in eid):
            raise ValueError("evidence id must be lowercase hex")
        return self.dir / f"{eid}.sealed"

    def get(self, eid: str, private_key: X25519PrivateKey) -> bytes:
        return open_sealed(private_key, self.path(eid).read_bytes())


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename or unlink in a directory durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | os.PathLike[str], data: bytes, mode: int = 0o600) -> None:
    """Write a file all-or-nothing: temp name in the same directory, fsync, rename, fsync the directory."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, p)
    fsync_dir(p.parent)
