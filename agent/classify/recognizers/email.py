"""EMAIL_ADDRESS: e-mail addresses whose domain ends in a real public suffix, offline.

The pattern, score and context word are Presidio's EmailRecognizer's (presidio-analyzer, MIT licence,
Copyright (c) Microsoft Corporation), with the local part bounded to 64 characters (the RFC 5321
limit): Presidio's unbounded middle made the regex quadratic on long runs of e-mail characters
(200 KB of base64 took a 60 s regex timeout). A match whose domain has a registrable name under a
suffix of the public suffix list scores 1.0; any other match is dropped. The list is the snapshot
bundled with tldextract: no download, no cache directory. The verdict is kept per domain (a mail
thread repeats a handful of domains hundreds of times).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import TYPE_CHECKING

from agent.classify.recognizers.base import Assessment
from agent.classify.recognizers.regexmod import RegexModuleRecognizer

if TYPE_CHECKING:
    from tldextract import TLDExtract

_LOCAL_END = r"[!#$%&'*+\-/=?^_`{|}~\w]"  # a local part's first and last character
_LOCAL_MID = r"[!#$%&'*+\-/=?^_`{|}~\.\w]{0,62}"  # ... and up to 62 between them (dots allowed)
_LABEL = r"\w+(?:-+\w+)*"  # a domain label: word characters, inner hyphens
#: Characters of a local part that tldextract reads as the end of a URL's host ("a/b@x.com" is "a").
_URL_DELIMITERS = frozenset("/?#")


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
        if not registrable(match.group()):
            return None
        return Assessment(1.0)


def registrable(address: str) -> bool:
    """Whether tldextract finds a registrable name under a public suffix in ``address``.

    tldextract reads the address as a URL: a local part without "/", "?" or "#" (the pattern allows
    them) leaves the host after the "@" (the domain holds none of them, nor a second "@" or a ":"),
    so the verdict is the domain's and is cached per domain.
    """
    local, _, domain = address.rpartition("@")
    if _URL_DELIMITERS.isdisjoint(local):
        return _registrable_domain(domain)
    return public_suffixes()(address).fqdn != ""


@lru_cache(maxsize=4096)
def _registrable_domain(domain: str) -> bool:
    return public_suffixes()(domain).fqdn != ""
