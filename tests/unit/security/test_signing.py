"""Detached Ed25519 signatures: good files pass; tampered, unsigned and foreign-key files are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.security.signing import (
    SignatureRejected,
    load_verified,
    sig_path,
    sign_file,
    verify,
    verify_data,
    verify_many,
)

POLICY = b"rules:\n  - id: pci-bulk\n    desc: many cards\n    severity: critical\n"


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    p = tmp_path / "pci.yaml"
    p.write_bytes(POLICY)
    return p


def _reason(path: Path, keys) -> str:
    with pytest.raises(SignatureRejected) as exc:
        verify(path, keys)
    return exc.value.reason


def test_signed_file_verifies_and_names_key(keys, policy) -> None:
    """A freshly signed file verifies and reports the signer's key id, also after a rename."""
    sig = sign_file(policy, keys.s_priv)
    assert sig == sig_path(policy) and sig.read_text().startswith("dropwarden-signature v1\n")
    kid = verify(policy, [keys.s_pub])
    assert len(kid) == 16
    moved = policy.with_name("renamed.yaml")
    policy.rename(moved)
    sig.rename(sig_path(moved))
    assert verify(moved, [keys.s_pub]) == kid


def test_tampered_content_is_refused(keys, policy) -> None:
    """One changed byte in the signed file is rejected as tampered."""
    sign_file(policy, keys.s_priv)
    policy.write_bytes(POLICY.replace(b"critical", b"low     "))
    assert _reason(policy, [keys.s_pub]) == "tampered"


def test_missing_signature_is_unsigned(keys, policy) -> None:
    """A file without .sig is rejected as unsigned."""
    assert _reason(policy, [keys.s_pub]) == "unsigned"


def test_wrong_key_is_unknown_key(keys, policy) -> None:
    """A signature by a key that is not trusted is rejected as unknown_key."""
    sign_file(policy, Ed25519PrivateKey.generate())
    assert _reason(policy, [keys.s_pub]) == "unknown_key"


def test_forged_key_id_and_garbled_sig_are_tampered(keys, policy) -> None:
    """A .sig claiming a trusted key id but signed by another key, or garbled, is tampered."""
    from agent.security.keys import key_id

    sign_file(policy, Ed25519PrivateKey.generate())
    sp = sig_path(policy)
    lines = sp.read_text().splitlines()
    lines[1] = f"key-id: {key_id(keys.s_pub)}"
    sp.write_text("\n".join(lines) + "\n")
    assert _reason(policy, [keys.s_pub]) == "tampered"
    sp.write_text("dropwarden-signature v1\nkey-id: x\nsignature: !!!\n")
    assert _reason(policy, [keys.s_pub]) == "tampered"
    sp.write_bytes(b"\xff\xfe garbage")
    assert _reason(policy, [keys.s_pub]) == "tampered"


def test_verify_many_reports_each_rejection(keys, tmp_path) -> None:
    """verify_many returns one rejection per bad file and none for good ones; any trusted key works."""
    other = Ed25519PrivateKey.generate()
    good, bad, unsigned = (tmp_path / n for n in ("a.yaml", "b.yaml", "c.yaml"))
    for p in (good, bad, unsigned):
        p.write_bytes(POLICY)
    sign_file(good, other)
    sign_file(bad, keys.s_priv)
    bad.write_bytes(POLICY + b"#")
    out = verify_many([good, bad, unsigned], [keys.s_pub, other.public_key()])
    assert [(Path(r.path).name, r.reason) for r in out] == [("b.yaml", "tampered"), ("c.yaml", "unsigned")]
    assert "rules:" not in str(out[0])


def test_load_verified_and_verify_data(keys, policy) -> None:
    """load_verified returns exactly the signed bytes; verify_data checks in-memory bytes the same way."""
    sign_file(policy, keys.s_priv)
    assert load_verified(policy, [keys.s_pub]) == POLICY
    sig = sig_path(policy).read_bytes()
    assert len(verify_data(POLICY, sig, [keys.s_pub])) == 16
    with pytest.raises(SignatureRejected) as exc:
        verify_data(POLICY + b" ", sig, [keys.s_pub])
    assert exc.value.reason == "tampered"
    policy.write_bytes(POLICY + b"#")
    with pytest.raises(SignatureRejected):
        load_verified(policy, [keys.s_pub])
