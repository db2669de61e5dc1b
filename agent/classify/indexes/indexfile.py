"""Versioned binary file format shared by the EDM and document-fingerprint indexes.

Layout (all integers little-endian)::

    b"DWINDEX\\n"   8-byte magic
    u16            format version (currently 1)
    u16            reserved (0)
    u32            header length H
    H bytes        header: UTF-8 JSON object {"kind", "meta", "arrays": [{name, dtype, count, offset}]},
                   padded with spaces so that the payload starts 8-byte aligned
    ...            payload: the raw arrays, each starting at an 8-byte aligned payload offset
    32 bytes       SHA-256 of everything before it (magic, header and payload)

Loading never unpickles anything: the header is JSON and the arrays are plain ``numpy.frombuffer``
views with a whitelisted dtype. Signing is *detached* and uses the one format of :mod:`agent.security.signing`
(``INDEX.sig``, Ed25519 over the SHA-256 of the exact bytes), so ``dropwarden sign INDEX`` produces
what this loader accepts, the index stays byte-identical whether signed or not, and signing happens on
the machine holding the private key. The file is read once: the bytes checked are the bytes parsed.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.security import signing

MAGIC = b"DWINDEX\n"
VERSION = 1
_PREFIX = struct.Struct("<8sHHI")
_DIGEST = 32
_DTYPES = frozenset({"<u8", "<u4", "<u2", "|u1", "<i8", "<i4"})
SIG_SUFFIX = ".sig"
#: an Ed25519 public key object, or its raw 32 bytes, or PEM
PublicKey = Ed25519PublicKey | bytes
#: agent.security.signing's rejection reasons -> ours ("tampered" and "unknown_key": do not trust it)
_SIG_REASONS = {"unsigned": "unsigned", "tampered": "bad_signature", "unknown_key": "bad_signature"}


class IndexRejected(IndexError):
    """An index file that must not be used; ``reason`` is a short machine-readable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"index rejected ({reason})" + (f": {detail}" if detail else ""))


@dataclass(frozen=True)
class IndexData:
    """A decoded index file: its kind, free-form JSON metadata and named arrays."""

    kind: str
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


def write_index(
    path: str | os.PathLike[str], kind: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]
) -> None:
    """Write an index atomically (temp file + rename, mode 0600: hashes are still sensitive)."""
    specs = []
    offset = 0
    blobs: list[bytes | memoryview] = []  # views, not copies: indexes can be hundreds of MB
    for name, arr in arrays.items():
        a = np.ascontiguousarray(arr)
        dtype = a.dtype.newbyteorder("<").str if a.dtype.byteorder not in "|" else a.dtype.str
        if dtype not in _DTYPES:
            raise ValueError(f"array {name!r} has unsupported dtype {a.dtype}")
        a = a.astype(dtype, copy=False)
        pad = (-offset) % 8
        if pad:
            blobs.append(b"\0" * pad)
            offset += pad
        specs.append({"name": name, "dtype": dtype, "count": int(a.size), "offset": offset})
        raw = np.ascontiguousarray(a).data.cast("B")
        blobs.append(raw)
        offset += raw.nbytes
    header = json.dumps({"kind": kind, "meta": meta, "arrays": specs}, sort_keys=True).encode()
    header += b" " * ((-(_PREFIX.size + len(header))) % 8)  # payload 8-aligned: arrays usable in place
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    digest = hashlib.sha256()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        for part in (_PREFIX.pack(MAGIC, VERSION, 0, len(header)), header, *blobs):
            digest.update(part)
            fh.write(part)
        fh.write(digest.digest())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, target)


