"""Pure checksum and entropy checks: Luhn, IBAN (ISO 13616 / mod 97), Shannon entropy.

Shared infrastructure, not a stage: the recognizers (agent.classify.validators) decide with them
what a card number or an IBAN is, and the log scrubber (agent.log) masks the same values with the
very same functions. They live here rather than in agent.classify because agent.log is imported by
the agent's own security code, which the action stage uses (quarantine -> audit -> log): a log
importing agent.classify would make the stages depend on each other. Standard library only.
"""

from __future__ import annotations

import math
import re
from collections import Counter

#: IBAN length per country (ISO 13616 registry): SEPA members, CH, GB and the other registry countries.
# fmt: off
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
# fmt: on

NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


#: ASCII bytes other than the ten digits, deleted by ``bytes.translate`` (one C call per value).
_ASCII_NON_DIGITS = bytes(b for b in range(128) if not 48 <= b <= 57)
#: Luhn's doubled digit (2d, less 9 past 9) of each ASCII digit byte, as a ``bytes.translate`` table.
_DOUBLED = bytes((2 * (b - 48) - 9 if b > 52 else 2 * (b - 48)) if 48 <= b <= 57 else 0 for b in range(256))


def digits_only(value: str) -> str:
    """The characters of ``value`` that are digits (``str.isdigit``: superscripts and other scripts'
    digits too), in order."""
    if value.isascii():  # the usual case: without a Python step per character
        return value.encode("ascii").translate(None, _ASCII_NON_DIGITS).decode("ascii")
    return "".join(c for c in value if c.isdigit())


def luhn_valid(value: str) -> bool:
    """Luhn (mod 10) check over the digits of ``value``; separators are ignored."""
    digits = digits_only(value)
    if len(digits) < 2:
        return False
    if digits.isascii():  # sums over bytes: the undoubled digits, then the doubled ones mapped
        raw = digits.encode("ascii")
        kept = raw[-1::-2]
        return (sum(kept) - 48 * len(kept) + sum(raw[-2::-2].translate(_DOUBLED))) % 10 == 0
    total = 0  # other scripts' digits count by their code point, as they always have
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


#: Each upper-case letter's ISO 7064 value (A=10 .. Z=35), as ``str.translate`` replacements.
_LETTER_VALUES = {ord("A") + i: str(10 + i) for i in range(26)}


def mod97_of_alnum(s: str) -> int:
    """ISO 7064 MOD 97-10 remainder of an upper-case alphanumeric string (letters A=10..Z=35)."""
    expanded = s.translate(_LETTER_VALUES)
    if expanded.isascii() and expanded.isdigit():  # the usual case: one integer, one remainder
        return int(expanded) % 97
    rem = 0  # anything else (lower case, other scripts' digits) as it always was read
    for ch in s:
        rem = (rem * (100 if ch.isalpha() else 10) + (ord(ch) - 55 if ch.isalpha() else ord(ch) - 48)) % 97
    return rem


def iban_valid(value: str) -> bool:
    """ISO 13616: known country, the registry length for it, and check digits passing mod 97."""
    compact = NON_ALNUM.sub("", value).upper()
    if len(compact) < 15 or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    if not compact.isascii() or not compact.isalnum():
        return False
    return mod97_of_alnum(compact[4:] + compact[:4]) == 1


def shannon_entropy(value: str) -> float:
    """Bits per character of the empirical character distribution."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())
