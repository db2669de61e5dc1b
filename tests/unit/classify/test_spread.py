"""IBANs and cards written out of their layout: a line break anywhere, groups glued or split (OCR),
digits read as letters (OCR) only where the checksum then validates; and what must stay quiet."""

from __future__ import annotations

import random
import re

import pytest

from agent.classify import Classifier, ClassifierSettings
from agent.classify.spread import ocr_digits, take
from agent.classify.validators import IBAN_LENGTHS
from tests.unit.classify import fakes

RNG = random.Random(1503)
COUNTRIES = sorted(IBAN_LENGTHS)
_MISREAD = {"0": "O", "1": "l", "5": "S", "8": "B"}


@pytest.fixture(scope="module")
def ibans() -> Classifier:
    return Classifier(ClassifierSettings(entities=frozenset({"IBAN_CODE"})))


def _found(classifier: Classifier, text: str, entity: str = "IBAN_CODE") -> list[str]:
    """The values found, separators dropped and OCR look-alikes read back as digits."""
    return [
        ocr_digits(re.sub(r"\s|-", "", d.value), 4).upper() for d in fakes.detect(classifier, text, entity)
    ]


def _regroup(value: str, rng: random.Random) -> str:
    """Groups of 1 to 8 characters, as Tesseract glues and splits them (the country code and check
    digits, one printed word, stay together)."""
    out, i = [], 0
    while i < len(value):
        n = rng.randint(4 if i == 0 else 1, 8)
        out.append(value[i : i + n])
        i += n
    return " ".join(out)


def _wrong_check(iban: str) -> str:
    return iban[:2] + f"{(int(iban[2:4]) + 1) % 100:02d}" + iban[4:]


def _misread(iban: str, rng: random.Random, n: int = 2) -> str:
    """Up to ``n`` BBAN digits written as their OCR look-alike letters."""
    chars = list(iban)
    spots = [i for i in range(4, len(chars)) if chars[i] in _MISREAD]
    for i in rng.sample(spots, min(n, len(spots))):
        chars[i] = _MISREAD[chars[i]]
    return "".join(chars)


def _iban_layouts(iban: str, rng: random.Random) -> list[str]:
    """The IBAN cut by a line break at every position (no group spaces), grouped by four and cut in
    the middle of any group, and regrouped ten times as OCR glues and splits groups."""
    grouped = fakes.grouped(iban)
    out = [f"IBAN: {iban[:cut]}\n{iban[cut:]}\nThank you." for cut in range(5, len(iban))]
    out += [f"Account {grouped[:i]}\n   {grouped[i:]}\n" for i, c in enumerate(grouped) if c != " " and i > 5]
    return out + [f"IBAN {_regroup(iban, rng)}\nCard holder: A. Fake" for _ in range(10)]


@pytest.mark.parametrize("country", COUNTRIES)
def test_line_breaks_anywhere_and_ocr_regrouping(ibans: Classifier, country: str) -> None:
    rng = random.Random(country)
    iban = fakes.iban(rng, country)
    for text in _iban_layouts(iban, rng):
        assert _found(ibans, text) == [iban], text


@pytest.mark.parametrize("country", COUNTRIES)
def test_ocr_digit_lookalikes_only_where_the_checksum_validates(ibans: Classifier, country: str) -> None:
    rng = random.Random(country + "m")
    iban = fakes.iban(rng, country)
    misread = _misread(iban, rng)
    if misread == iban:
        pytest.skip("no misreadable digit in this BBAN")
    (d,) = fakes.detect(ibans, f"IBAN: {fakes.grouped(misread)}\n", "IBAN_CODE")
    assert d.attribute("read") == "ocr-corrected"
    assert _found(ibans, f"IBAN: {fakes.grouped(misread)}\n") == [iban]
    wrong = _wrong_check(iban)  # check digits off by one: the corrected reading must not validate
    for _ in range(5):
        found = fakes.detect(ibans, f"IBAN: {fakes.grouped(_misread(wrong, rng))}\n", "IBAN_CODE")
        assert not [d for d in found if d.attribute("read") == "ocr-corrected"]


def test_letters_of_a_bank_code_are_not_read_as_digits() -> None:
    assert ocr_digits("NWBK60161331926819") == "NWBK60161331926819"
    assert ocr_digits("LOYD30409725081708") == "LOYD30409725081708"
    assert ocr_digits("BUKB20201555555555") == "BUKB20201555555555"
    assert ocr_digits("3OO762O11l238S") == "30076201112385"


