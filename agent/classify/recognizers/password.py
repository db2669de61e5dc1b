"""PASSWORD: a literal assigned to a password/secret/token/api-key name in code, config or prose.

Not reported: placeholders and template/environment references (``changeme``, ``<YOUR_API_KEY>``,
``${VAR}``, ``$VAR``, ``{{var}}``, ``os.environ[...]``, ``process.env.X``, ``xxx``, ``***``, ...), code
expressions, values shorter than 8 characters or below 3.0 bits/char, quoted prose (whitespace inside),
and lines carrying ``pragma: allowlist secret``. The span is the value only.
"""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, allowlisted
from agent.classify.validators import is_placeholder, shannon_entropy

_KEYWORD = r"(?:passw(?:or)?d|passwort|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|private[_-]?key|client[_-]?secret)"  # noqa: E501
_NOT_SECRET_NAME = re.compile(
    r"(?i)(?:_?id|_?ids|_?name|_?names|_?file|_?path|_?url|_?uri|_?len(?:gth)?|_?type|_?policy|_?hash|_?field|"
    r"_?expir\w*|_?timeout|_?ttl|_?prompt|_?label|_?hint|_?format|_?regex|_?pattern|_?endpoint|_?count)$"
)
_CODE = re.compile(
    r"[()\[\]{}<>$%]|^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$|^(?:true|false|none|null|nil|undefined)$", re.I
)


class PasswordRecognizer(DwPatternRecognizer):
    """Keyword-assigned literals: 0.6, +0.1 quoted, +0.1 for >= 3.5 bits/char."""

    ENTITY = "PASSWORD"
    PATTERNS = (
        (
            "assignment",
            r"(?i)(?=[pstac])(?P<k>" + _KEYWORD + r"[A-Za-z0-9_.-]{0,40})[\"']?[ \t]*"
            r"(?:=|:=|:|=>|->)[ \t]*(?:\r?\n[ \t]+secure:[ \t]*)?"  # Travis-style "password:\n  secure: x"
            r"(?P<q>[\"'`]?)(?P<v>[^\s\"'`,;]{1,200})(?P=q)",
            0.6,
        ),
    )
    TRIGGER = (
        r"(?i)passw|passphrase|pwd|secret|token|api[_-]?key|apikey|"  # every keyword of the pattern
        r"(?:access|auth|private)[_-]?key"
    )
    MAX_LEN = 320

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        value, quoted = match.group("v"), bool(match.group("q"))
        key = match.group("k")
        if _NOT_SECRET_NAME.search(key) or len(value) < 8 or is_placeholder(value):
            return None
        if not quoted and _CODE.search(value):
            return None
        entropy = shannon_entropy(value)
        if entropy < 3.0 or allowlisted(text, match.start(), match.end()):
            return None
        score = base_score + (0.1 if quoted else 0.0) + (0.1 if entropy >= 3.5 else 0.0)
        s, e = match.span("v")
        return Assessment(score, start=s, end=e)
