"""AZURE_KEY: storage account keys and shared access keys in Azure connection strings."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, filtered, start_of_line
from agent.classify.validators import shannon_entropy


class AzureKeyRecognizer(DwPatternRecognizer):
    """AccountKey=<88 base64> (0.85; 0.95 in a DefaultEndpointsProtocol string), SharedAccessKey=<44>,
    SAS URL signatures (sig= after sv= in the same URL, 0.8)."""

    ENTITY = "AZURE_KEY"
    PATTERNS = (
        ("account key", r"(?i)\bAccountKey=(?P<v>[A-Za-z0-9+/]{86}==)", 0.85),
        ("shared access key", r"(?i)\bSharedAccessKey=(?P<v>[A-Za-z0-9+/]{42,43}=)", 0.85),
        # shared access signature URLs: ...?sv=2022-11-02&...&sig=<base64 HMAC, URL-encoded>
        ("sas signature", r"[?&]sig=(?P<v>(?:[A-Za-z0-9+/]|%2[BF]){30,120}(?:=|%3D){0,2})(?![\w%])", 0.8),
    )
    CONTEXT = ("azure", "storage", "connection string", "connectionstring")
    TRIGGER = r"(?i)AccountKey=|SharedAccessKey=|[?&]sig="
    MAX_LEN = 110

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        s, e = match.span("v")
        value = match.group("v")
        if match.group().lstrip("?&").startswith("sig="):
            # a SAS token is a signature only next to its signed-version field ("sv=") in the same URL
            if "sv=" not in start_of_line(text, match.start()):
                return None
            value = value.replace("%2B", "+").replace("%2F", "/").replace("%3D", "=")
        dropped = filtered(("allowlist-pragma", "placeholder"), value, text, s, e)
        if dropped:
            return dropped
        if shannon_entropy(value) < 4.0:
            return Assessment(0.1, start=s, end=e, final=True)
        if "defaultendpointsprotocol" in start_of_line(text, match.start()).lower():
            base_score = 0.95
        return Assessment(base_score, start=s, end=e)