def read_index(
    path: str | os.PathLike[str],
    expected_kind: str,
    public_key: PublicKey | Sequence[PublicKey] | None = None,
    require_signed: bool = False,
) -> IndexData:
    """Read and check an index; raise :class:`IndexRejected` naming the reason when it is unusable.

    With ``public_key`` (one key or several trusted ones) the ``.sig`` must verify; with
    ``require_signed`` a key is mandatory.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise IndexRejected("unreadable", f"{p}: {exc.strerror}") from None
    if require_signed or public_key is not None:
        if public_key is None:
            raise IndexRejected("no_public_key", "a signed index was required but no public key was given")
        _verify_bytes(data, p, public_key)
    body, hlen = _checked_body(data, p)
    start = _PREFIX.size
    try:
        header = json.loads(bytes(body[start : start + hlen]))
    except ValueError:
        raise IndexRejected("bad_header", str(p)) from None
    if header.get("kind") != expected_kind:
        raise IndexRejected("wrong_kind", f"{p} holds a {header.get('kind')!r} index, not {expected_kind!r}")
    arrays = _arrays(header.get("arrays", []), body[start + hlen :])
    return IndexData(kind=header["kind"], meta=header.get("meta", {}), arrays=arrays)


def _checked_body(data: bytes, p: Path) -> tuple[memoryview, int]:
    """The file without its trailing digest, once prefix and digest check; and the header length."""
    if len(data) < _PREFIX.size + _DIGEST:
        raise IndexRejected("truncated", str(p))
    magic, version, _reserved, hlen = _PREFIX.unpack_from(data)
    if magic != MAGIC:
        raise IndexRejected("bad_magic", f"{p} is not a Dropwarden index")
    if version != VERSION:
        raise IndexRejected("unsupported_version", f"{p} has format version {version}, expected {VERSION}")
    body = memoryview(data)[:-_DIGEST]
    if hashlib.sha256(body).digest() != data[-_DIGEST:]:
        raise IndexRejected("checksum_mismatch", f"{p} is corrupt or was modified")
    return body, int(hlen)


def _arrays(specs: list[dict[str, Any]], payload: memoryview) -> dict[str, np.ndarray]:
    """Zero-copy views of the arrays the header declares, each checked to lie inside the payload."""
    arrays: dict[str, np.ndarray] = {}
    for spec in specs:
        dtype = spec["dtype"]
        if dtype not in _DTYPES:
            raise IndexRejected("bad_header", f"unsupported dtype {dtype!r}")
        dt = np.dtype(dtype)
        begin, count = int(spec["offset"]), int(spec["count"])
        if begin < 0 or count < 0 or begin + count * dt.itemsize > len(payload):
            raise IndexRejected("bad_header", f"array {spec['name']!r} lies outside the payload")
        arr = np.frombuffer(payload, dtype=dt, count=count, offset=begin)
        # a misaligned array would be copied by every numpy call (searchsorted!): copy it once here
        arrays[spec["name"]] = arr if arr.flags.aligned else arr.copy()
    return arrays


def _private_key(key: Ed25519PrivateKey | bytes) -> Ed25519PrivateKey:
    if isinstance(key, Ed25519PrivateKey):
        return key
    if len(key) == 32:
        return Ed25519PrivateKey.from_private_bytes(key)
    loaded = serialization.load_pem_private_key(key, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError("signing key is not an Ed25519 private key")
    return loaded


def _public_key(key: Ed25519PublicKey | bytes) -> Ed25519PublicKey:
    if isinstance(key, Ed25519PublicKey):
        return key
    if len(key) == 32:
        return Ed25519PublicKey.from_public_bytes(key)
    loaded = serialization.load_pem_public_key(key)
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError("verification key is not an Ed25519 public key")
    return loaded


def _public_keys(keys: PublicKey | Sequence[PublicKey]) -> list[Ed25519PublicKey]:
    if isinstance(keys, Ed25519PublicKey | bytes):
        return [_public_key(keys)]
    return [_public_key(k) for k in keys]


def sign_file(path: str | os.PathLike[str], private_key: Ed25519PrivateKey | bytes) -> Path:
    """Write the detached signature ``PATH.sig`` in agent.security.signing's format.

    Raw key bytes or PEM are accepted.
    """
    return signing.sign_file(path, _private_key(private_key))


def verify_file(path: str | os.PathLike[str], public_key: PublicKey | Sequence[PublicKey]) -> None:
    """Check ``PATH.sig`` against ``PATH``; raise :class:`IndexRejected` when missing or invalid."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise IndexRejected("unreadable", f"{p}: {exc.strerror}") from None
    _verify_bytes(data, p, public_key)


def _verify_bytes(data: bytes, path: Path, public_key: PublicKey | Sequence[PublicKey]) -> None:
    sig = signing.sig_path(path)
    try:
        sig_text = sig.read_bytes()
    except FileNotFoundError:
        raise IndexRejected("unsigned", f"no signature file {sig}") from None
    except OSError as exc:
        raise IndexRejected("unreadable", f"{sig}: {exc.strerror}") from None
    try:
        signing.verify_data(data, sig_text, _public_keys(public_key), str(path))
    except signing.SignatureRejected as exc:
        reason = _SIG_REASONS.get(exc.reason, "bad_signature")
        raise IndexRejected(reason, f"{sig} does not match the index ({exc.reason})") from None


def generate_signing_key() -> tuple[bytes, bytes]:
    """A fresh Ed25519 key pair as PEM (private PKCS8, public SubjectPublicKeyInfo)."""
    priv = Ed25519PrivateKey.generate()
    return (
        priv.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        priv.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


class KeyedHasher:
    """HMAC-SHA256 truncated to 64 bits, with the keyed pad states computed once.

    Same output as ``hmac.new(key, msg, sha256).digest()[:8]`` read as little-endian uint64, but about
    twice as fast as the stdlib one-shot here, which matters for millions of table cells and k-grams.
    """

    def __init__(self, key: bytes, domain: str) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        padded = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
        self._inner.update(domain.encode() + b"\0")
        #: identifies the key (and domain) without revealing it: stored in index headers
        self.key_id = self.digest8(b"dropwarden-key-check").hex()

    def digest8(self, msg: bytes) -> bytes:
        h = self._inner.copy()
        h.update(msg)
        o = self._outer.copy()
        o.update(h.digest())
        return o.digest()[:8]

    def hash_many(self, msgs: list[str]) -> np.ndarray:
        """Hash UTF-8 strings to a uint64 array (one Python call per item, no per-item int conversion)."""
        ic, oc = self._inner.copy, self._outer.copy
        parts = []
        for m in msgs:
            h = ic()
            h.update(m.encode())
            o = oc()
            o.update(h.digest())
            parts.append(o.digest()[:8])
        return np.frombuffer(b"".join(parts), dtype="<u8").copy() if parts else np.zeros(0, dtype="<u8")
