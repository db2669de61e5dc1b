"""CREDIT_CARD: Luhn-valid numbers with a real issuer prefix and length, plain or consistently grouped."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.validators import digits_only, gtin_valid, luhn_valid

#: A grouped IBAN's country code and check digits right before a match.
_IBAN_HEAD = re.compile(r"\b[A-Za-z]{2}\d{2}[ .-]$")


#: Issuer identification ranges (ISO/IEC 7812, the schemes' published BIN ranges): scheme, first and
#: last prefix of the range (same number of digits), and the PAN lengths the scheme issues there.
#: The longest matching prefix wins, so co-branded ranges (Elo inside Visa's 4, RuPay inside Discover's
#: 65) name their own scheme.
# fmt: off
BIN_RANGES: tuple[tuple[str, str, str, tuple[int, ...]], ...] = (
    ("visa", "4", "4", (13, 16, 19)),
    ("mastercard", "51", "55", (16,)),
    ("mastercard", "2221", "2720", (16,)),
    ("amex", "34", "34", (15,)),
    ("amex", "37", "37", (15,)),
    ("discover", "6011", "6011", (16, 17, 18, 19)),
    ("discover", "644", "649", (16, 17, 18, 19)),
    ("discover", "65", "65", (16, 17, 18, 19)),
    ("discover", "622126", "622925", (16, 17, 18, 19)),
    ("diners", "300", "305", (14, 15, 16, 17, 18, 19)),
    ("diners", "3095", "3095", (14, 15, 16, 17, 18, 19)),
    ("diners", "36", "36", (14, 15, 16, 17, 18, 19)),
    ("diners", "38", "39", (14, 15, 16, 17, 18, 19)),
    ("jcb", "3528", "3589", (16, 17, 18, 19)),
    ("jcb", "1800", "1800", (15,)),
    ("jcb", "2131", "2131", (15,)),
    ("unionpay", "62", "62", (16, 17, 18, 19)),
    ("unionpay", "81", "81", (16, 17, 18, 19)),
    ("maestro", "50", "50", (12, 13, 14, 15, 16, 17, 18, 19)),
    ("maestro", "56", "69", (12, 13, 14, 15, 16, 17, 18, 19)),
    ("maestro", "6759", "6759", (12, 13, 14, 15, 16, 17, 18, 19)),
    ("mir", "2200", "2204", (16, 17, 18, 19)),
    ("rupay", "508", "508", (16,)),
    ("rupay", "60", "60", (16,)),
    ("rupay", "652", "653", (16,)),
    ("rupay", "82", "82", (16,)),
    ("rupay", "353", "353", (16,)),
    ("rupay", "356", "356", (16,)),
    ("troy", "9792", "9792", (16,)),
    ("verve", "506099", "506198", (16, 18, 19)),
    ("verve", "507865", "507964", (16, 18, 19)),
    ("verve", "650002", "650027", (16, 18, 19)),
    ("elo", "401178", "401179", (16,)),
    ("elo", "431274", "431274", (16,)),
    ("elo", "438935", "438935", (16,)),
    ("elo", "451416", "451416", (16,)),
    ("elo", "457393", "457393", (16,)),
    ("elo", "457631", "457632", (16,)),
    ("elo", "504175", "504175", (16,)),
    ("elo", "506699", "506778", (16,)),
    ("elo", "509000", "509999", (16,)),
    ("elo", "627780", "627780", (16,)),
    ("elo", "636297", "636297", (16,)),
    ("elo", "636368", "636368", (16,)),
    ("elo", "650031", "650033", (16,)),
    ("elo", "650035", "650051", (16,)),
    ("elo", "650405", "650439", (16,)),
    ("elo", "650485", "650538", (16,)),
    ("elo", "650541", "650598", (16,)),
    ("elo", "650700", "650718", (16,)),
    ("elo", "650720", "650727", (16,)),
    ("elo", "650901", "650978", (16,)),
    ("elo", "651652", "651679", (16,)),
    ("elo", "655000", "655019", (16,)),
    ("elo", "655021", "655058", (16,)),
    ("hipercard", "606282", "606282", (16, 19)),
    ("hipercard", "3841", "3841", (16, 19)),
    ("uatp", "1", "1", (15,)),
)
# fmt: on
Schemes = list[tuple[str, tuple[int, ...]]]


def _prefix_tables() -> list[tuple[int, dict[str, Schemes]]]:
    """Per prefix length (longest first), every prefix of the ranges of that length with the (scheme,
    PAN lengths) of the ranges holding it, in table order: a few thousand entries in all."""
    tables = []
    for width in sorted({len(lo) for _, lo, _, _ in BIN_RANGES}, reverse=True):
        table: dict[str, Schemes] = {}
        for scheme, lo, hi, lengths in BIN_RANGES:
            if len(lo) == width:
                for prefix in range(int(lo), int(hi) + 1):
                    table.setdefault(str(prefix).zfill(width), []).append((scheme, lengths))
        tables.append((width, table))
    return tables


_BY_PREFIX = _prefix_tables()


def issuer(digits: str) -> str | None:
    """The card scheme of the longest BIN range holding ``digits``'s prefix at its length, or None."""
    n = len(digits)
    for width, table in _BY_PREFIX:
        for scheme, lengths in table.get(digits[:width], ()):
            if n in lengths:
                return scheme
    return None


