"""US_SSN: US Social Security numbers, as Presidio's UsSsnRecognizer finds and prunes them.

Patterns, scores and context words are Presidio's (presidio-analyzer, MIT licence, Copyright (c)
Microsoft Corporation): nine digits grouped 3-2-4 with one delimiter kind score 0.5, other groupings
and a bare run of nine 0.05 (an SSN word nearby adds 0.35). A match is dropped when its delimiters
differ, its digits are all the same, a group is all zeros, the area is one the SSA never issues (000,
666) or it is a published sample number.
"""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment
from agent.classify.recognizers.regexmod import RegexModuleRecognizer

#: Numbers printed as examples: the Woolworth wallet card's 078-05-1120, the first of the range set
#: aside for advertisements (987-65-4320), and 123-45-6789.
SAMPLES = frozenset({"123456789", "987654320", "078051120"})
_DELIMITERS = frozenset(".- ")


class UsSsnRecognizer(RegexModuleRecognizer):
    """Nine digits in SSN groupings; 0.5 when grouped 3-2-4, 0.05 otherwise; pruned as Presidio does."""

    ENTITY = "US_SSN"
    PATTERNS = (
        ("SSN1 (very weak)", r"\b([0-9]{5})-([0-9]{4})\b", 0.05),
        ("SSN2 (very weak)", r"\b([0-9]{3})-([0-9]{6})\b", 0.05),
        ("SSN3 (very weak)", r"\b(([0-9]{3})-([0-9]{2})-([0-9]{4}))\b", 0.05),
        ("SSN4 (very weak)", r"\b[0-9]{9}\b", 0.05),
        ("SSN5 (medium)", r"\b([0-9]{3})[- .]([0-9]{2})[- .]([0-9]{4})\b", 0.5),
    )
    CONTEXT = ("social", "security", "ssn", "ssns", "ssid")
    TRIGGER = r"\d{3}[- .]?\d{2}[- .]?\d{4}"
    MAX_LEN = 12
    TRIGGER_IN_DIGIT_RUNS = True
    UNION_PRECHECK = True  # five patterns; most digit runs the trigger finds are no SSN

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        value = match.group()
        if len(_DELIMITERS.intersection(value)) > 1:
            return None
        digits = "".join(c for c in value if c not in _DELIMITERS)
        if not ssn_plausible(digits):
            return None
        return Assessment(base_score)


def ssn_plausible(digits: str) -> bool:
    """Whether nine digits could be an issued SSN: not all one digit, no all-zero group, an area the
    SSA issues (never 000 or 666), not a published sample."""
    return (
        digits.count(digits[0]) != len(digits)
        and digits[3:5] != "00"
        and digits[5:] != "0000"
        and digits[:3] not in ("000", "666")
        and digits not in SAMPLES
    )
