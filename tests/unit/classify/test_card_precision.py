"""Cards glued or wrapped (the "spread" pattern) against generated tables of numbers that are not cards.

Rows of four-digit codes, years and amounts two to four to a line, eight-digit invoice numbers, phone
lists, CSV columns and timestamps: a pair of lines or a pair of invoice numbers passes Luhn and an
issuer prefix once in a few dozen. Out of the printed layout a number needs a card word to alert.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest

from agent.classify import Classifier, ClassifierSettings
from agent.classify.recognizers.credit_card import OUT_OF_LAYOUT_SCORE
from tests.unit.classify import fakes

#: min_score of the payment-card rule (policies/bank-secrecy.yaml): a finding at or above it alerts.
ALERTS = 0.5
#: A card in its printed layout on one line: consistently grouped or contiguous.
_ONE_LINE = re.compile(
    r"\d{4}([ .-])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?|\d{4}([ .-])\d{6}\2\d{4,5}|\d{12,19}"
)


def _n(rng: random.Random, digits: int) -> str:
    return str(rng.randint(10 ** (digits - 1), 10**digits - 1))


def _rows(rng: random.Random, cell: Callable[[], str], lo: int = 2, hi: int = 4, sep: str = " ") -> str:
    return "\n".join(sep.join(cell() for _ in range(rng.randint(lo, hi))) for _ in range(40))


def _phone(rng: random.Random) -> str:
    return rng.choice(
        (
            f"+41 {rng.randint(21, 79)} {_n(rng, 3)} {_n(rng, 2)} {_n(rng, 2)}",
            f"0{_n(rng, 3)} {_n(rng, 4)} {_n(rng, 4)}",
            f"{_n(rng, 4)} {_n(rng, 4)}",
            f"+44 {_n(rng, 4)} {_n(rng, 6)}",
        )
    )


def _timestamp(rng: random.Random) -> str:
    day = f"{rng.randint(2019, 2026)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    return rng.choice(
        (
            f"{day} {rng.randint(0, 23):02d}{rng.randint(0, 59):02d}{rng.randint(0, 59):02d} {_n(rng, 4)}",
            f"{rng.randint(1_600_000_000, 1_800_000_000)} {_n(rng, 4)} {_n(rng, 4)}",
            f"{day[:4]} {day[4:]} {rng.randint(0, 23):02d}{rng.randint(0, 59):02d} {_n(rng, 4)}",
        )
    )


def _invoice_range(rng: random.Random) -> str:
    first = int(_n(rng, 8))
    return f"{first} {first + rng.randint(1, 99)}"


def negative_set(rng: random.Random) -> dict[str, list[str]]:
    """Documents of each family, 40 lines each."""
    return {
        "4-digit codes": [f"Branch codes\n{_rows(rng, lambda: _n(rng, 4))}" for _ in range(30)],
        "years": [f"Years\n{_rows(rng, lambda: str(rng.randint(1990, 2035)))}" for _ in range(15)],
        "amounts": [f"Q1 Q2 Q3 Q4\n{_rows(rng, lambda: _n(rng, 4), hi=3)}" for _ in range(30)],
        "invoice numbers": [f"Invoices\n{_rows(rng, lambda: _n(rng, 8), hi=3)}" for _ in range(30)],
        "invoice ranges": [
            f"Invoice ranges\n{_rows(rng, lambda: _invoice_range(rng), 1, 1)}" for _ in range(30)
        ],
        "phone lists": [f"Phone list\n{_rows(rng, lambda: _phone(rng), 1, 1)}" for _ in range(30)],
        "csv columns": [f"id qty price\n{_rows(rng, lambda: _n(rng, 4), 3, 3)}" for _ in range(20)],
        "csv, semicolons": [f"id;qty;price\n{_rows(rng, lambda: _n(rng, 4), 2, 4, ';')}" for _ in range(10)],
        "timestamps": [_rows(rng, lambda: _timestamp(rng), 1, 1) for _ in range(20)],
    }


@pytest.fixture(scope="module")
def cards() -> Classifier:
    return Classifier(ClassifierSettings(entities=frozenset({"CREDIT_CARD"})))


def test_spread_cards_stay_quiet_in_tables_of_numbers(cards: Classifier) -> None:
    """No glued or wrapped reading of these tables alerts; the tables do hold such readings."""
    alerts: dict[str, list[str]] = {}
    quiet = 0
    for family, texts in negative_set(random.Random(2412)).items():
        for text in texts:
            for d in fakes.detect(cards, text, "CREDIT_CARD"):
                if _ONE_LINE.fullmatch(d.value):
                    continue  # the printed layout: four codes on one line may be a card, as before
                if d.score >= ALERTS:
                    alerts.setdefault(family, []).append(d.value)
                else:
                    quiet += 1
    assert alerts == {}
    assert quiet > 50  # Luhn-valid, known-issuer readings the generator does produce (about 200)


def _layouts(card: str) -> list[str]:
    g = [card[i : i + 4] for i in range(0, 16, 4)]
    return [f"{g[0]} {g[1]}\n{g[2]} {g[3]}", f"{g[0]}{g[1]} {g[2]}{g[3]}", f"{g[0]}{g[1]}{g[2]} {g[3]}"]


@pytest.mark.parametrize("word", ["Card number:", "Kreditkarte", "Visa", "N° de carte"])
def test_spread_card_alerts_with_a_card_word(cards: Classifier, word: str) -> None:
    rng = random.Random(word)
    for prefix in ("4", "51", "2221", "6011"):
        card = fakes.card(rng, prefix, 16)
        for layout in _layouts(card):
            assert fakes.best(cards, f"{word} {layout}\nValid thru 12/29", "CREDIT_CARD") >= ALERTS, layout
            alone = fakes.detect(cards, f"Ref.\n{layout}\n", "CREDIT_CARD")
            assert [d.score for d in alone] == [OUT_OF_LAYOUT_SCORE], layout


def test_printed_layout_needs_no_word(cards: Classifier) -> None:
    card = fakes.card(random.Random(5), "4", 16)
    assert fakes.best(cards, f"Ref.\n{fakes.grouped(card)}\n", "CREDIT_CARD") == 0.85
