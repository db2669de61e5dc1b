"""The real path of a quarantined file, kept in its vault record only encrypted.

A file name can hold the very value it was quarantined for (a card number, a client's name), so the
record shows the path as every output does (values masked) and keeps the real one twice encrypted:

- *sealed* to the security team's public key, like the quarantined content: only the holder of the
  private key (``quarantine restore``) can read it, never the file server;
- for the agent itself, with a key derived from the agent key, only while the agent still has to act
  on the path (a quarantine a crash may interrupt, a restore in progress); dropped once it is done.

Both bind the incident id, so a sealed path copied into another record does not open there.
"""

from __future__ import annotations

import base64
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from agent.security.evidence import KIND_PATH, SealError, open_sealed, seal
from agent.security.keys import derive_subkey

_NONCE = 12


class PathSealError(Exception):
    """A sealed path that does not open (altered, another key, another incident). Safe to print."""


def _payload(incident_id: str, path: str) -> bytes:
    return incident_id.encode() + b"\0" + os.fsencode(path)


def _path_of(incident_id: str, payload: bytes) -> str:
    iid, sep, raw = payload.partition(b"\0")
    if not sep or iid != incident_id.encode():
        raise PathSealError(f"the sealed path of {incident_id} belongs to another incident")
    return os.fsdecode(raw)


def seal_path(public_key: X25519PublicKey, incident_id: str, path: str) -> str:
    """``path`` sealed to the security team's key (base64)."""
    return base64.b64encode(seal(public_key, _payload(incident_id, path), KIND_PATH)).decode()


def unseal_path(private_key: X25519PrivateKey, incident_id: str, sealed: str) -> str:
    """The real path from :func:`seal_path`, with the security team's private key."""
    try:
        return _path_of(incident_id, open_sealed(private_key, base64.b64decode(sealed), KIND_PATH))
    except (SealError, ValueError) as exc:
        raise PathSealError(f"the sealed path of {incident_id} does not open: {exc}") from None


def _agent_cipher(agent_key: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(derive_subkey(agent_key, "vault path"))


def encrypt_for_agent(agent_key: bytes, incident_id: str, path: str) -> str:
    """``path`` encrypted under the agent key, for the agent's own unfinished work on it (base64)."""
    nonce = secrets.token_bytes(_NONCE)
    sealed = _agent_cipher(agent_key).encrypt(nonce, _payload(incident_id, path), incident_id.encode())
    return base64.b64encode(nonce + sealed).decode()


def decrypt_for_agent(agent_key: bytes, incident_id: str, token: str) -> str:
    """The path from :func:`encrypt_for_agent`; :class:`PathSealError` under another key or altered."""
    try:
        raw = base64.b64decode(token)
        plain = _agent_cipher(agent_key).decrypt(raw[:_NONCE], raw[_NONCE:], incident_id.encode())
    except (InvalidTag, ValueError):
        raise PathSealError(f"the agent's copy of the path of {incident_id} does not open") from None
    return _path_of(incident_id, plain)
