"""IBAN_CODE: mod-97-valid IBANs with the registry length of their country, plain or grouped by four."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.validators import IBAN_LENGTHS, iban_valid


class IbanRecognizer(DwPatternRecognizer):
    """IBANs of all registry countries: country code in any case, the rest upper case, grouped by 4 with
    spaces or dashes; valid ones score 0.8, 1.0 with context."""

    ENTITY = "IBAN_CODE"
    PATTERNS = (
        (
            "grouped",
            r"(?<![A-Za-z0-9-])[A-Za-z]{2}\d{2}([ -])[A-Z0-9]{4}(?:\1[A-Z0-9]{4}){1,6}(?:\1[A-Z0-9]{1,3})?"
            r"(?![A-Za-z0-9])",
            0.3,
        ),
        ("contiguous", r"(?<![A-Za-z0-9-])[A-Za-z]{2}\d{2}[A-Z0-9]{11,30}(?![A-Za-z0-9])", 0.3),
    )
    CONTEXT = ("iban", "account", "konto", "compte", "conto", "bank", "bankverbindung", "rib", "coordonnees")
    TRIGGER = r"[A-Za-z]{2}\d{2}[ -]?[A-Z0-9]{4}"
    MAX_LEN = 44

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        value = match.group()
        if value[:2].upper() not in IBAN_LENGTHS:
            return None
        if iban_valid(value):
            return Assessment(0.8, attributes=(("country", value[:2].upper()),))
        sep = value[4]
        if sep in " -":  # a grouped run may have swallowed a following word: try fewer groups
            cut = len(value)
            while (cut := value.rfind(sep, 0, cut)) > 4:
                if iban_valid(value[:cut]):
                    s = match.start()
                    return Assessment(0.8, start=s, end=s + cut, attributes=(("country", value[:2].upper()),))
        return None
