"""BANK_ACCOUNT: generic 8-17 digit account numbers; only an account context word makes them confident."""

from __future__ import annotations

from agent.classify.recognizers.base import DwPatternRecognizer


class BankAccountRecognizer(DwPatternRecognizer):
    """Any 8-17 digit number scores 0.2; with "account"/"Konto"/"compte"/"conto" nearby 0.55."""

    ENTITY = "BANK_ACCOUNT"
    #: ``(?<![\w.,/:-])\d{8,17}...`` written digit first (``re`` then skips to digits, see credit_card._LEAD)
    PATTERNS = (("digits", r"\d(?<![\w.,/:-]\d)\d{7,16}(?![\w/:-]|[.,]\d)", 0.2),)
    CONTEXT = (
        "account",
        "account number",
        "acct",
        "a/c",
        "konto",
        "kontonummer",
        "kontonr",
        "compte",
        "numero de compte",
        "conto",
        "numero di conto",
        "bank account",
        "bankkonto",
    )
    TRIGGER = r"\d{8}"
    MAX_LEN = 17
    TRIGGER_IN_DIGIT_RUNS = True
