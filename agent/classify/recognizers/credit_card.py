"""CREDIT_CARD: Luhn-valid numbers with a real issuer prefix and length, plain or consistently grouped."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.validators import digits_only, gtin_valid, luhn_valid

#: A grouped IBAN's country code and check digits right before a match.
_IBAN_HEAD = re.compile(r"\b[A-Za-z]{2}\d{2}[ .-]$")


def issuer(digits: str) -> str | None:
    """The card scheme whose prefix and length fit ``digits``, or None."""
    n = len(digits)
    p2, p4, p6 = int(digits[:2]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4" and n in (13, 16, 19):
        return "visa"
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or p2 == 65 or 644 <= p4 // 10 <= 649 or 622126 <= p6 <= 622925) and 16 <= n <= 19:
        return "discover"
    if (300 <= p4 // 10 <= 305 or p4 == 3095 or p2 in (36, 38, 39)) and 14 <= n <= 19:
        return "diners"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if (p2 == 50 or 56 <= p2 <= 69) and 12 <= n <= 19:
        return "maestro"
    if digits[0] == "1" and n == 15:
        return "uatp"
    return None


class CreditCardRecognizer(DwPatternRecognizer):
    """Card numbers; a Luhn-valid number with a known issuer scores 0.85 without any context word."""

    ENTITY = "CREDIT_CARD"
    PATTERNS = (
        (
            "grouped 4-4-4-4(-3)",
            r"(?<![\w.-])\d{4}([ .-])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{3})?(?![\w-]|\.\d)",
            0.3,
        ),
        ("grouped 4-6-4/5", r"(?<![\w.-])\d{4}([ -])\d{6}\1\d{4,5}(?![\w-]|\.\d)", 0.3),
        ("contiguous", r"(?<![\w.-])\d{13,19}(?![\w-]|\.\d)", 0.3),
    )
    CONTEXT = ("credit", "card", "visa", "mastercard", "amex", "cc", "kreditkarte", "carte", "carta", "pan")
    TRIGGER = r"\d{12}|\d{4}[ .-]\d{4}[ .-]\d{4}|\d{4}[ -]\d{6}[ -]\d{4}"
    MAX_LEN = 24
    TRIGGER_IN_DIGIT_RUNS = True

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        if _IBAN_HEAD.search(text, max(0, match.start() - 8), match.start()):
            return None  # the body of a grouped IBAN ("DE46 3002 0900 1759 8965 11")
        digits = digits_only(match.group())
        if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
            return None
        scheme = issuer(digits)
        if scheme is None:
            return None
        if len(digits) == 13 and gtin_valid(digits):
            # as likely a product barcode (EAN-13) as a legacy 13-digit Visa: needs a card word nearby
            return Assessment(0.4, attributes=(("scheme", scheme),))
        return Assessment(0.85, attributes=(("scheme", scheme),))
