"""Positive and negative cases of the financial recognizers (cards, IBAN, BIC, accounts, SSN)."""

from __future__ import annotations

import random

import pytest

from agent.classify import Classifier
from agent.classify.validators import gtin_valid
from tests.unit.classify import fakes
from tests.unit.classify.fakes import best, detect

ISSUERS = [
    ("4", 16),
    ("4", 13),
    ("51", 16),
    ("55", 16),
    ("2221", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
    ("65", 16),
    ("644", 16),
    ("36", 14),
    ("38", 14),
    ("300", 14),
    ("3528", 16),
    ("3589", 19),
    ("62", 16),
    ("6759", 16),
    ("5018", 16),
]


@pytest.mark.parametrize(("prefix", "length"), ISSUERS)
def test_card_valid_issuers_score_confident(classifier: Classifier, prefix: str, length: int) -> None:
    """Luhn-valid numbers with a real issuer prefix score >= 0.8, plain and grouped."""
    n = fakes.card(random.Random(prefix + str(length)), prefix, length)
    assert best(classifier, f"Payment with {n} done", "CREDIT_CARD") >= 0.8
    if length == 16:
        for sep in " -":
            assert best(classifier, f"card {fakes.grouped(n, sep)}.", "CREDIT_CARD") >= 0.8


def test_card_negatives(classifier: Classifier) -> None:
    """Luhn failures, unknown issuers, mixed separators and digits inside longer runs are not cards."""
    rng = random.Random(7)
    n = fakes.card(rng, "4", 16)
    bad_luhn = n[:-1] + str((int(n[-1]) + 1) % 10)
    unknown = fakes.card(rng, "9", 16)
    mixed = f"{n[:4]} {n[4:8]}-{n[8:12]} {n[12:]}"
    for text in [bad_luhn, unknown, mixed, "98" + n + "12", f"order 12{n}", "tel 2024-01-01 12:30"]:
        assert best(classifier, text, "CREDIT_CARD") == 0.0, text


def test_card_amex_grouping_and_attribute(classifier: Classifier) -> None:
    """An Amex number grouped 4-6-5 is found with its scheme as a safe attribute."""
    n = fakes.card(random.Random(3), "37", 15)
    (d,) = detect(classifier, f"Amex {n[:4]} {n[4:10]} {n[10:]}", "CREDIT_CARD")
    assert d.attribute("scheme") == "amex" and d.value.replace(" ", "") == n


@pytest.mark.parametrize("country", ["DE", "FR", "IT", "CH", "GB", "ES", "NL", "AT", "BE", "PL", "IE", "PT"])
def test_iban_valid_forms(classifier: Classifier, country: str) -> None:
    """Valid IBANs are found plain, grouped, with a lower-case prefix; the span excludes the next word."""
    value = fakes.iban(random.Random(country + "x"), country)
    assert best(classifier, f"pay to {value} today", "IBAN_CODE") >= 0.8
    assert best(classifier, value[:2].lower() + value[2:], "IBAN_CODE") >= 0.8
    text = f"IBAN: {fakes.grouped(value)} BANK of somewhere"
    (d,) = detect(classifier, text, "IBAN_CODE")
    assert d.value == fakes.grouped(value) and d.score >= 0.8


def test_iban_negatives(classifier: Classifier) -> None:
    """Wrong check digits, wrong country length, unknown countries and lower-case BBANs are rejected."""
    value = fakes.iban(random.Random(5), "DE")
    wrong = value[:2] + f"{(int(value[2:4]) + 3) % 100:02d}" + value[4:]
    for text in [wrong, value + "1", "QQ" + value[2:], fakes.iban(random.Random(6), "GB")[:-1]]:
        assert best(classifier, text, "IBAN_CODE") == 0.0, text


def test_swift_bic_needs_context(classifier: Classifier) -> None:
    """A BIC alone scores below 0.5, with "SWIFT"/"BIC" nearby at least 0.5; bad country codes never."""
    assert 0 < best(classifier, "ref DEUTDEFF500 x", "SWIFT_BIC") < 0.5
    assert best(classifier, "SWIFT/BIC: DEUTDEFF500", "SWIFT_BIC") >= 0.5
    assert best(classifier, "BIC code COBADEFFXXX", "SWIFT_BIC") >= 0.5
    assert best(classifier, "BIC ABCDQQ12", "SWIFT_BIC") == 0.0


def test_bank_account_needs_context(classifier: Classifier) -> None:
    """Plain 8-17 digit numbers score low; with account/Konto/compte/conto nearby >= 0.5."""
    assert 0 < best(classifier, "order 12345678901 shipped", "BANK_ACCOUNT") < 0.5
    for word in ["Account number", "Kontonummer", "numéro de compte", "conto", "acct"]:
        assert best(classifier, f"{word}: 12345678901", "BANK_ACCOUNT") >= 0.5, word
    assert best(classifier, "account 1234567", "BANK_ACCOUNT") == 0.0


def test_us_ssn(classifier: Classifier) -> None:
    """Presidio's SSN recognizer is registered with its validation (invalid area numbers dropped)."""
    assert best(classifier, "SSN 078-05-1123", "US_SSN") >= 0.5
    assert best(classifier, "SSN 666-05-1123", "US_SSN") == 0.0


def test_phone_numbers_of_our_regions(classifier: Classifier) -> None:
    """Swiss, German, French and Italian numbers are phone numbers in national and international format."""
    for number in ["044 668 18 00", "+41 44 668 18 00", "030 901820", "01 42 68 53 00", "06 6982 1234"]:
        assert best(classifier, f"Tel. {number}", "PHONE_NUMBER") > 0, number


def test_card_after_comma_and_before_amount(classifier: Classifier) -> None:
    """A card right after or before a comma (CSV fields, "12.50,5412-...") is found."""
    n = fakes.card(random.Random(11), "54", 16)
    for text in [
        f"T1,12.50,{fakes.grouped(n, '-')},ok",
        f"2025-02-01,12.50,{n},Shop",
        f"{fakes.grouped(n)},12.50",
    ]:
        assert best(classifier, text, "CREDIT_CARD") >= 0.8, text


def test_card_not_taken_from_iban_body(classifier: Classifier) -> None:
    """The 4-4-4-4 digits inside a grouped IBAN (valid or not) are not a card number."""
    rng = random.Random(12)
    for _ in range(20):
        body = fakes.card(rng, "4", 16)
        text = f"IBAN DE46 {fakes.grouped(body)} 11 and DE46-{fakes.grouped(body, '-')}-11"
        assert best(classifier, text, "CREDIT_CARD") == 0.0, text


def test_card_ean13_lookalike_needs_card_context(classifier: Classifier) -> None:
    """A 13-digit Visa-shaped number that is also a valid EAN-13 needs a card word to reach 0.5."""
    rng = random.Random(13)
    n = next(v for v in (fakes.card(rng, "4", 13) for _ in range(500)) if gtin_valid(v))
    assert best(classifier, f"Artikel;EAN;Preis\nA1;{n};12,50", "CREDIT_CARD") < 0.5
    assert best(classifier, f"Visa card {n} declined", "CREDIT_CARD") >= 0.5


def test_card_grouped_with_dots(classifier: Classifier) -> None:
    """A card grouped 4.4.4.4 is found; dotted 3-digit thousands and version strings are not cards."""
    n = fakes.card(random.Random(14), "4", 16)
    assert (
        best(classifier, f"Carte n° {fakes.grouped(n).replace(' ', '.')} en opposition", "CREDIT_CARD") >= 0.8
    )
    for text in ["Betrag 1.234.567.890.123 EUR", "version 2024.1101.0001.2345.1"]:
        assert best(classifier, text, "CREDIT_CARD") == 0.0, text


IBAN = "DE36 1895 5597 9711 4710 49"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"loan_no;obligor;payout_iban;principal\nLN-1;Grace Whitfield;{IBAN.replace(' ', '')};12.00",
            "customer",
        ),
        (f"Policyholder: Megan Doyle\nIncident: water damage\nReimburse to: {IBAN}", "customer"),
        (f"[10:03] Élodie Marchand : le remboursement sur {IBAN} svp", "customer"),
        (f":20:STMT\n:25:{IBAN.replace(' ', '')}\n:28C:00118/001", "customer"),
        (f'{{"lastName": "Roe", "iban": "{IBAN}"}}', "customer"),
        (f"Invoice 7\nBill to: Jane Roe\nPlease transfer the total to {IBAN}", "payment"),
        (
            f"Copropriété Les Tilleuls\nÀ verser avant le 15 juillet sur le compte du syndic : {IBAN}",
            "payment",
        ),
        (f"Our bank: Barclays, {IBAN}", "own"),
        (f"IBAN aziendale: {IBAN}", "own"),
        (f"Beneficiario: Alameda Servicios S.L. – {IBAN}", "company"),
        (f"Example of the German layout: {IBAN}", "example"),
        (f"Contact: jane@example.net\nRequester: Jane Roe\nNew account {IBAN}", "customer"),
        (f"Bank: Acme Bank | IBAN: {IBAN} | BIC: ACMEDEFF", "unknown"),
    ],
)
def test_iban_role_reads_layout(classifier: Classifier, text: str, expected: str) -> None:
    """The IBAN's role attribute comes from the layout around it: records of persons, payment
    instructions, the writer's own or a company's account, documentation examples."""
    found = detect(classifier, text, "IBAN_CODE")
    assert found and found[0].attribute("role") == expected


