"""The agent with custom policy packs only (no ``builtin``): unreadable content is still never clean.

`dropwarden scan --policies DIR` layers the shipped unscanned-content rule under custom packs that
have none (agent.policy.shipped.with_unscanned_rule); the agent's config does the same, also when
packs must be signed (the shipped pack is part of the installed program, like the recognizers).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.daemon.settings import Settings
from agent.daemon.wiring import build_with_spec
from agent.models import UNSCANNED_ENTITY
from agent.policy.compiled import PolicyError
from agent.security.keys import load_signing_private, write_keypair
from agent.security.manifest import write_manifest

KEY = b"k" * 32
CUSTOM = """
pack: custom
version: 1
rules:
  - id: cards-only
    desc: card numbers
    severity: high
    entities: [CREDIT_CARD]
"""
OWN_UNSCANNED = """
pack: custom
version: 1
rules:
  - id: my-unreadable
    desc: what could not be read
    severity: low
    entities: [UNSCANNED_CONTENT]
"""


def _settings(tmp: Path, pol: Path, **extra: object) -> Settings:
    zone = tmp / "zone"
    zone.mkdir(exist_ok=True)
    config = {"zones": [{"name": "drop", "path": str(zone)}], "state_dir": str(tmp / "state"), **extra}
    return Settings.model_validate({**config, "policies": [str(pol)]})


def _unscanned_rules(settings: Settings) -> list[str]:
    policies, _, _ = build_with_spec(settings, KEY)
    return [r.id for r in policies.rules if UNSCANNED_ENTITY in r.entities]


def test_custom_packs_get_the_shipped_unscanned_rule(tmp_path: Path) -> None:
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "custom.yaml").write_text(CUSTOM)
    assert _unscanned_rules(_settings(tmp_path, pol)) == ["unscanned-content"]


def test_a_custom_rule_on_unscanned_content_replaces_it(tmp_path: Path) -> None:
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "custom.yaml").write_text(OWN_UNSCANNED)
    assert _unscanned_rules(_settings(tmp_path, pol)) == ["my-unreadable"]


def test_signed_custom_packs_get_it_too(tmp_path: Path) -> None:
    """require_signed: the custom directory is checked through its signed manifest; the shipped
    unscanned pack comes with the program and needs no signature of the operator's."""
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "custom.yaml").write_text(CUSTOM)
    keys = write_keypair(tmp_path / "keys", "signing")
    write_manifest(pol, load_signing_private(keys.private), version=1)
    settings = _settings(tmp_path, pol, require_signed=True, signing_public_keys=[str(keys.public)])
    assert _unscanned_rules(settings) == ["unscanned-content"]


def test_a_pack_of_the_wrong_shape_is_a_policy_error_not_a_crash(tmp_path: Path) -> None:
    """``rules: 5`` (or an exceptions list instead of a mapping) reaches the loader, which names the pack;
    reading the packs' value-set names before it must not fail on the shape first."""
    pol = tmp_path / "pol"
    pol.mkdir()
    for n, body in enumerate(
        [
            "pack: p\nversion: 1\nrules: 5\n",
            "pack: p\nversion: 1\nrules:\n  - id: r\n    exceptions: [1]\n",
            "pack: p\nversion: 1\noverride:\n  - id: r\n    exceptions: {value_sets: 5}\n",
        ]
    ):
        (pol / "p.yaml").write_text(body)
        with pytest.raises(PolicyError) as err:
            build_with_spec(_settings(tmp_path, pol), KEY)
        assert "p.yaml" in str(err.value), n
