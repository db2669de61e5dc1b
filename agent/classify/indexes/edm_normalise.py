"""EDM normalisation: the same function of a table cell at build time and of a text candidate at match time.

A cell is normalised by the kind of its column (email, date, code/number, phone, words such as names);
:func:`profile_column` guesses that kind from a sample of the column. The date helpers
(:func:`num_date`, :func:`written_date`, :func:`compact_date`) are shared with
:mod:`agent.classify.indexes.edm_candidates`, which finds the same values in scanned text.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache

MAX_NAME_TOKENS = 4
MAX_RUN_GROUPS = 9  # "GB29 NWBK 6016 1331 9268 19": IBANs and phone numbers are written in groups
PREFIX = {"email": "e", "date": "d", "code": "c", "phone": "p", "words": "w"}
_GIVEN_NAME = re.compile(r"^(first|given|fore)[ _-]?name|^vorname|^pr[ée]nom|^nombre$|^first$", re.I)
_FAMILY_NAME = re.compile(r"^(last|family|sur)[ _-]?name|^surname|^nachname|^nom$|^apellido|^last$", re.I)
_PHONE_HINT = re.compile(r"phone|tel|mobil|fax|handy|natel|gsm|cell", re.IGNORECASE)
_LETTERS = re.compile(r"[^\W\d_]+")
_EMAIL = re.compile(r"[\w.+'%-]+@[\w-]+(?:\.[\w-]+)+")
_EMAIL_AT = re.compile(r"(?<![\w.+'%-])[\w.+'%-]{1,80}@[\w-]+(?:\.[\w-]+)+")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_ISO_DATE = re.compile(r"\s*(\d{4})-(\d\d)-(\d\d)(?:[T ][\d:.]+)?\s*")
_NUM_DATE = re.compile(r"(?<![\d.])(\d{1,4})([./-])(\d{1,2})\2(\d{2,4})(?![\d])")
_COMPACT_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)(\d\d)(\d\d)(?!\d)")
_MONTHS = {
    **dict.fromkeys(["jan", "january", "januar", "janvier", "enero", "gennaio", "januari", "jänner"], 1),
    **dict.fromkeys(["feb", "february", "februar", "février", "febrero", "febbraio", "februari"], 2),
    **dict.fromkeys(["mar", "march", "märz", "maerz", "mars", "marzo", "maart", "mrt"], 3),
    **dict.fromkeys(["apr", "april", "avril", "abril", "aprile"], 4),
    **dict.fromkeys(["may", "mai", "mayo", "maggio", "mei"], 5),
    **dict.fromkeys(["jun", "june", "juni", "juin", "junio", "giugno"], 6),
    **dict.fromkeys(["jul", "july", "juli", "juillet", "julio", "luglio"], 7),
    **dict.fromkeys(["aug", "august", "aout", "août", "agosto", "augustus"], 8),
    **dict.fromkeys(["sep", "sept", "september", "septembre", "septiembre", "settembre"], 9),
    **dict.fromkeys(["oct", "october", "oktober", "octobre", "octubre", "ottobre", "okt"], 10),
    **dict.fromkeys(["nov", "november", "novembre", "noviembre"], 11),
    **dict.fromkeys(["dec", "december", "dezember", "décembre", "diciembre", "dicembre", "dez"], 12),
}
_MONTH_RE = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(  # 17 June 1946, 17. Juni 1946, 17-Jun-1946, 17 de junio de 1946
    rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th|er)?[\s.\-/]*(?:de\s+)?({_MONTH_RE})[\s.,\-/]+(?:de\s+)?(\d{{4}})$",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR = re.compile(  # June 17, 1946; Jun 17th 1946
    rf"\b({_MONTH_RE})[\s.\-/]+(\d{{1,2}})(?:st|nd|rd|th)?[\s.,\-/]+(\d{{4}})$", re.IGNORECASE
)
# a written-month date is found from its year (cheap to find): 1800-2199, not inside a numeric date
_YEAR = re.compile(r"(?<!\d)(?<!\d[.\-/])(?:1[89]|2[01])\d\d(?!\d|[.\-/]\d)")


_TRANSLIT = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ł": "l", "ı": "i", "þ": "th"})
_UMLAUT_PAIRS = re.compile(r"(?<=[a-z])([aou])e")


def fold(text: str) -> str:
    """Case and accent folding: 'Émile' == 'EMILE', 'Straße' == 'strasse', 'Müller' == 'Mueller'."""
    if text.isascii():
        return _UMLAUT_PAIRS.sub(r"\1", text.lower()) if "e" in text or "E" in text else text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().translate(_TRANSLIT)
    return _UMLAUT_PAIRS.sub(r"\1", plain)


_fold_token = lru_cache(maxsize=100_000)(fold)  # words of scanned text repeat a lot; table cells do not


def norm_words(value: str, _order: str = "") -> str | None:
    """A name or other words as its sorted folded letter tokens: 'Doe, Jane' == 'JANE DOE'."""
    tokens = _LETTERS.findall(fold(value))
    if not tokens or len(tokens) > MAX_NAME_TOKENS or sum(map(len, tokens)) < 3:
        return None
    return " ".join(sorted(tokens))


def norm_email(value: str, _order: str = "") -> str | None:
    v = value.strip().casefold()
    return v if _EMAIL.fullmatch(v) else None


def norm_code(value: str, _order: str = "") -> str | None:
    """Identifiers and numbers without separators or case: IBAN groups, '1,071,912.28', 'c-123-456'."""
    v = _NON_ALNUM.sub("", value if value.isascii() else fold(value)).upper()
    return v if len(v) >= 4 and not v.isalpha() else None


def norm_phone(value: str, _order: str = "") -> str | None:
    """The last 9 digits: the same with or without country code, trunk zero or grouping."""
    digits = re.sub(r"\D", "", value)
    return digits[-9:] if len(digits) >= 9 else None


def _ymd(y: int, m: int, d: int) -> str | None:
    if 1 <= m <= 12 and 1 <= d <= (29 if m == 2 else 30 if m in (4, 6, 9, 11) else 31) and 1000 <= y <= 2999:
        return f"{y:04d}{m:02d}{d:02d}"
    return None


def _two_digit_years(yy: int, one: bool) -> list[int]:
    """'46' is 1946 or 2046: in text both are tried; a table cell takes the one not in the future."""
    now = datetime.date.today().year % 100
    if one:
        return [2000 + yy if yy <= now else 1900 + yy]
    return [1900 + yy, 2000 + yy] if yy <= now else [1900 + yy]


def norm_date(value: str, order: str = "dmy") -> str | None:
    """A table date as yyyymmdd; ``order`` settles dd/mm versus mm/dd for the whole column."""
    iso = _ISO_DATE.fullmatch(value)
    if iso:
        return _ymd(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    found = parse_dates(value, order)
    return found[0][0] if found else None


def parse_dates(text: str, order: str = "") -> list[tuple[str, int, int]]:
    """Every date in ``text`` as (yyyymmdd, start, end); ambiguous d/m orders give both unless fixed."""
    out: list[tuple[str, int, int]] = []
    for m in _NUM_DATE.finditer(text):
        found = num_date(m.group(1), m.group(2), m.group(3), m.group(4), order)
        out.extend((o, m.start(), m.end()) for o in found)
    for m in _COMPACT_DATE.finditer(text):
        o = _ymd(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if o:
            out.append((o, m.start(), m.end()))
    # written months: anchored on the 4-digit year (cheap to find), then parsed in a small window
    for y in _YEAR.finditer(text):
        written = written_date(text, y.start(), y.end())
        if written:
            out.append(written)
    return out


def num_date(a: str, sep: str, b: str, c: str, order: str = "") -> list[str]:
    """The yyyymmdd readings of a numeric date a<sep>b<sep>c (both d/m orders when ambiguous)."""
    if len(a) == 4 and len(c) <= 2:
        options = [_ymd(int(a), int(b), int(c))]
    elif len(c) in (2, 4) and len(a) <= 2:
        years = [int(c)] if len(c) == 4 else _two_digit_years(int(c), bool(order))
        options = []
        for y in years:
            dmy, mdy = _ymd(y, int(b), int(a)), _ymd(y, int(a), int(b))
            if order == "dmy" or (not order and sep == "."):
                options.append(dmy)
            elif order == "mdy":
                options.append(mdy)
            else:
                options += [dmy, mdy]
    else:
        return []
    return [o for o in dict.fromkeys(options) if o]


def written_date(text: str, y_start: int, y_end: int) -> tuple[str, int, int] | None:
    """A date with a written month ending in the year at text[y_start:y_end], as (yyyymmdd, start, end)."""
    begin = max(0, y_start - 40)
    m = _DAY_MONTH_YEAR.search(text, begin, y_end)  # lookbehinds still see text before begin
    if m:
        o = _ymd(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
    else:
        m = _MONTH_DAY_YEAR.search(text, begin, y_end)
        o = _ymd(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2))) if m else None
    return (o, m.start(), m.end()) if m and o else None


def compact_date(digits: str) -> str | None:
    """yyyymmdd written without separators (19xx/20xx only)."""
    if len(digits) == 8 and digits[:2] in ("19", "20"):
        return _ymd(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    return None


def date_order(values: Sequence[str]) -> str:
    """'mdy' when a column writes mm/dd/yyyy (some second part > 12), else 'dmy'."""
    for v in values:
        m = _NUM_DATE.search(v)
        if m and len(m.group(4)) == 4:
            if int(m.group(3)) > 12:
                return "mdy"
            if int(m.group(1)) > 12:
                return "dmy"
    return "mdy" if any("/" in v for v in values[:50]) else "dmy"


BUILD_NORMALISERS = {
    "email": norm_email,
    "date": norm_date,
    "code": norm_code,
    "phone": norm_phone,
    "words": norm_words,
}


#: A standalone word of three or more letters: "12 Hauptstrasse" and "Rue de Lyon 5" are addresses
#: (words, matched by their letters), not codes like "C-123 456" or "AB 12 CD".
_WORD = re.compile(r"(?:^|\s)[^\W\d_]{3,}(?=[\s,.]|$)")


def profile_column(name: str, values: Sequence[str]) -> tuple[str, bool] | None:
    """(kind, supporting) of a column from a sample of its values; None when it identifies nothing.

    Supporting-only: dates, short numbers (median < 8 characters), single words (first names, cities),
    and columns where values repeat a lot. Categories (status, country) are not indexed at all.
    """
    if not values:
        return None
    distinct = len(set(values)) / len(values)
    if len(values) >= 20 and distinct < 0.05:
        return None

    def share(pred: Callable[[str], bool]) -> float:
        return sum(1 for v in values if pred(v)) / len(values)

    if share(lambda v: norm_email(v) is not None) >= 0.8:
        kind = "email"
    elif share(lambda v: bool(parse_dates(v, "dmy"))) >= 0.8 and share(lambda v: len(v) <= 30) >= 0.8:
        kind = "date"
    elif share(lambda v: norm_phone(v) is not None) >= 0.8 and (
        _PHONE_HINT.search(name) or share(lambda v: v.lstrip().startswith(("+", "00", "("))) >= 0.5
    ):
        kind = "phone"
    elif share(lambda v: norm_code(v) is not None and not _WORD.search(v)) >= 0.8:
        kind = "code"
    else:
        kind = "words"
    weak = distinct < 0.5 or kind == "date"
    if kind == "code":
        lengths = sorted(len(norm_code(v) or "") for v in values)
        weak = weak or lengths[len(lengths) // 2] < 8
    elif kind == "words":
        sizes = sorted(len((norm_words(v) or "").split()) for v in values)
        weak = weak or sizes[len(sizes) // 2] < 2
    return kind, weak
