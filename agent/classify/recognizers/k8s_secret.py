"""KUBERNETES_SECRET: base64 ``data:`` values of a Kubernetes ``Secret`` manifest, decoded and judged.

A ``kind: Secret`` manifest stores its values base64-encoded, which hides them from every other
recognizer. A ``key: value`` line counts when it sits in the ``data:`` (or ``stringData:``) mapping of
a YAML document whose same mapping says ``kind: Secret`` -- however far apart the two are (long
annotations, ``metadata`` with managed fields, a ``List`` of Secrets from ``kubectl get -o yaml``).
The structure is read from indentation (``classify/yamlpath.py``), within the document (``---``) and
at most :data:`~agent.classify.yamlpath.DOC_REACH` characters either way, so Helm templates that are
not YAML yet are read too. The value must decode to printable text that looks like a credential: a
PEM private key, a password-shaped or high-entropy string (>= 8 characters, three character classes
or >= 3.0 bits per character). Keys that name non-secret settings (username, host, port, database,
...) and placeholders are skipped. The span is the base64 value.
"""

from __future__ import annotations

import base64
import binascii
import re

from agent.classify.filters import VALUE_FILTERS
from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, filtered
from agent.classify.recognizers.password import character_classes
from agent.classify.validators import shannon_entropy
from agent.classify.yamlpath import in_secret_data

_NOT_SECRET_KEY = re.compile(
    r"(?i)^(?:user(?:name)?|login|host(?:name)?|server|port|database|db(?:name)?|schema|url|endpoint|"
    r"region|namespace|email|ca\.crt|tls\.crt|.*\.pub)$"
)
_PRINTABLE = re.compile(r"[\x20-\x7e\t\r\n]+")


def _decoded(value: str) -> str | None:
    try:
        raw = base64.b64decode(value, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return text if _PRINTABLE.fullmatch(text) else None


class KubernetesSecretRecognizer(DwPatternRecognizer):
    """Decoded Secret data values: 0.85 for a private key, 0.8 for a credential-shaped value."""

    ENTITY = "KUBERNETES_SECRET"
    PATTERNS = (
        (
            "secret data value",
            r"^[ \t]{1,12}(?P<k>[A-Za-z0-9._-]{1,64}):[ \t]+[\"']?"
            r"(?P<v>[A-Za-z0-9+/]{8,4000}={0,2})[\"']?[ \t]*\r?$",
            0.8,
        ),
    )
    CONTEXT = ("secret", "kubernetes", "password", "token")
    #: an indented key, a colon and eight base64 characters: the start of every match but its indentation
    TRIGGER = r"[ \t][A-Za-z0-9._-]{1,64}:[ \t]+[\"']?[A-Za-z0-9+/]{8}"
    MAX_LEN = 4100

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        if _NOT_SECRET_KEY.match(match.group("k")) or not in_secret_data(text, match.start("k")):
            return None
        value = match.group("v")
        decoded = _decoded(value)
        if decoded is None:
            return None
        s, e = match.span("v")
        if "PRIVATE KEY-----" in decoded:
            return Assessment(0.85, start=s, end=e)
        plain = decoded.strip()
        if len(plain) < 8 or (character_classes(plain) < 3 and shannon_entropy(plain) < 3.0):
            return None
        dropped = filtered(VALUE_FILTERS, plain, text, s, e)
        return dropped or Assessment(base_score, start=s, end=e)