@pytest.mark.parametrize(
    "text",
    [
        f"Dear Mr Oliver Grant,\nthank you for your order.\nPlease use the account below.\nIBAN: {IBAN}",
        f"From: Jane Roe <jane@acme.test>\nSubject: Bankverbindung\n\nHier die Kontodaten: {IBAN}",
        f"Seminar registration\nSpeaker: Dr Hanna Berg\nFee: 300 EUR\nAccount: {IBAN}",
    ],
)
def test_iban_role_ignores_correspondents(classifier: Classifier, text: str) -> None:
    """A name that addresses, sends or presents (salutation, mail header, speaker) does not make the
    IBAN next to it a person's record."""
    found = detect(classifier, text, "IBAN_CODE")
    assert found and found[0].attribute("role") != "customer"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"Dear Oliver Grant,\nthe direct debit from your account {IBAN} was returned unpaid.", "customer"),
        (
            "Sollecito di pagamento\n\nGentile Sara Mancini,\n"
            f"l'addebito sul Suo conto {IBAN} non è riuscito.",
            "customer",
        ),
        (f"Le solde sera viré sur votre compte {IBAN} sous huit jours.", "customer"),
        (f"Notiz\n\nKundin Anke Böhm meldet neue Bankverbindung: {IBAN}", "customer"),
        (
            "Zahlungsavis\nSehr geehrte Damen und Herren,\n"
            f"Gutschrift auf Ihr Konto {IBAN}, Betrag 120,00 EUR.",
            "payment",
        ),
        (f"Versamento su conto {IBAN} entro il 30.", "payment"),
        (f"Questions? Call the Client Services Team.\nBank: Acme Bank\nIBAN: {IBAN}", "unknown"),
        (
            f"Sehr geehrte Frau Anke Böhm,\ndas Restguthaben überweisen wir auf Ihr Konto {IBAN}.",
            "customer",
        ),
    ],
)
def test_iban_role_reads_the_readers_account_and_role_names(
    classifier: Classifier, text: str, expected: str
) -> None:
    """The reader's own account ("your account", "il Suo conto") and a data-subject role before a name
    ("Kundin Anke Böhm") make a customer IBAN; a payment word on the same line keeps it a remittance
    unless the letter greets a named person (a refund)."""
    found = detect(classifier, text, "IBAN_CODE")
    assert found and found[0].attribute("role") == expected
