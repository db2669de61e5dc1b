"""PRIVATE_KEY: PEM/OpenSSH/PGP private key blocks, matched whole; placeholder or short bodies score low."""

from __future__ import annotations

import base64
import binascii
import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer

_KIND = r"(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |SSH2 ENCRYPTED )?PRIVATE KEY(?: BLOCK)?"
_ENCODED_KIND = re.compile(rf"-----BEGIN {_KIND}-----")
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
        # the same block base64-encoded (kubeconfig client-key-data, Kubernetes secrets, CI variables):
        # "-----BEGIN" always encodes to LS0tLS1CRUdJTi
        ("base64 pem block", r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{40,20000}={0,2}", 0.85),
    )
    TRIGGER = r"-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY|LS0tLS1CRUdJTi"
    MAX_LEN = 21000

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        if match.group().startswith("LS0t"):
            return self._assess_encoded(match.group(), base_score)
        body = match.groupdict().get("body")
        if body is None:
            body = match.group().split("-----", 2)[-1]
        body = _HEADER_LINE.sub("", body).replace("\\n", "\n")
        low = body.lower()
        if any(p in low for p in _PLACEHOLDERS) or len(_B64.findall(body)) < 40:
            return Assessment(0.15, final=True)
        return Assessment(base_score)

    def _assess_encoded(self, value: str, base_score: float) -> Assessment | None:
        """A base64-encoded PEM block: a private key when the decoded armour says so and the body is long."""
        head = value[: len(value) - len(value) % 4]
        try:
            decoded = base64.b64decode(head, validate=True).decode("ascii", "replace")
        except (binascii.Error, ValueError):
            return None
        m = _ENCODED_KIND.match(decoded)
        if m is None:
            return None
        body = decoded[m.end() :]
        if any(p in body.lower() for p in _PLACEHOLDERS) or len(_B64.findall(body)) < 40:
            return Assessment(0.15, final=True)
        return Assessment(base_score)