#: Groups of four as OCR and PDFs leave them: glued into 8 or 12 (a lost space) or wrapped onto the
#: next line between groups (see classify/spread.py for the IBAN side, which also reads look-alikes).
_BREAK = r"(?:[ ]|[ \t]{0,2}\r?\n[ \t]{0,3})"
#: A digit with no word character, dot or dash before it: ``(?<![\w.-])\d`` written digit first, so that
#: ``re`` skips to the digits of a region instead of trying the look-behind at every position (a region
#: is mostly prose around one digit run). The same matches: the look-behind now also reads the digit
#: just taken, which is one (tests/unit/classify/test_cards.py checks the patterns against the old ones).
_LEAD = r"\d(?<![\w.-]\d)"
_SPREAD = rf"{_LEAD}\d{{3}}(?:{_BREAK}?\d{{4}}){{2,3}}(?:{_BREAK}\d{{3}})?(?![\w-]|\.\d)"
_GAP = re.compile(r"\s+")
#: The fewest digits a spread card has (and so the fewest characters of a spread match it can be).
_SPREAD_MIN = 15


class CreditCardRecognizer(DwPatternRecognizer):
    """Card numbers; a Luhn-valid number with a known issuer scores 0.85 without any context word."""

    ENTITY = "CREDIT_CARD"
    PATTERNS = (
        (
            "grouped 4-4-4-4(-3)",
            _LEAD + r"\d{3}([ .-])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?(?![\w-]|\.\d)",
            0.3,
        ),
        ("grouped 4-6-4/5", _LEAD + r"\d{3}([ .-])\d{6}\1\d{4,5}(?![\w-]|\.\d)", 0.3),
        ("contiguous", _LEAD + r"\d{11,18}(?![\w-]|\.\d)", 0.3),
        ("spread", _SPREAD, 0.3),
    )
    CONTEXT = ("credit", "card", "visa", "mastercard", "amex", "cc", "kreditkarte", "carte", "carta", "pan")
    #: every match holds 12 digits in a row or two groups of four: either lies inside one digit run
    TRIGGER = r"\d{12}|\d{4}[ .-]\d{4}"
    MAX_LEN = 4 + 4 * (4 + 7)  # the spread pattern: four more groups, each after a gap of up to 7
    TRIGGER_IN_DIGIT_RUNS = True

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        spread = match.re.pattern == _SPREAD
        if spread and match.end() - match.start() < _SPREAD_MIN:
            return None  # twelve digits glued: a reference number (the contiguous pattern judges it)
        if _IBAN_HEAD.search(text, max(0, match.start() - 8), match.start()):
            return None  # the body of a grouped IBAN ("DE46 3002 0900 1759 8965 11")
        if spread:
            return _spread(match.group())
        digits = digits_only(match.group())
        if not 12 <= len(digits) <= 19 or not luhn_valid(digits):
            return None
        scheme = issuer(digits)
        if scheme is None:
            return None
        if len(digits) == 12 or (len(digits) == 13 and gtin_valid(digits)):
            # a 12-digit Maestro is as likely a reference number, a 13-digit Visa a product barcode
            # (EAN-13): either needs a card word nearby
            return Assessment(0.4, attributes=(("scheme", scheme),))
        return Assessment(0.85, attributes=(("scheme", scheme),))


#: Score of a glued or wrapped card with no card word near it: below the card rule's min_score (0.5),
#: so it alerts only when the context enhancer finds a card word (+0.35), as a 12-digit Maestro does.
#: Rows of four-digit codes, amounts or phone blocks wrapped two or three to a line and pairs of
#: eight-digit invoice numbers pass Luhn and an issuer prefix once in a few dozen lines
#: (tests/unit/classify/test_card_precision.py); a card number printed as a card rarely comes alone.
OUT_OF_LAYOUT_SCORE = 0.4


def _spread(value: str) -> Assessment | None:
    """Groups of four glued (8, 12) or wrapped: every group but the last a multiple of four, 15-19
    digits, wrapped once at most (a column of four-digit codes is not a card), then Luhn and a known
    issuer. Out of the printed layout (glued or wrapped) the number needs a card word to alert."""
    groups = _GAP.split(value.strip())
    if value.count("\n") > 1 or any(len(g) % 4 for g in groups[:-1]):
        return None
    digits = "".join(groups)
    if not _SPREAD_MIN <= len(digits) <= 19 or not luhn_valid(digits):
        return None
    scheme = issuer(digits)
    if scheme is None:
        return None
    out_of_layout = "\n" in value or any(len(g) > 4 for g in groups)
    return Assessment(OUT_OF_LAYOUT_SCORE if out_of_layout else 0.85, attributes=(("scheme", scheme),))
