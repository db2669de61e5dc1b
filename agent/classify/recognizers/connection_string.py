"""CONNECTION_STRING: URLs with an inline literal password (databases, brokers, and basic-auth URLs)."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, filtered
from agent.classify.validators import shannon_entropy

_SCHEMES = (
    r"(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle|"
    r"db2|cockroachdb|clickhouse|couchdb|neo4j|ldaps?|smtps?|ftps?|sftp|https?)(?:\+[a-z0-9]+)?"
)
#: Filters a URL's password goes through (a placeholder, a reference or a dictionary default is a demo).
_FILTERS = ("allowlist-pragma", "template-reference", "placeholder", "filler-word", "weak-password")


class ConnectionStringRecognizer(DwPatternRecognizer):
    """scheme://user:password@host (the user may be empty: redis://:pw@host): 0.8 with a strong literal
    password, 0.35 with a weak one."""

    ENTITY = "CONNECTION_STRING"
    PATTERNS = (
        (
            "uri with password",
            rf"(?i)(?=[a-z])\b{_SCHEMES}://(?P<u>[^:/@\s'\"<>]{{0,100}}):(?P<v>[^@/\s'\"]{{1,200}})@(?P<h>[^\s/'\"@<>]{{1,253}})",
            0.8,
        ),
    )
    CONTEXT = ("connection", "database", "dsn", "url", "uri", "jdbc")
    TRIGGER = r"://[^\s/@]{1,310}@"
    MAX_LEN = 620

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        pw = match.group("v")
        if pw[0] in "$%{<*" or "<" in pw or "${" in pw or "***" in pw:
            return None  # a reference or a mask, not a value
        dropped = filtered(_FILTERS, pw, text, match.start(), match.end())
        if dropped:
            return dropped
        if len(pw) < 8 or shannon_entropy(pw) < 3.0:
            return Assessment(0.35)
        return Assessment(base_score)
