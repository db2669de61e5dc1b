"""KEYSTORE in text: a PKCS#12, JKS, JCEKS or keytab file base64-encoded (a Kubernetes Secret's
``keystore.p12:``, a ``.env`` or a Helm value), decoded and judged by its entries like a binary one.

The regex starts at each format's header as base64 spells it (JKS ``/u3+7Q`` = 0xFEEDFEED, JCEKS
``zs7Ozg``, keytab ``BQIA`` = 0x0502, PKCS#12 ``MII..IBAzC`` = SEQUENCE, INTEGER 3, SEQUENCE) and runs
over the base64 alphabet, across line breaks. Only a blob whose entries parse counts (binary files
handed over by extract are judged in ``classify/keystore.py`` directly, damaged or not).
"""

from __future__ import annotations

import base64
import binascii
import re

from agent.classify.keystore import CONTENTS, ENTITY
from agent.classify.recognizers.base import Assessment, DwPatternRecognizer

_B64 = r"[A-Za-z0-9+/]"
_HEADERS = {
    "jks": r"/u3\+7QAAAA[EI]",
    "jceks": r"zs7OzgAAAAI",
    "keytab": r"BQIAAA",
    "pkcs12": r"MII" + _B64 + r"{2}[AQgw]IBAzC[A-D]|MIM" + _B64 + r"{5}AQMw|MIACAQMw",
}
#: Base64 characters (or line breaks with their indentation) a blob may run to: 24 KB decoded at least.
_MAX_UNITS = 32_768
_INDENT = 24
_WHITESPACE = re.compile(r"\s+")


def _kind_of(blob: str) -> str | None:
    for kind, header in _HEADERS.items():
        if re.match(header, blob):
            return kind
    return None


def decode_blob(blob: str) -> bytes | None:
    """The bytes of a base64 blob (whitespace dropped, missing padding added), None if it is not base64."""
    compact = _WHITESPACE.sub("", blob).rstrip("=")
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


class KeystoreRecognizer(DwPatternRecognizer):
    """Base64 keystores: 0.9 with a key inside, 0.6 for a truststore (certificates only)."""

    ENTITY = ENTITY
    PATTERNS = (
        (
            "base64 keystore",
            rf"(?<![A-Za-z0-9+/])(?:{'|'.join(_HEADERS.values())})"
            rf"(?:{_B64}|\r?\n[ \t]{{0,{_INDENT}}}(?={_B64})){{32,{_MAX_UNITS}}}={{0,2}}",
            0.9,
        ),
    )
    CONTEXT = ("keystore", "truststore", "keytab", "p12", "pfx", "jks")
    TRIGGER = "|".join(_HEADERS.values())
    MAX_LEN = 16 + (_INDENT + 2) * _MAX_UNITS + 2  # header, units (a line break is the longest), padding

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        kind = _kind_of(match.group())
        data = decode_blob(match.group())
        if kind is None or data is None:
            return None
        contents = CONTENTS[kind](data)
        if contents == "unknown":
            return None
        score = 0.6 if contents == "certificates" else base_score
        return Assessment(score, attributes=(("format", kind), ("contents", contents)))
