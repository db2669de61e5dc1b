"""Unit tests of the shared validators."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent import checksums
from agent.classify import validators as v
from tests.unit.classify import fakes


def test_luhn_accepts_generated_and_rejects_altered_numbers() -> None:
    """A generated Luhn number passes and changing its last digit fails."""
    rng = random.Random(1)
    for _ in range(50):
        n = fakes.card(rng)
        assert v.luhn_valid(n)
        assert not v.luhn_valid(n[:-1] + str((int(n[-1]) + 1) % 10))


def _digits_reference(value: str) -> str:
    """Per character, as the checksums were first written."""
    return "".join(c for c in value if c.isdigit())


def _luhn_reference(value: str) -> bool:
    digits = _digits_reference(value)
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return len(digits) >= 2 and total % 10 == 0


#: Digits, the separators numbers are written with, and other scripts' digits and superscripts
#: (``str.isdigit`` counts them) that must take the per-character path.
_NUMBERISH = st.text(st.sampled_from("0123456789" * 6 + " .-/\t\n()+x²٣５") | st.characters(), max_size=40)


@settings(max_examples=1500, deadline=None)
@given(value=_NUMBERISH)
def test_digits_and_luhn_match_the_per_character_reference(value: str) -> None:
    """The byte-wise digits and Luhn sum say what a loop over the characters says, on any text."""
    assert v.digits_only(value) == _digits_reference(value)
    assert v.luhn_valid(value) is _luhn_reference(value)


@settings(max_examples=500, deadline=None)
@given(body=st.text("0123456789", min_size=1, max_size=24))
def test_luhn_on_completed_numbers(body: str) -> None:
    """Completed with its check digit, any digit string passes; with another check digit it fails."""
    check = next(d for d in "0123456789" if _luhn_reference(body + d))
    assert v.luhn_valid(body + check)
    assert not v.luhn_valid(body + str((int(check) + 1) % 10))


def _mod97_reference(s: str) -> int:
    rem = 0
    for ch in s:
        rem = (rem * (100 if ch.isalpha() else 10) + (ord(ch) - 55 if ch.isalpha() else ord(ch) - 48)) % 97
    return rem


@settings(max_examples=1500, deadline=None)
@given(value=st.text(st.sampled_from("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" * 3 + "az٣５ÄZ-"), max_size=40))
def test_mod97_matches_the_per_character_reference(value: str) -> None:
    """One integer remainder for upper-case alphanumerics; anything else read as it always was."""
    assert checksums.mod97_of_alnum(value) == _mod97_reference(value)


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
