"""Signatures cover the set: a policy directory is trusted only as its signed manifest lists it, and a
validly signed older set is refused (rollback). Real Ed25519 keys, real files, the daemon's own
verified_sources; nothing of it is mocked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.daemon.settings import parse_settings
from agent.daemon.wiring import InputRejected, verified_sources
from agent.pipeline import build_pipeline
from agent.security.keys import load_signing_private, write_keypair
from agent.security.manifest import MANIFEST, load_set, write_manifest
from agent.security.signing import SignatureRejected, sign_file

BASE = """\
pack: bank
rules:
  - {id: payment-card-number, desc: Card number, severity: high, entities: [CREDIT_CARD], min_score: 0.3}
"""
QUARANTINE = "pack: local\noverride:\n  - {id: payment-card-number, actions: [alert, quarantine]}\n"
DISABLE = "pack: local\ndisable: [payment-card-number]\n"


@pytest.fixture
def team(tmp_path: Path):
    write_keypair(tmp_path / "keys", "signing")
    key = load_signing_private(tmp_path / "keys" / "signing.key")
    pol = tmp_path / "policies"
    pol.mkdir()
    settings = parse_settings(
        {
            "zones": [{"name": "z", "path": str(tmp_path / "zone")}],
            "policies": [str(pol)],
            "state_dir": str(tmp_path / "state"),
            "require_signed": True,
            "signing_public_keys": [str(tmp_path / "keys" / "signing.pub")],
        }
    )
    return pol, key, settings


def _release(pol: Path, key, version: int, files: dict[str, str]) -> None:
    """What a security team ships: the packs, each with its .sig, and the signed manifest of the set."""
    for old in pol.iterdir():
        old.unlink()
    for name, text in files.items():
        (pol / name).write_text(text)
        sign_file(pol / name, key)
    write_manifest(pol, key, version, name="bank-policies")


def _rules(settings, sources: dict[Path, bytes]) -> dict[str, tuple[str, ...]]:
    policies = build_pipeline(settings.policies, b"k" * 32, sources=sources).policies
    return {r.id: r.actions for r in policies.rules if r.enabled}


def test_deleting_an_override_pack_with_its_sig_is_refused(team) -> None:
    """The quarantine override and its .sig removed together: every remaining file still has a good
    signature, but the set differs from its manifest, so the set is refused."""
    pol, key, settings = team
    _release(pol, key, 1, {"10-bank.yaml": BASE, "50-local.yaml": QUARANTINE})
    assert _rules(settings, verified_sources(settings, [pol]))["payment-card-number"] == (
        "alert",
        "quarantine",
    )
    (pol / "50-local.yaml").unlink()
    (pol / "50-local.yaml.sig").unlink()
    with pytest.raises(InputRejected, match=r"tampered.*missing: 50-local\.yaml"):
        verified_sources(settings, [pol])


def test_a_validly_signed_older_set_is_refused(team, tmp_path: Path) -> None:
    """Version 2 accepted; then version 1 (validly signed, and disabling the card rule) is put back."""
    pol, key, settings = team
    _release(pol, key, 1, {"10-bank.yaml": BASE, "50-local.yaml": DISABLE})
    old = {p.name: p.read_bytes() for p in pol.iterdir()}
    _release(pol, key, 2, {"10-bank.yaml": BASE, "50-local.yaml": QUARANTINE})
    assert "payment-card-number" in _rules(settings, verified_sources(settings, [pol]))
    for p in pol.iterdir():
        p.unlink()
    for name, data in old.items():
        (pol / name).write_bytes(data)
    assert load_set(pol, [key.public_key()])[0].version == 1  # a good signature: only the age is wrong
    with pytest.raises(InputRejected, match="rollback"):
        verified_sources(settings, [pol])
    assert (
        json.loads((tmp_path / "state" / "accepted-manifests.json").read_text())["bank-policies"]["version"]
        == 2
    )


@pytest.mark.parametrize("change", ["add", "edit", "unsigned"])
def test_added_changed_or_unsigned_sets_are_refused(team, change: str) -> None:
    pol, key, _ = team
    _release(pol, key, 1, {"10-bank.yaml": BASE})
    if change == "add":
        (pol / "60-extra.yaml").write_text(DISABLE)
        sign_file(pol / "60-extra.yaml", key)  # even a signed file: it is not in the manifest
    elif change == "edit":
        (pol / "10-bank.yaml").write_text(BASE.replace("high", "low"))
    else:
        (pol / MANIFEST).unlink()
        (pol / f"{MANIFEST}.sig").unlink()
    with pytest.raises(SignatureRejected) as info:
        load_set(pol, [key.public_key()])
    assert info.value.reason == ("unsigned" if change == "unsigned" else "tampered")
