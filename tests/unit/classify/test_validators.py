"""Unit tests of the shared validators."""

from __future__ import annotations

import random

import pytest

from agent.classify import validators as v
from tests.unit.classify import fakes


def test_luhn_accepts_generated_and_rejects_altered_numbers() -> None:
    """A generated Luhn number passes and changing its last digit fails."""
    rng = random.Random(1)
    for _ in range(50):
        n = fakes.card(rng)
        assert v.luhn_valid(n)
        assert not v.luhn_valid(n[:-1] + str((int(n[-1]) + 1) % 10))


@pytest.mark.parametrize("country", ["DE", "FR", "IT", "CH", "GB", "NL", "AT", "ES", "BE", "LU", "MT", "NO"])
def test_iban_check_digits_and_country_length(country: str) -> None:
    """Generated IBANs validate; a wrong check digit or a wrong length does not."""
    rng = random.Random(country)
    value = fakes.iban(rng, country)
    assert v.iban_valid(value) and v.iban_valid(fakes.grouped(value)) and v.iban_valid(value.lower())
    assert not v.iban_valid(value[:2] + f"{(int(value[2:4]) + 1) % 100:02d}" + value[4:])
    assert not v.iban_valid(value + "0")


def test_mod11_and_mod97() -> None:
    """mod11 accepts an ISBN-10-style check digit (X = 10) and mod97 a remainder of one."""
    assert v.mod11_valid("0-306-40615-2") and v.mod11_valid("097522980X")
    assert not v.mod11_valid("0-306-40615-3")
    assert v.mod97_valid("3214282912345698765432161182") and not v.mod97_valid("3214282912345698765432161183")


def test_entropy_and_placeholders() -> None:
    """Entropy orders random above repetitive text; template values and fillers are placeholders."""
    assert v.shannon_entropy("aaaaaaaa") == 0.0
    assert v.shannon_entropy("Xk9#mPq2vL8z") > 3.4
    for p in [
        "changeme",
        "<YOUR_API_KEY>",
        "${DB_PASS}",
        "$SECRET",
        "{{ vault_pw }}",
        "os.environ['X']",
        "os.getenv('X')",
        "process.env.TOKEN",
        "xxxxxxxx",
        "********",
        "REDACTED",
        "example123",
        "dummy",
    ]:
        assert v.is_placeholder(p), p
    assert not v.is_placeholder("Xk9#mPq2vL8z")


def test_get_validator_rejects_unknown_names() -> None:
    """Policy packs naming an unknown validator get a ValueError naming it."""
    assert v.get_validator("entropy", 3.0)("Xk9#mPq2vL8z")  # type: ignore[misc]
    with pytest.raises(ValueError, match="sha1"):
        v.get_validator("sha1")


def test_gtin_check_digit() -> None:
    """EAN-13 and ISBN-13 check digits validate; a changed check digit or a short number does not."""
    for good in ["4006381333931", "9780306406157", "5901234123457"]:
        assert v.gtin_valid(good)
        assert not v.gtin_valid(good[:-1] + str((int(good[-1]) + 1) % 10))
    assert not v.gtin_valid("1234")
