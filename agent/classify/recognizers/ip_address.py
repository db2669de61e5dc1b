"""IP_ADDRESS: IPv4 and IPv6 addresses (with prefix length or zone), as Presidio's IpRecognizer finds them.

The patterns, scores and context words are Presidio's (presidio-analyzer, MIT licence, Copyright (c)
Microsoft Corporation), assembled here from their parts: dotted quads with an optional /0-32, IPv6 in
full, compressed ("::"), with an IPv4 tail (mapped ``::ffff:a.b.c.d`` or embedded), a ``%zone`` and
an optional /0-128, all at 0.6; the unspecified address ``::`` alone at 0.1. A match Python's
``ipaddress`` does not accept as an interface (``1::2::3``, an out-of-range prefix) is dropped.
"""

from __future__ import annotations

import ipaddress
import re

from agent.classify.recognizers.base import Assessment
from agent.classify.recognizers.regexmod import RegexModuleRecognizer

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|[01]?[0-9][0-9]?)"
_QUAD = rf"(?:{_OCTET}\.){{3}}{_OCTET}"
_GROUP = r"[0-9A-Fa-f]{1,4}"
_V6_PREFIX = r"(?:/(?:12[0-8]|1[01]\d|[1-9]?\d))?"
_NO_WORD_BEFORE = r"(?<![\w:])"
#: The full and compressed IPv6 forms, in Presidio's order (the first alternative that matches wins).
_V6_FORMS = "|".join(
    (
        rf"(?:{_GROUP}:){{7}}{_GROUP}",
        rf"(?:{_GROUP}:){{1,7}}:",
        rf":(?::{_GROUP}){{1,7}}",
        rf"(?:{_GROUP}:){{1,6}}:{_GROUP}",
        rf"(?:{_GROUP}:){{1,5}}(?::{_GROUP}){{1,2}}",
        rf"(?:{_GROUP}:){{1,4}}(?::{_GROUP}){{1,3}}",
        rf"(?:{_GROUP}:){{1,3}}(?::{_GROUP}){{1,4}}",
        rf"(?:{_GROUP}:){{1,2}}(?::{_GROUP}){{1,5}}",
        rf"{_GROUP}:(?::{_GROUP}){{1,6}}",
        rf":(?::{_GROUP}){{1,6}}",
    )
)


class IpAddressRecognizer(RegexModuleRecognizer):
    """IPv4/IPv6 addresses at 0.6 (``::`` alone 0.1), kept only if ``ipaddress`` parses them."""

    ENTITY = "IP_ADDRESS"
    PATTERNS = (
        (
            "IPv4_mapped",
            rf"{_NO_WORD_BEFORE}::(?:ffff(?::0{{1,4}})?:)?{_QUAD}{_V6_PREFIX}\b",
            0.6,
        ),
        (
            "IPv4_embedded",
            rf"{_NO_WORD_BEFORE}(?:(?:{_GROUP}:){{1,5}}:(?:{_GROUP}:){{0,4}}|(?:{_GROUP}:){{6}}){_QUAD}{_V6_PREFIX}\b",
            0.6,
        ),
        ("IPv4", rf"\b{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}(?:/(?:[0-2]?\d|3[0-2]))?\b", 0.6),
        ("IPv6", rf"{_NO_WORD_BEFORE}(?:{_V6_FORMS})(?:%[0-9a-zA-Z]+)?{_V6_PREFIX}(?![\w:]|\.\d)", 0.6),
        ("IPv6_unspecified", rf"{_NO_WORD_BEFORE}::{_V6_PREFIX}(?![\w:])", 0.1),
    )
    CONTEXT = ("ip", "ipv4", "ipv6")
    # IPv4 forms hold a dotted quad; IPv6 forms hold "::" or eight colon-separated groups. A zone
    # suffix (%eth0) has no length bound, but no match holds whitespace.
    TRIGGER = r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]|::|(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]"
    MAX_LEN = None

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        try:
            ipaddress.ip_interface(match.group())
        except ValueError:
            return None
        return Assessment(base_score)
