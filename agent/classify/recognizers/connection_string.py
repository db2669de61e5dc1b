"""CONNECTION_STRING: URLs with an inline literal password (databases, brokers, and basic-auth URLs)."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, allowlisted
from agent.classify.validators import shannon_entropy

_SCHEMES = (
    r"(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle|"
    r"db2|cockroachdb|clickhouse|couchdb|neo4j|ldaps?|smtps?|ftps?|sftp|https?)(?:\+[a-z0-9]+)?"
)
_WEAK = frozenset(
    {
        "pass",
        "password",
        "passwd",
        "pwd",
        "secret",
        "changeme",
        "user",
        "admin",
        "root",
        "test",
        "guest",
        "example",
        "dummy",
        "xxx",
        "pw",
        "passw0rd",
    }
)
_PLACEHOLDER_PARTS = ("xxx", "***", "changeme", "redacted", "your", "example", "placeholder", "<", "${")


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
        low = pw.lower()
        if (
            pw[0] in "$%{<*"
            or any(t in low for t in _PLACEHOLDER_PARTS)
            or re.sub(r"[\d_!.-]", "", low) in _WEAK
            or len(set(pw)) == 1
        ):
            return None
        if allowlisted(text, match.start(), match.end()):
            return None
        if len(pw) < 8 or shannon_entropy(pw) < 3.0:
            return Assessment(0.35)
        return Assessment(base_score)
