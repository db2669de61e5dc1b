"""JWT: signed JSON web tokens; unsigned ("alg": "none" or empty signature) score low."""

from __future__ import annotations

import base64
import binascii
import json
import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer


def _b64url_json(part: str) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


class JwtRecognizer(DwPatternRecognizer):
    """header.payload.signature with a JSON header holding "alg": 0.8 signed, 0.15 unsigned."""

    ENTITY = "JWT"
    PATTERNS = (
        (
            "jwt",
            r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,2000}\.[A-Za-z0-9_-]{2,8000}\.[A-Za-z0-9_-]{0,2000}(?![A-Za-z0-9_-])",
            0.8,
        ),
    )
    CONTEXT = ("jwt", "bearer", "token", "authorization")
    TRIGGER = r"eyJ"
    MAX_LEN = 12010

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        header_part, payload_part, signature = match.group().split(".")
        header = _b64url_json(header_part)
        if not isinstance(header, dict) or "alg" not in header:
            return None
        if str(header.get("alg", "")).lower() == "none" or len(signature) < 16:
            return Assessment(0.15, final=True)
        if not isinstance(_b64url_json(payload_part), dict):
            return Assessment(0.4)
        return Assessment(base_score)
