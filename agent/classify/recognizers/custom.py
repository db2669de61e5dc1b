r"""Recognizers declared in YAML policy packs (models.RecognizerSpec), compiled to pattern recognizers.

Semantics: a match scores the pattern's declared score; a validator (none, luhn, iban, mod11, mod97,
entropy, crc32_base62, bech32) and the named false-positive filters (``filters``) only decide whether
the match is kept. A pattern with a named group ``secret`` reports that group only (the keyword
before a value is context, not the secret). Flags are Presidio's defaults (multiline, dot-all,
case-insensitive), so packs written for Presidio behave the same; token formats wrap their regex in
``(?-i:...)``. A recognizer with a ``trigger`` runs only around the trigger's hits (prefilter.py).

Engine: a policy pattern is untrusted input run over untrusted files, so every pattern google-re2
compiles runs on RE2 (linear time: ``(?:a?){40}a{40}`` or ``\w*\w*\w*!`` cannot pin a CPU). There
``\w``, ``\d`` and ``\b`` are ASCII (write ``\pL``, ``\pN`` for other scripts). Only patterns RE2
cannot express (lookarounds, backreferences) run on Python's ``re``, and the loader admits those only
when agent.policy.regexcheck finds no catastrophic-backtracking shape in them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, filtered
from agent.classify.results import Result
from agent.classify.validators import get_validator
from agent.models import RecognizerSpec

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class SpecRecognizer(DwPatternRecognizer):
    """One RecognizerSpec: its entity, patterns and context replace the class's declaration."""

    FLAGS = re.MULTILINE | re.DOTALL | re.IGNORECASE

    def __init__(self, spec: RecognizerSpec, checked: bool = False) -> None:
        """``checked``: the policy loader already compiled every pattern (it refuses a pack whose
        pattern does not compile), so compiling them again here only costs start-up (~60 ms for the
        shipped packs' two hundred formats)."""
        self._validator = get_validator(spec.validator, spec.min_entropy)
        self._filters = spec.filters
        for _, regex, _ in () if checked else spec.patterns:
            re.compile(regex)  # fail here, naming nothing secret, rather than at the first scan
        super().__init__(entity=spec.entity, patterns=spec.patterns, context=spec.context)
        self.name = spec.name

    def compile_pattern(self, pattern: str) -> Any:
        """RE2 when it can express the pattern, else Python's ``re`` (compiled at first use)."""
        return linear_engine(pattern) or super().compile_pattern(pattern)

    def analyze_regions(self, text: str, regions: Iterable[tuple[int, int]]) -> list[Result]:
        """RE2 raises on a str holding a lone surrogate (a name that was not UTF-8, a raw 8-bit mail
        header): then the regions are read again with each surrogate as U+FFFD (same offsets)."""
        regions = tuple(regions)
        try:
            return super().analyze_regions(text, regions)
        except UnicodeEncodeError:
            return super().analyze_regions(_LONE_SURROGATE.sub("\ufffd", text), regions)

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        # group numbers, not names: google-re2's match objects take only numbers
        group = match.re.groupindex.get("secret", 0)
        if group and match.group(group) is None:
            group = 0
        value, (s, e) = match.group(group), match.span(group)
        if self._validator is not None and not self._validator(value):
            return None
        if self._filters:
            dropped = filtered(self._filters, value, text, s, e)
            if dropped:
                return dropped
        return Assessment(base_score, start=s, end=e) if group else Assessment(base_score)


def linear_engine(pattern: str) -> Any:
    """The pattern compiled by google-re2 with the recognizers' flags, or None when RE2 cannot express it."""
    import re2

    options = re2.Options()
    options.log_errors = False  # a lookaround is expected here, not an error worth a line on stderr
    options.case_sensitive = False
    options.dot_nl = True
    try:
        return re2.compile("(?m)" + pattern, options)
    except Exception:  # re2.error; TypeError/ValueError from the wrapper
        return None
