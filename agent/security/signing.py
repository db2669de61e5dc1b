"""Detached Ed25519 signatures for policy packs and EDM indexes, so a tampered policy is refused.

`FILE.sig` is a small text file::

    dropwarden-signature v1
    key-id: <first 16 hex of SHA-256 of the raw public key>
    sha256: <hex digest of FILE's exact bytes>
    signature: <base64 Ed25519 signature over b"dropwarden-signature-v1\\0" + SHA-256(FILE)>

The signature covers the exact bytes of the file (through their SHA-256, so large indexes stream), not
its name: a pack may be renamed on deployment. It does not stop replaying an *older* signed file
(rollback); the daemon's audit log records which key id and digest it loaded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.security.keys import key_id

HEADER = "dropwarden-signature v1"
_DOMAIN = b"dropwarden-signature-v1\x00"
#: Reasons of SignatureRejected: a bounded set (metric label values).
REJECT_REASONS = ("unsigned", "tampered", "unknown_key", "rollback")


class SignatureRejected(Exception):
    """A file failed verification. `reason` is one of REJECT_REASONS; the message names the file only."""

    def __init__(self, reason: str, path: str | os.PathLike[str], detail: str = "") -> None:
        self.reason = reason
        self.path = str(path)
        self.detail = detail
        super().__init__(f"{path}: signature rejected ({reason}){': ' + detail if detail else ''}")


def sig_path(path: str | os.PathLike[str]) -> Path:
    p = Path(path)
    return p.with_name(p.name + ".sig")


def file_digest(path: str | os.PathLike[str]) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            h.update(chunk)
    return h.digest()


def sign_file(path: str | os.PathLike[str], private_key: Ed25519PrivateKey) -> Path:
    """Write `<path>.sig` next to the file (atomically); returns its path."""
    digest = file_digest(path)
    signature = private_key.sign(_DOMAIN + digest)
    text = (
        f"{HEADER}\n"
        f"key-id: {key_id(private_key.public_key())}\n"
        f"sha256: {digest.hex()}\n"
        f"signature: {base64.b64encode(signature).decode()}\n"
    )
    out = sig_path(path)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(text, encoding="ascii")
    os.replace(tmp, out)
    return out


def _parse(text: str) -> dict[str, str]:
    lines = text.strip().splitlines()
    if not lines or lines[0].strip() != HEADER:
        raise ValueError("not a dropwarden signature file")
    fields = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("malformed line")
        fields[name.strip()] = value.strip()
    if not {"key-id", "signature"} <= fields.keys():
        raise ValueError("missing key-id or signature")
    return fields


def _check(digest: bytes, sig_text: bytes, public_keys: Sequence[Ed25519PublicKey], path: str) -> str:
    name = sig_path(path).name
    try:
        fields = _parse(sig_text.decode("ascii"))
        signature = base64.b64decode(fields["signature"], validate=True)
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise SignatureRejected("tampered", path, f"{name} is malformed") from None
    by_id = {key_id(k): k for k in public_keys}
    key = by_id.get(fields["key-id"])
    if key is None:
        raise SignatureRejected("unknown_key", path, f"signed by key {fields['key-id']}, not a trusted key")
    try:
        key.verify(signature, _DOMAIN + digest)
    except InvalidSignature:
        raise SignatureRejected("tampered", path, "content does not match the signature") from None
    return fields["key-id"]


def _read_sig(path: str | os.PathLike[str]) -> bytes:
    sp = sig_path(path)
    try:
        return sp.read_bytes()
    except FileNotFoundError:
        raise SignatureRejected("unsigned", path, f"{sp.name} not found") from None
    except OSError:
        raise SignatureRejected("tampered", path, f"{sp.name} is unreadable") from None


def verify(path: str | os.PathLike[str], public_keys: Sequence[Ed25519PublicKey]) -> str:
    """Accept the file only if its .sig is valid under one of `public_keys`; returns that key's id.

    Raises SignatureRejected("unsigned" | "tampered" | "unknown_key"). A garbled .sig is "tampered".
    To use the content afterwards, prefer `load_verified` (no swap between check and read).
    """
    sig = _read_sig(path)
    try:
        digest = file_digest(path)
    except OSError:
        raise SignatureRejected("tampered", path, "file is unreadable") from None
    return _check(digest, sig, public_keys, str(path))


def verify_data(
    data: bytes, sig_text: bytes, public_keys: Sequence[Ed25519PublicKey], path: str = "<data>"
) -> str:
    """Check bytes already in memory against the text of their .sig; returns the signer's key id."""
    return _check(hashlib.sha256(data).digest(), sig_text, public_keys, path)


def load_verified(path: str | os.PathLike[str], public_keys: Sequence[Ed25519PublicKey]) -> bytes:
    """Read a file once and return its bytes only if they are the signed bytes (policy packs, indexes)."""
    sig = _read_sig(path)
    try:
        data = Path(path).read_bytes()
    except OSError:
        raise SignatureRejected("tampered", path, "file is unreadable") from None
    _check(hashlib.sha256(data).digest(), sig, public_keys, str(path))
    return data


def verify_many(
    paths: Sequence[str | os.PathLike[str]], public_keys: Sequence[Ed25519PublicKey]
) -> list[SignatureRejected]:
    """Check all files (for `require_signed: true`); returns the rejections, empty when all are good."""
    rejected = []
    for p in paths:
        try:
            verify(p, public_keys)
        except SignatureRejected as exc:
            rejected.append(exc)
    return rejected
