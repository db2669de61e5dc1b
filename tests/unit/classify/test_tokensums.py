"""Vendor-defined token checksums and structure: GitLab routable tokens, Grafana glsa_, PyPI macaroons.

Values are generated the way each vendor's own code builds them (bench/credential_formats.py), with
random content; a one-character change, a wrong declared length or a cut signature must fail.
"""

from __future__ import annotations

import base64
import random

import pytest

from agent.classify import Classifier
from agent.classify.tokensums import (
    base36,
    gitlab_routable_valid,
    grafana_checksum,
    grafana_sa_valid,
    macaroon_fields,
    pypi_macaroon_valid,
)
from bench.credential_formats import gitlab_routable, pypi_token
from tests.unit.classify import fakes

RNG = random.Random(1515)
ROUTABLE_PREFIXES = ("glpat-", "glrt-", "glrt-t1_", "glagent-", "gldt-", "glcbt-")


def _flip(value: str, at: int = -1) -> str:
    c = value[at]
    return value[:at] + ("x" if c != "x" else "y") + (value[at + 1 :] if at != -1 else "")


def test_base36_matches_ruby_to_s36() -> None:
    assert base36(0, 2) == "00"
    assert base36(35, 2) == "0z"
    assert base36(36, 1) == "10"
    assert base36(0xFFFFFFFF, 7) == "1z141z3"


@pytest.mark.parametrize("prefix", ROUTABLE_PREFIXES)
def test_gitlab_routable_checksum(prefix: str) -> None:
    for _ in range(20):
        token = gitlab_routable(RNG, prefix)
        assert gitlab_routable_valid(token)
        assert not gitlab_routable_valid(_flip(token))  # the CRC
        assert not gitlab_routable_valid(_flip(token, len(prefix) + 3))  # the payload under the CRC
        head, crc = token[:-9], token[-9:]
        assert not gitlab_routable_valid(head + base36(int(crc[:2], 36) + 1, 2) + crc[2:])  # the length


@pytest.mark.parametrize("prefix", ROUTABLE_PREFIXES)
def test_gitlab_routable_scores(classifier: Classifier, prefix: str) -> None:
    token = gitlab_routable(RNG, prefix)
    assert fakes.best(classifier, f"GITLAB_TOKEN={token}\n", "GITLAB_TOKEN") >= 0.85
    (d,) = fakes.detect(classifier, f"token: {token}\n", "GITLAB_TOKEN")
    assert d.value == token  # the whole token, its ".01." tail included
    assert fakes.best(classifier, f"GITLAB_TOKEN={_flip(token)}\n", "GITLAB_TOKEN") < 0.5


def test_legacy_gitlab_token_still_found(classifier: Classifier) -> None:
    legacy = "glpat-" + fakes.token(RNG, 20)
    assert fakes.best(classifier, f"GITLAB_TOKEN={legacy}\n", "GITLAB_TOKEN") >= 0.85


def test_grafana_test_vector() -> None:
    """The vector of Grafana's own satokengen tests (a deliberately invalid secret)."""
    assert grafana_sa_valid("glsa_iNValIdinValiDinvalidinvalidinva_5b582697")
    assert not grafana_sa_valid("glsa_iNValIdinValiDinvalidinvalidinva_5b582696")


def test_grafana_checksum_is_little_endian_crc32_hex() -> None:
    for _ in range(50):
        key = "glsa_" + fakes.token(RNG, 32)
        token = f"{key}_{grafana_checksum(key)}"
        assert grafana_sa_valid(token)
        assert not grafana_sa_valid(_flip(token))
        assert not grafana_sa_valid(_flip(token, 10))
    # byte order: CRC32("glsa_" + "A" * 32) written least significant byte first
    import zlib

    key = "glsa_" + "A" * 32
    assert grafana_checksum(key) == bytes(reversed(zlib.crc32(key.encode()).to_bytes(4, "big"))).hex()


@pytest.mark.parametrize("location", ["pypi.org", "test.pypi.org"])
def test_pypi_macaroon_structure(location: str) -> None:
    for _ in range(20):
        token = pypi_token(RNG, location)
        assert pypi_macaroon_valid(token)
        fields = macaroon_fields(base64.urlsafe_b64decode(token[5:] + "=" * (-len(token[5:]) % 4)))
        assert fields[0] == (1, location.encode())
        assert not pypi_macaroon_valid(token[:-8])  # signature cut short
    other = pypi_token(RNG, "pypi.example.org")
    assert not pypi_macaroon_valid(other)
    random_body = "pypi-AgEIcHlwaS5vcmc" + fakes.token(RNG, 150)
    assert not pypi_macaroon_valid(random_body)
