"""Real key pairs for the security tests, generated once per session into a temporary directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from agent.security.keys import (
    load_quarantine_private,
    load_quarantine_public,
    load_signing_private,
    load_signing_public,
    write_keypair,
)


@dataclass(frozen=True)
class Keys:
    dir: Path
    q_priv: X25519PrivateKey
    q_pub: X25519PublicKey
    s_priv: Ed25519PrivateKey
    s_pub: Ed25519PublicKey


@pytest.fixture(scope="session")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    write_keypair(d, "quarantine")
    write_keypair(d, "signing")
    return Keys(
        d,
        load_quarantine_private(d / "quarantine.key"),
        load_quarantine_public(d / "quarantine.pub"),
        load_signing_private(d / "signing.key"),
        load_signing_public(d / "signing.pub"),
    )
