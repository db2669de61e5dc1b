"""PHONE_NUMBER: phone-shaped strings found by one regex, each validated once by ``phonenumbers``.

Presidio's PhoneRecognizer runs phonenumbers' matcher once per region over every digit group of the
text (dates, invoice numbers, time stamps): ~80 % of the scan time of business text and logs, for a
low-severity rule. Here one regex proposes only phone-shaped candidates (``+CC``/``00CC`` forms, or
7-15 digits grouped by spaces, dots, dashes, slashes or parentheses; a bare digit run only with a "+"
or a phone word just before it), dates, IP addresses, card/ISBN numbers and digits inside identifiers
are dropped by looking at the candidate and the characters around it, and the rest is parsed once per
region (one parse with a country code) until ``is_valid_number``. Base score 0.4 as Presidio's; context
words raise it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from types import ModuleType
from typing import Any, ClassVar

from agent.classify.prefilter import DIGIT_RUN, DIGIT_SEP
from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.results import Result

#: Default regions for numbers written nationally, in the order they are tried: where our users are
#: (CH, DACH, FR, IT) plus GB and US. Numbers written with "+" or "00" need none.
PHONE_REGIONS = ("CH", "DE", "AT", "FR", "IT", "GB", "US")

#: One separator character between digits (no newline: a number never spans lines); the digit runs
#: the prefilter covers phone numbers with are joined by the same separators.
_SEP = DIGIT_SEP
#: Up to three separators between two digits ("+49 (0) 30": " (", ") ").
_BODY = rf"\d(?:{_SEP}{{0,3}}\d){{6,19}}"
_PATTERN = (
    r"(?<![\w+@#'/])(?<!\w-)(?<!\d[.:,])"  # not inside a word, identifier, path, time or amount
    rf"(?:\+|\()?{_BODY}"
    r"(?![\w+@#]|[.,:'/\-]\d)"  # not followed by more of an identifier, a decimal or a time
)
_WORDS = (
    "tel",
    "tél",
    "tele",
    "telephone",
    "téléphone",
    "telefon",
    "telefono",
    "teléfono",
    "phone",
    "mobile",
    "mobil",
    "cell",
    "cellphone",
    "cellulare",
    "handy",
    "natel",
    "fax",
    "portable",
    "móvil",
    "movil",
    "call",
    "ruf",
    "rufnummer",
    "telefonnummer",
    "numéro",
    "numero",
    "number",
    "hotline",
    "whatsapp",
)
_NOT_DIGIT = re.compile(r"[^0-9]")
_NO_SEP = re.compile(r"\+?\(?\d+\)?")
#: A phone word at most four words before a bare digit run.
_PHONE_WORD_BEFORE = re.compile(
    r"(?i)(?<!\w)(?:" + "|".join(re.escape(w) for w in _WORDS) + r")(?!\w)\W{0,6}(?:\w+\W{1,6}){0,3}\Z"
)
#: The ASCII phone words that hold no other one: lower-cased ASCII text holds a phone word (in any case)
#: only if it holds one of these, and one search for them is a third of the cost of
#: ``_PHONE_WORD_BEFORE``, which tries its look-behind and thirty words at every position.
_ASCII_WORDS = [w for w in _WORDS if w.isascii()]
_ASCII_KEYS = re.compile(
    "|".join(sorted(w for w in _ASCII_WORDS if not any(o != w and o in w for o in _ASCII_WORDS)))
)
_DATE = re.compile(r"(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./](?:\d{4}|\d{2}))(?:[ T]|\Z)")
#: An amount: a single decimal point or comma, then one or two digits at the end ("1 234 567.50").
_AMOUNT = re.compile(r"[^.,]*\d[.,]\d{1,2}\Z")
#: An amount, an IP address or an SSN: each the whole candidate (one regex call rather than three).
_NOT_PHONE = re.compile(rf"(?:{_AMOUNT.pattern}|\d{{1,3}}(?:\.\d{{1,3}}){{3}}\Z|\d{{3}}-\d{{2}}-\d{{4}}\Z)")
#: Right before the candidate: an IBAN's country code and check digits, or an ISBN label.
_NUMBER_LABEL = re.compile(r"(?:[A-Za-z]{2}\d{2}[ -]?|(?i:isbn)(?:-1[03])?\W{0,3})\Z")


@functools.cache
def _phonenumbers() -> ModuleType:
    """phonenumbers, imported at the first candidate to validate (~20 ms a scan without one saves).

    It compiles each metadata pattern anew on every use (through re's cache: a quarter of a
    validation) unless told to keep them; the patterns come from its fixed metadata, so they are
    bounded."""
    import phonenumbers
    from phonenumbers import re_util

    if hasattr(re_util, "enable_pattern_cache"):  # phonenumbers >= 9.0.x
        re_util.enable_pattern_cache()
    return phonenumbers


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _isbn13(digits: str) -> bool:
    return (
        len(digits) == 13
        and digits[:3] in ("978", "979")
        and sum(int(c) * (1 if i % 2 == 0 else 3) for i, c in enumerate(digits)) % 10 == 0
    )


class PhoneNumberRecognizer(DwPatternRecognizer):
    """Phone numbers: phone-shaped candidates validated by phonenumbers; 0.4, more with a phone word."""

    ENTITY = "PHONE_NUMBER"
    PATTERNS: ClassVar = [("Phone (shaped, validated)", _PATTERN, 0.4)]
    CONTEXT = _WORDS
    #: A *covering* trigger (see ``agent/classify/prefilter.py``): the whole run of digits joined by at
    #: most three separator characters, from its first digit (greedy). A match is such a run's digits,
    #: so it lies inside one hit, plus the "+" or "(" before it: COVER = 1. The regex then runs over
    #: the hit and a few characters around it instead of ``MAX_LEN`` characters either side.
    TRIGGER = DIGIT_RUN
    COVER = 1
    MAX_LEN = 1 + 20 + 19 * 3
    REGIONS: ClassVar[tuple[str, ...]] = PHONE_REGIONS
    #: The verdict on each number as written, within the running :meth:`analyze_regions` call (None
    #: outside one): a signature or a letterhead repeats its numbers through a document, and the
    #: verdict depends on the written number alone. Nothing is kept from one text to the next.
    _verdicts: dict[str, bool] | None = None

    def analyze_regions(self, text: str, regions: Iterable[tuple[int, int]]) -> list[Result]:
        self._verdicts = {}
        try:
            return super().analyze_regions(text, regions)
        finally:
            self._verdicts = None

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        cand = match.group()
        if cand.startswith("(") and ")" not in cand:
            cand = cand[1:]
        if _DATE.match(cand):  # first: dates are most of the candidates in business text and logs
            return None
        if cand.isascii():
            digits = _NOT_DIGIT.sub("", cand)
        else:  # full-width or Arabic-Indic digits read as ASCII ones
            digits = "".join(str(int(c)) for c in cand if c.isdecimal())
        intl = cand.startswith("+") or digits.startswith("00")
        if not 7 <= len(digits) <= (17 if digits.startswith("00") else 15):
            return None
        start = match.start()
        bare = not cand.startswith("+") and _NO_SEP.fullmatch(cand)
        if bare and not _phone_word_before(text, start):
            return None
        if _NOT_PHONE.match(cand):
            return None
        if _NUMBER_LABEL.search(text[max(0, start - 12) : start]) or _isbn13(digits):
            return None
        if not intl and len(digits) >= 13 and _luhn(digits):  # a grouped card number
            return None
        memo = self._verdicts
        valid = memo.get(cand) if memo is not None else None
        if valid is None:
            valid = self._valid(cand, digits, intl)
            if memo is not None:
                memo[cand] = valid
        return Assessment(base_score) if valid else None

    def _valid(self, cand: str, digits: str, intl: bool) -> bool:
        if intl:
            written = "+" + digits[2:] if digits.startswith("00") else cand
            known = _valid_international(digits[2:] if digits.startswith("00") else digits)
            return _is_valid(written, None) if known is None else known
        return any(_is_valid(cand, region) for region in self.REGIONS)


def _phone_word_before(text: str, start: int) -> bool:
    """Whether ``_PHONE_WORD_BEFORE`` finds a phone word in the 64 characters before ``start``.

    In ASCII text ``re``'s case-insensitive words match exactly their ASCII spellings in any case (no
    other character folds to an ASCII letter there; the words with accents cannot match at all), so a
    window whose lower-case form holds no :data:`_ASCII_KEYS` has none: most digit runs in prose."""
    lo = max(0, start - 64)
    window = text[lo:start]
    if window.isascii() and _ASCII_KEYS.search(window.lower()) is None:
        return False
    return _PHONE_WORD_BEFORE.search(text, lo, start) is not None


def _is_valid(written: str, region: str | None) -> bool:
    """The reference: phonenumbers' own parse, then ``is_valid_number``."""
    pn = _phonenumbers()
    try:
        return bool(pn.is_valid_number(pn.parse(written, region)))
    except pn.NumberParseException:
        return False


