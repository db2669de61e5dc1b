"""US_BANK_NUMBER: any 8-17 digit number at a very low score; only a bank word nearby makes it count.

Presidio's UsBankRecognizer, kept as it was (pattern, score and context words from presidio-analyzer,
MIT licence, Copyright (c) Microsoft Corporation): a bare number scores 0.05, and the context enhancer
raises it to 0.4 when "account", "bank", "acct" ... is near it.
"""

from __future__ import annotations

from agent.classify.recognizers.regexmod import RegexModuleRecognizer


class UsBankRecognizer(RegexModuleRecognizer):
    """8-17 digits between word boundaries, 0.05 (0.4 with a bank word near it)."""

    ENTITY = "US_BANK_NUMBER"
    PATTERNS = (("Bank Account (weak)", r"\b[0-9]{8,17}\b", 0.05),)
    CONTEXT = ("check", "account", "account#", "acct", "bank", "save", "debit")
    TRIGGER = r"[0-9]{8}"
    MAX_LEN = 17
    TRIGGER_IN_DIGIT_RUNS = True
