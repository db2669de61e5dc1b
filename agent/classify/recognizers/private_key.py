"""PRIVATE_KEY: PEM/OpenSSH/PGP/PuTTY private key blocks, matched whole; placeholder or short bodies dropped.

Attribute ``protection`` (passphrase/none): a passphrase-protected key (``ENCRYPTED PRIVATE KEY``, a
``Proc-Type: 4,ENCRYPTED`` header, a PuTTY file with ``Encryption:`` other than none, an OpenSSH key
whose header names a cipher) is still worth reporting but needs the passphrase too, so the
credentials pack reports it at medium.
"""

from __future__ import annotations

import base64
import binascii
import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, rejected

_KIND = r"(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |SSH2 ENCRYPTED )?PRIVATE KEY(?: BLOCK)?"
_ENCODED_KIND = re.compile(rf"-----BEGIN {_KIND}-----")
_HEADER_LINE = re.compile(r"^[A-Za-z-]+: .*$", re.MULTILINE)  # Proc-Type:, DEK-Info:, Comment:, Version:
_B64 = re.compile(r"[A-Za-z0-9+/=]")
_ENCRYPTED_HEADER = re.compile(r"Proc-Type:\s*4,ENCRYPTED|^Encryption:\s*(?!none\b)\S+", re.MULTILINE)
#: "openssh-key-v1\0" then the cipher name: "none" for a plain key (base64 of the fixed prefix + "none").
_OPENSSH_PLAIN = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"
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
        # PuTTY .ppk files (v2 and v3): header, public lines, then the private lines
        (
            "putty key file",
            r"PuTTY-User-Key-File-[23]: [\w@.-]{1,40}\r?\nEncryption: [\w-]{1,20}\r?\n[\s\S]{0,6000}?"
            r"Private-Lines: \d{1,3}\r?\n(?:[A-Za-z0-9+/=]{1,64}\r?\n?){1,60}",
            0.9,
        ),
        # the same block base64-encoded (kubeconfig client-key-data, Kubernetes secrets, CI variables):
        # "-----BEGIN" always encodes to LS0tLS1CRUdJTi
        ("base64 pem block", r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{40,20000}={0,2}", 0.85),
    )
    TRIGGER = r"-----BEGIN [A-Z0-9 ]{0,30}PRIVATE KEY|LS0tLS1CRUdJTi|PuTTY-User-Key-File-"
    MAX_LEN = 21000

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        whole = match.group()
        if whole.startswith("LS0t"):
            return self._assess_encoded(whole, base_score)
        if whole.startswith("PuTTY"):
            body = whole[whole.find("Private-Lines:") :].split("\n", 1)[-1]
        else:
            body = match.groupdict().get("body") or whole.split("-----", 2)[-1]
        body = _HEADER_LINE.sub("", body).replace("\\n", "\n")
        low = body.lower()
        if any(p in low for p in _PLACEHOLDERS) or len(_B64.findall(body)) < 40:
            return rejected("placeholder")
        return Assessment(base_score, attributes=(("protection", _protection(whole, body)),))

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
            return rejected("placeholder")
        return Assessment(base_score, attributes=(("protection", _protection(decoded, body)),))


def _protection(block: str, body: str) -> str:
    """passphrase for a passphrase-protected key (see the module docstring), none otherwise."""
    if "ENCRYPTED PRIVATE KEY" in block[:60] or _ENCRYPTED_HEADER.search(block[:400]):
        return "passphrase"
    if "OPENSSH PRIVATE KEY" in block[:60]:
        compact = "".join(body.split())
        return (
            "passphrase"
            if compact.startswith("b3Blbn") and not compact.startswith(_OPENSSH_PLAIN)
            else "none"
        )
    return "none"
