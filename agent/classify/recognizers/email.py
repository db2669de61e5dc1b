"""EMAIL_ADDRESS: e-mail addresses whose domain ends in a real public suffix, offline.

The pattern, score and context word are Presidio's EmailRecognizer's (presidio-analyzer, MIT licence,
Copyright (c) Microsoft Corporation), with the local part bounded to 64 characters (the RFC 5321
limit): Presidio's unbounded middle made the regex quadratic on long runs of e-mail characters
(200 KB of base64 took a 60 s regex timeout). A match whose domain has a registrable name under a
suffix of the public suffix list scores 1.0; any other match is dropped. The list is the snapshot
bundled with tldextract: no download, no cache directory.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

from agent.classify.recognizers.base import Assessment
from agent.classify.recognizers.regexmod import RegexModuleRecognizer

if TYPE_CHECKING:
    from tldextract import TLDExtract

_LOCAL_END = r"[!#$%&'*+\-/=?^_`{|}~\w]"  # a local part's first and last character
_LOCAL_MID = r"[!#$%&'*+\-/=?^_`{|}~\.\w]{0,62}"  # ... and up to 62 between them (dots allowed)
_LABEL = r"\w+(?:-+\w+)*"  # a domain label: word characters, inner hyphens


@cache
def public_suffixes() -> TLDExtract:
    """tldextract over its bundled public-suffix snapshot, built at first use.

    Imported here, not at module level: tldextract pulls in requests (a tenth of a second), which a
    scan of files holding no "@" never needs.
    """
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class EmailAddressRecognizer(RegexModuleRecognizer):
    """``local@domain.suffix`` matches, 1.0 when the suffix is public, dropped otherwise."""

    ENTITY = "EMAIL_ADDRESS"
    PATTERNS = (
        (
            "Email (Medium, bounded)",
            rf"\b(?:{_LOCAL_END}|{_LOCAL_END}{_LOCAL_MID}{_LOCAL_END})@{_LABEL}(?:\.{_LABEL})+\b",
            0.5,
        ),
    )
    CONTEXT = ("email",)
    TRIGGER = r"@"
    MAX_LEN = None  # no match holds whitespace

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        if public_suffixes()(match.group()).fqdn == "":
            return None
        return Assessment(1.0)
