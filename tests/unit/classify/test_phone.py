"""Our PHONE_NUMBER recognizer: phone-shaped, validated numbers; dates, ids, amounts and cards are not."""

from __future__ import annotations

import re

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from agent.classify import Classifier, ClassifierSettings
from agent.classify.recognizers import phone
from agent.classify.recognizers.builtin import BUILTIN
from agent.classify.recognizers.phone import (
    PHONE_REGIONS,
    PhoneNumberRecognizer,
    _is_valid,
    _valid_international,
)
from agent.models import TextChunk

REC = PhoneNumberRecognizer()


def _found(text: str) -> list[str]:
    return [text[r.start : r.end] for r in REC.analyze(text, ["PHONE_NUMBER"])]


def _examples() -> list[tuple[str, str]]:
    out = []
    for region in ("CH", "DE", "AT", "FR", "IT", "GB", "US"):
        for kind in (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE):
            number = phonenumbers.example_number_for_type(region, kind)
            for fmt in (PhoneNumberFormat.NATIONAL, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164):
                out.append((region, phonenumbers.format_number(number, fmt)))
    return out


@pytest.mark.parametrize(("region", "written"), _examples())
def test_example_numbers_are_found_whole(region: str, written: str) -> None:
    """phonenumbers' example numbers of our regions, national, international and E.164, are found whole."""
    assert _found(f"Kontakt: {written} (Büro)") == [written], region


@pytest.mark.parametrize(
    "written",
    [
        "0041 44 668 18 00",
        "+41 44 668 18 00",
        "+49 (0) 30 1234567",
        "030/1234567",
        "(212) 555-0199",
        "212.555.0199",
        "01.23.45.67.89",
        "+33 1 23 45 67 89",
        "+39 06 6988 0000",
        "+44 20 7946 0958",
        "+41446681800",
    ],
)
def test_usual_national_and_international_writings(written: str) -> None:
    """Dots, dashes, slashes, parentheses, a (0) trunk prefix and 00/+ country codes are all read."""
    assert _found(f"Call {written}.") == [written]


def test_bare_digit_run_needs_plus_or_phone_word() -> None:
    """A digit run without separators is a phone number only after '+' or a nearby phone word."""
    assert _found("Ticket 0446681800 closed") == []
    assert _found("tel 0446681800") == ["0446681800"]
    assert _found("Natel: 0791234567") == ["0791234567"]
    assert _found("Téléphone portable : 0612345678") == ["0612345678"]
    assert _found("+41791234567") == ["+41791234567"]


@pytest.mark.parametrize(
    "text",
    [
        "Delivered on 2026-11-27 to the warehouse.",
        "Meeting 12.03.2024 in room 4.",
        "Log 2026-11-27 12:30:45 INFO started",
        "2026-11-27T12:30:00Z INFO app[1234]: ok",
        "Invoice INV-1234567 is overdue.",
        "IBAN CH93 0076 2011 6238 5295 7",
        "Card 4539 1488 0343 6467 expires",
        "Order 12345678 shipped",
        "order id ORD-2026-0001234",
        "Version 1.2.3.4 and 10.20.30.40",
        "Total CHF 1'234.50 or EUR 1 234 567.50",
        "ISBN 978-3-16-148410-0",
        "id 550e8400-e29b-41d4-a716-446655440000",
        "SSN 078-05-1123",
        "Build 20261127 at 17:30:00",
    ],
)
def test_non_phone_digits_are_not_found(text: str) -> None:
    """Dates, times, ids, IBANs, cards, versions, IP addresses, amounts, ISBNs, UUIDs, SSNs: no phone."""
    assert _found(text) == []


def test_invalid_number_of_right_shape_is_dropped() -> None:
    """A phone-shaped string that no region validates is not reported."""
    assert _found("Call +41 00 000 00 00 now") == []


def test_classifier_scores_and_registry() -> None:
    """Registered in place of Presidio's: 0.4 alone, raised by a phone word, and found with prefilter."""
    assert BUILTIN["PHONE_NUMBER"] is PhoneNumberRecognizer
    assert REC.REGIONS == PHONE_REGIONS
    c = Classifier(ClassifierSettings(entities=frozenset({"PHONE_NUMBER"})))
    text = "the report " * 200 + "Reach us at 044 668 18 00 in the north garden. Mobile: +41 79 123 45 67"
    found = {(d.value, d.score) for d in c.detect(TextChunk("/p", None, text))}
    assert ("044 668 18 00", 0.4) in found
    assert any(v == "+41 79 123 45 67" and s > 0.4 for v, s in found)


def _example_digits() -> list[str]:
    """The digits after "+" of phonenumbers' example number of every region and type it has, and of
    every non-geographic code."""
    out = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in PhoneNumberType.values():
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                out.append(phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:])
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):  # +800, +882, ...
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            out.append(phonenumbers.format_number(number, PhoneNumberFormat.E164)[1:])
    return out


