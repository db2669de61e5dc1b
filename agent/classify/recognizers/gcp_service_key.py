"""GCP_SERVICE_KEY: Google Cloud service-account key files (JSON with type and private_key)."""

from __future__ import annotations

from agent.classify.recognizers.base import DwPatternRecognizer

_TYPE = r'"type"\s*:\s*"service_account"'
_KEY = r'"private_key"\s*:\s*"-----BEGIN (?:RSA )?PRIVATE KEY-----'


class GcpServiceKeyRecognizer(DwPatternRecognizer):
    """A service-account JSON holding a private key: 0.95 (the span runs from one field to the other)."""

    ENTITY = "GCP_SERVICE_KEY"
    PATTERNS = (
        ("type then key", rf"{_TYPE}[\s\S]{{0,3000}}?{_KEY}", 0.95),
        ("key then type", rf"{_KEY}[\s\S]{{0,6000}}?{_TYPE}", 0.95),
    )
    TRIGGER = r"service_account"
    MAX_LEN = 6200
