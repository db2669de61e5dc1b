"""SWIFT_BIC: 8 or 11 character bank identifier codes; low base score, a context word makes it 0.55."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.validators import COUNTRY_CODES


class SwiftBicRecognizer(DwPatternRecognizer):
    """BICs: 4 letters bank, 2 letters ISO country, 2 alnum location, optional 3 alnum branch."""

    ENTITY = "SWIFT_BIC"
    PATTERNS = (("bic", r"(?<![A-Za-z0-9])[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?(?![A-Za-z0-9])", 0.2),)
    CONTEXT = ("swift", "bic", "bank", "swift code", "bic code", "banque", "banca", "institut")
    TRIGGER = r"[A-Z]{6}[A-Z0-9]{2}"
    MAX_LEN = 11

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        value = match.group()
        if value[4:6] not in COUNTRY_CODES:
            return None
        if len(value) == 11 and value[8:].isdigit() is False and value[8:].isalpha() and value.isalpha():
            base_score = 0.15  # eleven letters is more often a shouted word than a BIC
        return Assessment(base_score)
