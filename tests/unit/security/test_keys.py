"""Key files: modes, passphrases, and clear errors for the wrong kind of key."""

from __future__ import annotations

import pytest

from agent.security.keys import (
    KeyFileError,
    derive_subkey,
    key_id,
    load_quarantine_private,
    load_quarantine_public,
    load_signing_private,
    load_signing_public,
    read_passphrase_file,
    write_keypair,
)


def test_passphrase_protected_pair_round_trips(tmp_path) -> None:
    """An encrypted private key loads with its passphrase and matches its public key."""
    files = write_keypair(tmp_path, "quarantine", passphrase=b"s3cret pass")
    assert files.private.stat().st_mode & 0o777 == 0o600
    assert files.public.stat().st_mode & 0o777 == 0o644
    priv = load_quarantine_private(files.private, b"s3cret pass")
    assert key_id(priv.public_key()) == key_id(load_quarantine_public(files.public)) == files.key_id
    with pytest.raises(KeyFileError, match="encrypted"):
        load_quarantine_private(files.private)
    with pytest.raises(KeyFileError, match="passphrase is wrong"):
        load_quarantine_private(files.private, b"wrong")


def test_wrong_kind_and_garbage_are_named(tmp_path) -> None:
    """Loading a signing key as a quarantine key, a private key as public, or garbage fails clearly."""
    s = write_keypair(tmp_path, "signing")
    q = write_keypair(tmp_path, "quarantine")
    with pytest.raises(KeyFileError, match="not an X25519"):
        load_quarantine_public(s.public)
    with pytest.raises(KeyFileError, match="not an Ed25519"):
        load_signing_private(q.private)
    with pytest.raises(KeyFileError, match="private key"):
        load_signing_public(s.private)
    junk = tmp_path / "junk.pub"
    junk.write_text("hello")
    with pytest.raises(KeyFileError, match="not a PEM"):
        load_signing_public(junk)
    with pytest.raises(KeyFileError, match="cannot read"):
        load_signing_public(tmp_path / "missing.pub")
    with pytest.raises(KeyFileError, match="already exists"):
        write_keypair(tmp_path, "signing")
    assert write_keypair(tmp_path, "signing", overwrite=True).key_id != s.key_id


def test_subkeys_differ_by_purpose_and_passphrase_file_is_trimmed(tmp_path) -> None:
    """Each purpose gets its own derived key; passphrase files lose only their trailing newline."""
    master = b"m" * 32
    assert derive_subkey(master, "audit chain") != derive_subkey(master, "content hash")
    assert derive_subkey(master, "audit chain") == derive_subkey(master, "audit chain")
    f = tmp_path / "pp"
    f.write_bytes(b" pass phrase \n")
    assert read_passphrase_file(f) == b" pass phrase "
    f.write_bytes(b"\n")
    with pytest.raises(KeyFileError):
        read_passphrase_file(f)
    assert read_passphrase_file(None) is None
