"""Recognizers declared in YAML policy packs (models.RecognizerSpec), compiled to pattern recognizers.

Semantics: a match scores the pattern's declared score; a validator (none, luhn, iban, mod11, mod97,
entropy) only decides whether the match is kept. Flags are Presidio's defaults (multiline, dot-all,
case-insensitive), so packs written for Presidio behave the same. Custom recognizers have no prefilter
trigger: they always run on the whole text.
"""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.validators import get_validator
from agent.models import RecognizerSpec


class SpecRecognizer(DwPatternRecognizer):
    """One RecognizerSpec; the class attributes are set per instance from the spec."""

    FLAGS = re.MULTILINE | re.DOTALL | re.IGNORECASE

    def __init__(self, spec: RecognizerSpec) -> None:
        self.ENTITY = spec.entity  # type: ignore[misc]
        self.PATTERNS = list(spec.patterns)  # type: ignore[misc]
        self.CONTEXT = list(spec.context)  # type: ignore[misc]
        self._validator = get_validator(spec.validator, spec.min_entropy)
        for _, regex, _ in spec.patterns:
            re.compile(regex)  # fail here, naming nothing secret, rather than at the first scan
        super().__init__()
        self.name = spec.name

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        if self._validator is not None and not self._validator(match.group()):
            return None
        return Assessment(base_score)
