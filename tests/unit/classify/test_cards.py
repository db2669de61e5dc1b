"""Payment cards of every scheme and length in the BIN table, plain or grouped, and the lookalike guards."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.classify import Classifier, ClassifierSettings
from agent.classify.recognizers.credit_card import BIN_RANGES, issuer
from agent.classify.validators import luhn_valid
from tests.unit.classify import fakes

ROWS = [(scheme, lo, hi, n) for scheme, lo, hi, lengths in BIN_RANGES for n in lengths]


@pytest.fixture(scope="module")
def cards() -> Classifier:
    return Classifier(ClassifierSettings(entities=frozenset({"CREDIT_CARD"})))


def _pan(rng: random.Random, lo: str, hi: str, n: int) -> str:
    prefix = str(rng.randint(int(lo), int(hi))).zfill(len(lo))
    return fakes.card(rng, prefix, n)


def _layouts(pan: str, scheme: str) -> list[str]:
    if len(pan) == 12:  # 12-digit Maestro: plain only (grouped 4-4-4 it reads as a phone or reference)
        return [pan]
    out = [pan, fakes.grouped(pan), fakes.grouped(pan, "-"), fakes.grouped(pan, ".")]
    if len(pan) == 15:  # Amex, UATP and 15-digit JCB are printed 4-6-5
        out += [f"{pan[:4]} {pan[4:10]} {pan[10:]}", f"{pan[:4]}-{pan[4:10]}-{pan[10:]}"]
    if len(pan) == 14:  # Diners 4-6-4
        out.append(f"{pan[:4]} {pan[4:10]} {pan[10:]}")
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.sampled_from(ROWS), seed=st.integers(0, 2**32))
def test_every_range_and_length_is_found_in_every_layout(
    cards: Classifier, row: tuple[str, str, str, int], seed: int
) -> None:
    """A Luhn-valid PAN from any BIN range at any issued length is found written plain, grouped by 4 with
    spaces, dashes or dots, and in the scheme's own grouping; its scheme attribute is the table's."""
    _, lo, hi, n = row
    pan = _pan(random.Random(seed), lo, hi, n)
    scheme = issuer(pan)
    assert scheme is not None
    for text in _layouts(pan, scheme):
        found = fakes.detect(cards, f"Card on file: {text}", "CREDIT_CARD")
        assert [d.attribute("scheme") for d in found] == [scheme], text
        expected = 0.4 if n == 12 else 0.5  # a 12-digit Maestro needs a card word (it has one here)
        assert found[0].score >= expected


@pytest.mark.parametrize(
    ("prefix", "n", "scheme"),
    [
        ("2200", 16, "mir"),
        ("2204", 19, "mir"),
        ("2221", 16, "mastercard"),
        ("2720", 16, "mastercard"),
        ("1800", 15, "jcb"),
        ("2131", 15, "jcb"),
        ("3589", 19, "jcb"),
        ("6521", 16, "rupay"),
        ("9792", 16, "troy"),
        ("506100", 19, "verve"),
        ("509123", 16, "elo"),
        ("401178", 16, "elo"),
        ("606282", 19, "hipercard"),
        ("3841", 16, "hipercard"),
        ("6011", 19, "discover"),
        ("622500", 17, "discover"),
        ("621234", 18, "unionpay"),
        ("6759", 12, "maestro"),
        ("305", 14, "diners"),
        ("4", 13, "visa"),
        ("4", 19, "visa"),
    ],
)
def test_scheme_boundaries(prefix: str, n: int, scheme: str) -> None:
    pan = fakes.card(random.Random(n), prefix, n)
    assert luhn_valid(pan) and issuer(pan) == scheme


@pytest.mark.parametrize(
    "text",
    [
        "Order 4539 5260 1815 9084 shipped",  # Luhn-invalid
        "Ref 9123 4567 8901 2347",  # no scheme issues 91
        "Logged at 20260412093015123",  # a timestamp
        "Tel +49 30 1234 5678 9012",  # a phone number
        "Mir 2205 1234 5678 9012",  # past Mir's range
    ],
)
def test_lookalikes_are_not_cards(cards: Classifier, text: str) -> None:
    assert [d for d in fakes.detect(cards, text, "CREDIT_CARD") if d.score >= 0.5] == []


def test_twelve_digit_maestro_needs_a_card_word(cards: Classifier) -> None:
    pan = fakes.card(random.Random(12), "6759", 12)
    assert max((d.score for d in fakes.detect(cards, f"Reference {pan}", "CREDIT_CARD")), default=0) < 0.5
    assert max(d.score for d in fakes.detect(cards, f"Maestro card number {pan}", "CREDIT_CARD")) >= 0.5