def test_bank_code_with_lookalikes_and_wrong_check_digits_stays_quiet(ibans: Classifier) -> None:
    """The public corpus's parser-regression table: 'GB62LOYD30409725081708' has wrong check digits;
    reading its D as 0 must not make a valid IBAN of it."""
    assert fakes.detect(ibans, "1\tGB62LOYD30409725081708\tcheck digits\trejected", "IBAN_CODE") == []


def test_take_stops_only_at_a_separator() -> None:
    chars = "0123456789ABCDEF"
    assert take("AB12 34\n56 x", 0, 12, 8, chars) == ("AB123456", 10)
    assert take("AB12345678", 0, 10, 8, chars) is None  # a longer run is not this number
    assert take("AB12 3", 0, 6, 8, chars) is None  # too short


@pytest.mark.parametrize(
    "text",
    [
        "GB12 PLEASE NOTE THE FOLLOWING ITEMS BEFORE TODAY",  # upper-case prose after a code
        "DE12 is the code for the next thing in line",
        # an IBAN with a wrong check digit, then a year
        "Ref " + fakes.grouped(_wrong_check(fakes.iban(random.Random(44), "DE"))) + "\n2024 report",
        "ISO 9001 AB12 3456 7890 1234 5678 90",  # not a country code
    ],
)
def test_quiet_on_lookalikes(ibans: Classifier, text: str) -> None:
    assert fakes.detect(ibans, text, "IBAN_CODE") == []


def test_spread_never_glues_two_rows(ibans: Classifier) -> None:
    """A valid IBAN followed by more characters on the next line is still the IBAN alone."""
    iban = fakes.iban(random.Random(9), "DE")
    text = f"IBAN {iban[:10]}\n{iban[10:]}\n4711 0815 ORDER"
    assert _found(ibans, text) == [iban]


@pytest.fixture(scope="module")
def cards() -> Classifier:
    return Classifier(ClassifierSettings(entities=frozenset({"CREDIT_CARD"})))


def _layouts(card: str) -> list[str]:
    """A 16-digit card wrapped after each group, and with groups glued into 8 or 12 (a lost space)."""
    g = [card[i : i + 4] for i in range(0, 16, 4)]
    wrapped = [" ".join(g[:k]) + "\n" + " ".join(g[k:]) for k in (1, 2, 3)]
    glued = [f"{g[0]}{g[1]} {g[2]}{g[3]}", f"{g[0]} {g[1]}{g[2]} {g[3]}", f"{g[0]}{g[1]}{g[2]} {g[3]}"]
    return wrapped + glued


@pytest.mark.parametrize("prefix", ["4", "51", "2221", "6011", "3528", "62"])
def test_cards_wrapped_or_glued(cards: Classifier, prefix: str) -> None:
    rng = random.Random(prefix)
    for _ in range(5):
        card = fakes.card(rng, prefix, 16)
        for layout in _layouts(card):
            text = f"Card number: {layout}\nValid thru 12/29"
            assert _found(cards, text, "CREDIT_CARD") == [card], text


def test_card_lookalikes_stay_quiet(cards: Classifier) -> None:
    rng = random.Random(16)
    card = fakes.card(rng, "4", 16)
    bad = card[:-1] + str((int(card[-1]) + 1) % 10)  # Luhn off
    column = "\n".join(card[i : i + 4] for i in range(0, 16, 4))  # a column of four-digit codes
    for text in (f"Card {bad[:8]} {bad[8:]}", f"Codes:\n{column}\n", f"{card[:4]} {card[4:7]} {card[7:]}"):
        assert fakes.detect(cards, text, "CREDIT_CARD") == [], text


@pytest.mark.parametrize("country", ["AT", "DE", "CH", "FR", "IT", "GB"])
def test_ocr_misread_check_digit(ibans: Classifier, country: str) -> None:
    """Tesseract reads the 0 of "AT08" as O (the OCR bench's last IBAN miss)."""
    rng = random.Random(country + "c")
    for _ in range(20):
        iban = fakes.iban(rng, country)
        if iban[2] in _MISREAD:
            break
    else:
        pytest.skip("no misreadable first check digit drawn")
    misread = iban[:2] + _MISREAD[iban[2]] + iban[3:]
    (d,) = fakes.detect(ibans, f"IBAN: {fakes.grouped(misread)}\n", "IBAN_CODE")
    assert d.attribute("read") == "ocr-corrected"
    off = misread[:3] + str((int(misread[3]) + 1) % 10) + misread[4:]  # the other check digit wrong
    assert not fakes.detect(ibans, f"IBAN: {fakes.grouped(off)}\n", "IBAN_CODE")