def _valid_international(digits: str) -> bool | None:
    """``_is_valid("+" + digits, None)`` without the parse (three quarters of a validation), or None
    where the shortcut is not sure to agree (then the caller parses).

    For ASCII ``digits`` after a "+", ``parse`` takes the country code as the shortest prefix
    phonenumbers knows (codes are prefix-free: none known is no number), strips a national prefix
    only where the region's ``national_prefix_for_parsing`` matches at the start of the rest, and
    records leading zeros. Those cases go to the parse; for the others the parsed number is just
    (country code, int(rest)). tests/unit/classify/test_phone.py compares both on generated numbers."""
    if not 3 <= len(digits) <= 20 or not digits.isascii() or not digits.isdigit() or digits[0] == "0":
        return None
    known = _country_codes()
    width = 1 if digits[:1] in known else 2 if digits[:2] in known else 3 if digits[:3] in known else 0
    if not width:
        return False  # parse raises INVALID_COUNTRY_CODE
    code, nsn = int(digits[:width]), digits[width:]
    if not 2 <= len(nsn) <= 17 or nsn[0] == "0" or _strips_prefix(code, nsn):
        return None
    rules = _number_rules(code)
    if rules is None:
        pn = _phonenumbers()
        return bool(pn.is_valid_number(pn.PhoneNumber(country_code=code, national_number=int(nsn))))
    general, types = rules
    return _fits(nsn, general) and any(_fits(nsn, rule) for rule in types)


