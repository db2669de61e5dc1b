"""Key files of the agent: the security team's X25519 pair (quarantine, evidence) and Ed25519 pair (signing).

The agent host only ever holds the *public* halves: a compromised file server can add to the vault
but never read it, and can check signatures but never forge them. Private keys live with the security
team, as PEM PKCS#8 files (mode 0600), optionally encrypted with a passphrase.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KeyKind = Literal["quarantine", "signing"]
KEY_KINDS: tuple[KeyKind, ...] = ("quarantine", "signing")


class KeyFileError(Exception):
    """A key file is missing, unreadable, of the wrong type or needs a passphrase. Safe to print."""


@dataclass(frozen=True)
class KeyPairFiles:
    """Where `write_keypair` put a pair."""

    kind: KeyKind
    private: Path
    public: Path
    key_id: str


def key_id(public_key: X25519PublicKey | Ed25519PublicKey) -> str:
    """Short, stable name of a public key: first 16 hex of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def derive_subkey(master: bytes, purpose: str, length: int = 32) -> bytes:
    """One secret per purpose (audit chain, content hashes) from the agent key, so no two uses share a key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=length, salt=None, info=f"dropwarden {purpose}".encode()
    ).derive(master)


def read_passphrase_file(path: str | os.PathLike[str] | None) -> bytes | None:
    """The passphrase in a file, without its trailing newline; None when no file is given."""
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read passphrase file {path}: {exc.strerror}") from None
    data = data.rstrip(b"\r\n")
    if not data:
        raise KeyFileError(f"passphrase file {path} is empty")
    return data


def _write_new(path: Path, data: bytes, mode: int, overwrite: bool) -> None:
    """Write a key file atomically, with its final mode from the first byte (never briefly world-readable)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)  # umask may have narrowed it; public keys should stay 0644
        os.fsync(fd)
    finally:
        os.close(fd)
    if overwrite:
        os.replace(tmp, path)
    else:
        try:
            os.link(tmp, path)  # fails if the target exists: never clobber a key by accident
        finally:
            tmp.unlink(missing_ok=True)


def write_keypair(
    out_dir: str | os.PathLike[str],
    kind: KeyKind,
    passphrase: bytes | None = None,
    overwrite: bool = False,
) -> KeyPairFiles:
    """Generate a fresh pair of `kind` and write `<kind>.key` (0600) and `<kind>.pub` (0644) in out_dir."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    priv: X25519PrivateKey | Ed25519PrivateKey
    priv = X25519PrivateKey.generate() if kind == "quarantine" else Ed25519PrivateKey.generate()
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    priv_pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, enc)
    pub_pem = priv.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    priv_path, pub_path = out / f"{kind}.key", out / f"{kind}.pub"
    if not overwrite:
        for p in (priv_path, pub_path):
            if p.exists():
                raise KeyFileError(f"{p} already exists; refusing to overwrite (use --force)")
    _write_new(priv_path, priv_pem, 0o600, overwrite)
    _write_new(pub_path, pub_pem, 0o644, overwrite)
    return KeyPairFiles(kind, priv_path, pub_path, key_id(priv.public_key()))


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from None


def _load_public(path: str | os.PathLike[str]) -> object:
    data = _read(path)
    try:
        if b"PRIVATE KEY" in data:
            raise KeyFileError(f"{path} is a private key; the agent needs only the .pub file")
        return serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(f"{path} is not a PEM public key") from None


def _load_private(path: str | os.PathLike[str], passphrase: bytes | None) -> object:
    data = _read(path)
    try:
        return serialization.load_pem_private_key(data, password=passphrase)
    except TypeError:
        if passphrase is None:
            raise KeyFileError(f"{path} is encrypted; pass --passphrase-file") from None
        raise KeyFileError(f"{path} is not encrypted; do not pass a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        # cryptography raises ValueError both for a wrong passphrase and for garbage
        hint = " or the passphrase is wrong" if passphrase is not None else ""
        raise KeyFileError(f"{path} is not a PEM private key{hint}") from None


def load_quarantine_public(path: str | os.PathLike[str]) -> X25519PublicKey:
    key = _load_public(path)
    if not isinstance(key, X25519PublicKey):
        raise KeyFileError(f"{path} is not an X25519 public key (expected quarantine.pub)")
    return key


def load_quarantine_private(
    path: str | os.PathLike[str], passphrase: bytes | None = None
) -> X25519PrivateKey:
    key = _load_private(path, passphrase)
    if not isinstance(key, X25519PrivateKey):
        raise KeyFileError(f"{path} is not an X25519 private key (expected quarantine.key)")
    return key


def load_signing_public(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    key = _load_public(path)
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 public key (expected signing.pub)")
    return key


def load_signing_private(path: str | os.PathLike[str], passphrase: bytes | None = None) -> Ed25519PrivateKey:
    key = _load_private(path, passphrase)
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 private key (expected signing.key)")
    return key
