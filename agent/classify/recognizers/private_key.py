"""PRIVATE_KEY: PEM/OpenSSH/PGP private key blocks, matched whole; placeholder or short bodies score low."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer

_KIND = r"(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |SSH2 ENCRYPTED )?PRIVATE KEY(?: BLOCK)?"
_HEADER_LINE = re.compile(r"^[A-Za-z-]+: .*$", re.MULTILINE)  # Proc-Type:, DEK-Info:, Comment:, Version:
_B64 = re.compile(r"[A-Za-z0-9+/=]")
_PLACEHOLDERS = (
    "...",
    "…",
    "<",
    ">",
    "redacted",
    "xxxx",
    "****",
    "your_",
    "your ",
    "insert",
    "placeholder",
    "truncated",
    "example",
    "removed",
)


class PrivateKeyRecognizer(DwPatternRecognizer):
    """Whole BEGIN..END blocks (0.9); a block cut off before END still counts (0.7)."""

    ENTITY = "PRIVATE_KEY"
    PATTERNS = (
        (
            "pem block",
            rf"-----BEGIN (?P<kind>{_KIND})-----(?P<body>[\s\S]{{0,20000}}?)-----END (?P=kind)-----",
            0.9,
        ),
        (
            "pem truncated",
            rf"-----BEGIN {_KIND}-----[ \t]*\r?\n(?:[A-Za-z0-9+/=]{{16,128}}[ \t]*\r?\n){{3,150}}",
            0.7,
        ),
    )
    TRIGGER = r"-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY"
    MAX_LEN = 21000

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        body = match.groupdict().get("body")
        if body is None:
            body = match.group().split("-----", 2)[-1]
        body = _HEADER_LINE.sub("", body).replace("\\n", "\n")
        low = body.lower()
        if any(p in low for p in _PLACEHOLDERS) or len(_B64.findall(body)) < 40:
            return Assessment(0.15, final=True)
        return Assessment(base_score)