#: A phonenumbers number description: the national number lengths it allows (none: any) and its
#: pattern.
_Rule = tuple[frozenset[int], re.Pattern[str]]


def _fits(nsn: str, rule: _Rule | None) -> bool:
    """phonenumbers' ``_is_number_matching_desc``: an allowed length, and the pattern's full match."""
    if rule is None:
        return False
    lengths, pattern = rule
    return (not lengths or len(nsn) in lengths) and pattern.fullmatch(nsn) is not None


@functools.cache
def _number_rules(country_code: int) -> tuple[_Rule | None, tuple[_Rule, ...]] | None:
    """What ``is_valid_number`` checks for a country code of one region: the general description,
    and the type descriptions of which one must fit too (any type but UNKNOWN). None for a code
    shared by several regions (which region a number belongs to is phonenumbers' to say).

    ``is_valid_number`` runs ten descriptions through generic helpers per number; these are the same
    checks, compiled once."""
    pn = _phonenumbers()
    regions = pn.COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    if len(regions) != 1:
        return None
    region = regions[0]
    meta = pn.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region.upper())
    geographic = region != pn.REGION_CODE_FOR_NON_GEO_ENTITY
    if meta is None or (geographic and pn.country_code_for_valid_region(region) != country_code):
        return None
    # any order gives the same verdict (is_valid_number asks for any type): the commonest first
    kinds = [meta.fixed_line]
    if not meta.same_mobile_and_fixed_line_pattern:
        kinds.append(meta.mobile)
    kinds += [meta.premium_rate, meta.toll_free, meta.shared_cost, meta.voip, meta.personal_number]
    kinds += [meta.pager, meta.uan, meta.voicemail]
    types = tuple(rule for rule in map(_rule, kinds) if rule is not None)
    return _rule(meta.general_desc), types


def _rule(desc: Any) -> _Rule | None:
    """A number description as a rule, None if it fits no number (none, or an empty pattern)."""
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


@functools.cache
def _country_codes() -> frozenset[str]:
    """The country calling codes phonenumbers knows, as written (no leading zero: none has one)."""
    return frozenset(str(code) for code in _phonenumbers().COUNTRY_CODE_TO_REGION_CODE)


def _strips_prefix(country_code: int, nsn: str) -> bool:
    """Whether ``parse`` may strip a national prefix from ``nsn`` after ``country_code``."""
    prefix = _national_prefix(country_code)
    return prefix is None or prefix.match(nsn) is not None


@functools.cache
def _national_prefix(country_code: int) -> re.Pattern[str] | None:
    """The ``national_prefix_for_parsing`` of a known country code's main region, if any (a pattern
    that matches nothing when it has none)."""
    pn = _phonenumbers()
    region = pn.region_code_for_country_code(country_code)
    meta = pn.PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if meta is None:  # parse asserts it is not; should it be, parse decides
        return None
    return re.compile(meta.national_prefix_for_parsing or r"(?!)")
