"""SECRET: high-entropy literals that look like keys or tokens without a known prefix (detect-secrets style).

A quoted string or the value of a ``name = value`` / ``name: value`` line, 20-500 characters of base64 or
hex. Base64-like values need >= 4.5 bits/char (4.0 if they decode to hex, as YAML ``!!binary`` does),
hex values >= 3.0. Names ending in id/uuid/hash/digest/checksum/integrity/etag, UUIDs, SRI hashes
(``sha512-...``), placeholders and ``pragma: allowlist secret`` lines are skipped.

Scores: 0.75 when the name says secret/key/token/password/credential/auth, or when a whole assigned
value is a long random token (32+ mixed-case base64 characters, digits scattered, near-maximal entropy);
otherwise base64 0.55 and hex 0.4 (a hex string alone is as often a commit or content hash; a context
word lifts it to 0.75).
"""

from __future__ import annotations

import base64
import binascii
import math
import re

from agent.classify.filters import FILTERS
from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, filtered, start_of_line
from agent.classify.validators import shannon_entropy

_VALUE = r"[A-Za-z0-9+/=_-]{20,500}"
_HEX = re.compile(r"[0-9a-fA-F]+")
_DIGIT_RUN = re.compile(r"\d+")
#: Every named filter of classify/filters.py but entropy (judged here, per alphabet) and weak-password.
_FILTERS = tuple(n for n in FILTERS if n not in ("low-entropy", "weak-password"))
_KEY_BEFORE = re.compile(r"([A-Za-z_][\w.-]{0,60})[\"']?\s*(?:=|:|=>)\s*(?:!!binary\s+)?[\"']?$")
_NOT_SECRET_NAME = re.compile(
    r"(?i)(?:id|ids|uuid|guid|hash|digest|checksum|integrity|etag|sha\d*|md5|h\d|commit|rev|version)$"
)
_SECRET_NAME = re.compile(r"(?i)secret|key|token|passw|pwd|credential|auth|private|signature|salt")


_USER_PASS = re.compile(r"[\x21-\x39\x3b-\x7e]{1,64}:[\x21-\x7e]{6,128}")


def _basic_auth(value: str) -> bool:
    """Base64 of ``user:password`` (Docker ``auth``, HTTP Basic): a credential whatever its entropy."""
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False
    return bool(_USER_PASS.fullmatch(decoded)) and shannon_entropy(decoded.split(":", 1)[1]) >= 2.5


def _random_token(value: str) -> bool:
    """32+ base64 characters mixing cases, with digits scattered through (3+ runs) and near-maximal
    entropy for the length: what key generators emit, unlike identifiers (digits at the end, if any)."""
    n = len(value)
    return (
        n >= 32
        and not _HEX.fullmatch(value)
        and any(c.islower() for c in value)
        and any(c.isupper() for c in value)
        and len(_DIGIT_RUN.findall(value)) >= 3
        and shannon_entropy(value) >= math.log2(n) - 0.9
    )


def _entropy_ok(value: str) -> tuple[bool, bool]:
    """(passes, is_hex) for a candidate value."""
    if _HEX.fullmatch(value):
        return shannon_entropy(value) >= 3.0 and not value.isdigit(), True
    if shannon_entropy(value) >= 4.5:
        return True, False
    try:  # YAML !!binary and similar: base64 whose payload is itself a hex secret
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return False, False
    return bool(len(decoded) >= 16 and _HEX.fullmatch(decoded) and shannon_entropy(decoded) >= 3.0), False


class GenericSecretRecognizer(DwPatternRecognizer):
    """High-entropy quoted strings and assigned values (entity SECRET)."""

    ENTITY = "SECRET"
    PATTERNS = (
        ("quoted", r"(?P<q>[\"'])(?P<v>" + _VALUE + r")(?P=q)", 0.55),
        (
            "assigned",
            r"(?<![\w.-])[A-Za-z_][\w.-]{0,60}[ \t]{0,10}(?:=|:)[ \t]{0,10}(?:!!binary[ \t]+)?(?P<v>"
            + _VALUE
            + r")(?=[ \t]{0,10}(?:#[^\n]{0,200})?\r?$)",
            0.55,
        ),
        # HTTP Basic credentials: "Authorization: Basic dXNlcjpwYXNz..." (base64 of user:password)
        (
            "basic auth",
            r"(?i)(?<![\w-])basic(?P<basic>)[ \t]+(?P<v>[A-Za-z0-9+/]{20,300}={0,2})(?![\w+/=])",
            0.75,
        ),
    )
    CONTEXT = ("secret", "key", "token", "password", "credential", "credentials", "auth", "apikey")
    TRIGGER = r"[A-Za-z0-9+/=_-]{20}"
    MAX_LEN = 600
    #: A quote, an "=" or ":", or "basic" and blanks, then twenty value characters: what every match
    #: holds (look-arounds and the closing quote left out). Prose around a long word or a URL has none.
    PRECHECK = (
        r"[\"'][A-Za-z0-9+/=_-]{20}|[=:][ \t]{0,10}(?:!!binary[ \t]+)?[A-Za-z0-9+/=_-]{20}"
        r"|(?i:basic)[ \t]+[A-Za-z0-9+/]{20}"
    )

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        s, e = match.span("v")
        value = match.group("v")
        if value.strip("=_-").isalpha():
            return None
        dropped = filtered(_FILTERS, value, text, s, e)
        if dropped:
            return dropped
        if "basic" in match.re.groupindex:
            return Assessment(0.8, start=s, end=e) if _basic_auth(value) else None
        ok, is_hex = _entropy_ok(value.strip("="))
        if not ok and _basic_auth(value):
            return Assessment(0.75, start=s, end=e)
        if not ok:
            return None
        key_match = _KEY_BEFORE.search(start_of_line(text, s, 120))
        key = key_match.group(1) if key_match else ""
        if key and _NOT_SECRET_NAME.search(key):
            return None
        if key and _SECRET_NAME.search(key):
            return Assessment(0.75, start=s, end=e)
        if "q" not in match.groupdict() and _random_token(value.strip("=")):
            # a long random token as a whole config value (mimi=gX69YO4C...): a secret whatever its name
            return Assessment(0.75, start=s, end=e)
        return Assessment(0.4 if is_hex else base_score, start=s, end=e)
