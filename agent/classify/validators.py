"""Checksum, entropy and placeholder checks shared by built-in and YAML-declared recognizers.

Every function is pure and cheap: validators run once per regex match, never per character of text.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable

# Luhn, IBAN and entropy are shared with the log scrubber (agent.log): one implementation, in a module
# both may import (see agent.checksums). Recognizers keep importing them from here.
from agent.checksums import (
    IBAN_LENGTHS,
    NON_ALNUM,
    digits_only,
    iban_valid,
    luhn_valid,
    mod97_of_alnum,
    shannon_entropy,
)
from agent.classify.tokensums import gitlab_routable_valid, grafana_sa_valid, pypi_macaroon_valid

#: ISO 3166 alpha-2 codes (for SWIFT/BIC positions 5-6).
# fmt: off
COUNTRY_CODES = frozenset((
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA",
    "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV",
    "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU",
    "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES",
    "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM",
    "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE",
    "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM",
    "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY",
    "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT",
    "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU",
    "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA",
    "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM",
    "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL",
    "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE",
    "VG", "VI", "VN", "VU", "WF", "WS", "XK", "YE", "YT", "ZA", "ZM", "ZW",
))
# fmt: on


def gtin_valid(value: str) -> bool:
    """GS1 check digit (EAN-13, GTIN-14, ISBN-13): weights 3,1,3,... from the right over the body."""
    digits = digits_only(value)
    if len(digits) < 8:
        return False
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def mod97_valid(value: str) -> bool:
    """ISO 7064 MOD 97-10 over the alphanumerics (letters A=10..Z=35): remainder 1 is valid."""
    compact = NON_ALNUM.sub("", value).upper()
    return bool(compact) and compact.isascii() and mod97_of_alnum(compact) == 1


def mod11_valid(value: str) -> bool:
    """Weighted mod 11 (weights 2,3,4,... from the right over the body; last digit is the check digit).

    Only digits (and a final ``X``, check value 10, ISBN-10 style) count: prefixes like ``EMP-`` are ignored.
    """
    compact = re.sub(r"[^0-9Xx]", "", value).upper()
    if len(compact) < 2 or not compact[:-1].isdigit():
        return False
    body, check = compact[:-1], compact[-1]
    total = sum(int(d) * w for d, w in zip(reversed(body), range(2, 2 + len(body)), strict=True))
    expected = (11 - total % 11) % 11
    return check == ("X" if expected == 10 else str(expected))


BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def base62_crc32(data: str) -> str:
    """CRC32 of ``data`` written in 6 base62 digits (GitHub and npm token checksums)."""
    n = zlib.crc32(data.encode())
    out = ""
    while n:
        n, r = divmod(n, 62)
        out = BASE62[r] + out
    return out.rjust(6, "0")


def crc32_base62_valid(value: str) -> bool:
    """GitHub (``ghp_``...) and npm (``npm_``) tokens: the last 6 characters are the base62 CRC32 of
    the random part between the prefix's underscore and them."""
    body = value.rsplit("_", 1)[-1]
    return len(body) > 6 and body.isascii() and body.isalnum() and base62_crc32(body[:-6]) == body[-6:]


_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32_valid(value: str) -> bool:
    """BIP-173 bech32 checksum (age secret keys ``AGE-SECRET-KEY-1...``): case-insensitive, HRP 1 data."""
    v = value.strip().lower()
    sep = v.rfind("1")
    if sep < 1 or len(v) - sep < 7 or any(c not in _BECH32 for c in v[sep + 1 :]):
        return False
    return bech32_polymod(v[:sep], [_BECH32.index(c) for c in v[sep + 1 :]]) == 1


def bech32_polymod(hrp: str, data: list[int]) -> int:
    """BIP-173's checksum polynomial over the expanded HRP and the 5-bit data values."""
    values = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp] + data
    gen = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    chk = 1
    for x in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ x
        for i in range(5):
            chk ^= gen[i] if (top >> i) & 1 else 0
    return chk


# fmt: off
_PLACEHOLDER_WORDS = (
    "changeme", "change_me", "changeit", "password", "passwd", "secret", "example", "dummy", "sample",
    "placeholder", "redacted", "your", "todo", "fixme", "replace", "xxxx", "****", "....", "test", "fake",
    "foobar", "notreal", "insert", "enter_", "none", "null", "undefined",
)
# fmt: on
_PLACEHOLDER_SHAPES = re.compile(
    r"""^(?:
        <[^>]*>                      # <YOUR_API_KEY>
      | \$\{[^}]*\}?                 # ${VAR}
      | \$\(?[A-Za-z_][A-Za-z0-9_]*\)?  # $VAR, $(VAR)
      | \{\{.*\}\}?                  # {{ var }}
      | %\(?[A-Za-z_]+\)?s?%?        # %(var)s, %VAR%
      | (?:os\.environ|os\.getenv|getenv|process\.env|env\(|ENV\[|System\.getenv|settings\.|config\.).*
      | (.)\1{3,}                    # xxxxxxx, ********
    )$""",
    re.VERBOSE | re.IGNORECASE,
)


def is_placeholder(value: str) -> bool:
    """True for template values, environment lookups and obvious fillers (not a literal secret)."""
    v = value.strip().strip("'\"`")
    if not v:
        return True
    if _PLACEHOLDER_SHAPES.match(v):
        return True
    low = v.lower()
    return any(w in low for w in _PLACEHOLDER_WORDS)


def entropy_validator(min_entropy: float) -> Callable[[str], bool]:
    """A validator accepting values with at least ``min_entropy`` bits per character."""

    def check(value: str) -> bool:
        return shannon_entropy(value) >= min_entropy

    return check


VALIDATORS: dict[str, Callable[[str], bool] | None] = {
    "none": None,
    "luhn": luhn_valid,
    "iban": iban_valid,
    "mod11": mod11_valid,
    "mod97": mod97_valid,
    "crc32_base62": crc32_base62_valid,
    "bech32": bech32_valid,
    "gitlab_routable": gitlab_routable_valid,
    "grafana_crc32": grafana_sa_valid,
    "pypi_macaroon": pypi_macaroon_valid,
}


def get_validator(name: str, min_entropy: float = 0.0) -> Callable[[str], bool] | None:
    """Resolve a validator named in a policy pack; unknown names raise ``ValueError``."""
    if name == "entropy":
        return entropy_validator(min_entropy)
    if name not in VALIDATORS:
        raise ValueError(f"unknown validator {name!r}; expected one of {', '.join([*VALIDATORS, 'entropy'])}")
    return VALIDATORS[name]


__all__ = [
    "COUNTRY_CODES",
    "IBAN_LENGTHS",
    "VALIDATORS",
    "base62_crc32",
    "bech32_polymod",
    "bech32_valid",
    "crc32_base62_valid",
    "digits_only",
    "entropy_validator",
    "get_validator",
    "gtin_valid",
    "iban_valid",
    "is_placeholder",
    "luhn_valid",
    "mod11_valid",
    "mod97_valid",
    "shannon_entropy",
]