EXAMPLES = _example_digits()
KNOWN_CODES = sorted(str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _reference(digits: str) -> bool:
    """The plain path: phonenumbers parses "+digits" and says whether the number is valid."""
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse("+" + digits, None)))
    except phonenumbers.NumberParseException:
        return False


def _shortcut_agrees(digits: str) -> None:
    fast = _valid_international(digits)
    assert fast is None or fast == _reference(digits), digits


def test_international_shortcut_agrees_on_every_example_number() -> None:
    """Every region's example number of every type, and each with a digit dropped, added or changed
    (mostly invalid neighbours): the shortcut says what the parse says, and decides most of them."""
    decided = 0
    for digits in EXAMPLES:
        for variant in (digits, digits[:-1], digits + "1", digits[:-1] + str((int(digits[-1]) + 1) % 10)):
            _shortcut_agrees(variant)
            decided += _valid_international(variant) is not None
    assert decided > 3 * len(EXAMPLES)


@settings(max_examples=600, deadline=None)
@given(
    code=st.sampled_from(KNOWN_CODES) | st.text("0123456789", min_size=1, max_size=3),
    rest=st.text("0123456789", min_size=0, max_size=18),
)
def test_international_shortcut_agrees_on_generated_numbers(code: str, rest: str) -> None:
    """Known and unknown country codes, national prefixes, leading zeros, too short and too long."""
    _shortcut_agrees(code + rest)


SEPARATORS = (" ", ".", "-", "/", " (0) ", "(", ")", "\u00a0", "")


@settings(max_examples=300, deadline=None)
@given(
    example=st.sampled_from(EXAMPLES),
    seps=st.lists(st.sampled_from(SEPARATORS), min_size=20, max_size=20),
    double_zero=st.booleans(),
)
def test_recognizer_verdict_is_the_parse_of_the_written_number(
    example: str, seps: list[str], double_zero: bool
) -> None:
    """The recognizer's validation of a written international number (separators, "(0)", "00") is
    what phonenumbers' parse of the written form says."""
    written = ("00" if double_zero else "+") + "".join(d + s for d, s in zip(example, seps, strict=False))
    written = written.rstrip(" .-/(\u00a0")
    digits = "".join(c for c in written if c.isdigit())
    reference = written if written.startswith("+") else "+" + digits[2:]
    assert REC._valid(written, digits, True) == _is_valid(reference, None), written


#: The shape checks as separate regexes (how the recognizer first wrote them).
_AMOUNT = re.compile(r"[^.,]*\d[.,]\d{1,2}\Z")
_IP = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}\Z")
_SSN = re.compile(r"\d{3}-\d{2}-\d{4}\Z")
_IBAN_BEFORE = re.compile(r"[A-Za-z]{2}\d{2}[ -]?\Z")
_ISBN_BEFORE = re.compile(r"(?i)isbn(?:-1[03])?\W{0,3}\Z")
_PIECES = ["ISBN", "isbn", "IsBn", "-13", "-10", "-11", "DE", "ch", "89", "7", "123", ".", ",", "-", " "]
_PIECES += [": ", "+", "(", ")", "/", "\u00a0", "\u0131", "\u017f", "1.50", "192.168.1.1", "078-05-1123"]
_SHAPES = st.lists(st.sampled_from(_PIECES), max_size=8).map("".join)


@settings(max_examples=2000, deadline=None)
@given(cand=_SHAPES, before=_SHAPES)
def test_combined_shape_checks_say_what_the_separate_ones_say(cand: str, before: str) -> None:
    """One regex for amount/IP/SSN and one for the IBAN or ISBN label before: same verdicts."""
    assert (phone._NOT_PHONE.match(cand) is not None) is bool(
        _IP.match(cand) or _AMOUNT.match(cand) or _SSN.match(cand)
    )
    label = phone._NUMBER_LABEL.search(before) is not None
    assert label is bool(_IBAN_BEFORE.search(before) or _ISBN_BEFORE.search(before))


def test_a_repeated_number_is_validated_once_per_text(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A signature repeats its numbers: each written number is judged once per text, the verdict
    reused for its repeats (valid or not), and nothing is kept for the next text."""
    calls: list[str] = []
    judge = PhoneNumberRecognizer._valid

    def counted(self: PhoneNumberRecognizer, cand: str, digits: str, intl: bool) -> bool:
        calls.append(cand)
        return judge(self, cand, digits, intl)

    monkeypatch.setattr(PhoneNumberRecognizer, "_valid", counted)
    rec = PhoneNumberRecognizer()
    text = "Tel. +41 44 668 18 00\n" * 3 + "Fax 044 668 18 01\n" + "Call +41 00 000 00 00\n" * 2
    found = [text[r.start : r.end] for r in rec.analyze(text)]
    assert found == ["+41 44 668 18 00"] * 3 + ["044 668 18 01"]
    assert calls == ["+41 44 668 18 00", "044 668 18 01", "+41 00 000 00 00"]
    assert rec._verdicts is None
    assert [text[r.start : r.end] for r in rec.analyze(text)] == found
    assert len(calls) == 6
