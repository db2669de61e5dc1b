"""GITHUB_TOKEN: classic (ghp_/gho_/ghu_/ghs_/ghr_) and fine-grained (github_pat_) tokens.

Classic tokens are 30 random base62 characters and a 6-character base62 CRC32 of them (GitHub's
2021 token format): one with a wrong checksum scores 0.3, below every rule.
"""

from __future__ import annotations

import re

from agent.classify.filters import TOKEN_FILTERS
from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, filtered
from agent.classify.validators import crc32_base62_valid


def token_assessment(text: str, match: re.Match[str], body: str, score: float) -> Assessment:
    """Shared by the token recognizers: the token filters drop placeholders, real tokens score ``score``."""
    return filtered(TOKEN_FILTERS, body, text, match.start(), match.end()) or Assessment(score)


class GithubTokenRecognizer(DwPatternRecognizer):
    """Prefixed GitHub tokens: 0.85 (prefixes are specific, no context needed); 0.3 with a bad checksum."""

    ENTITY = "GITHUB_TOKEN"
    PATTERNS = (
        ("classic", r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])", 0.85),
        ("fine-grained", r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}(?![A-Za-z0-9_])", 0.85),
    )
    TRIGGER = r"gh[pousr]_|github_pat_"
    MAX_LEN = 270

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        verdict = token_assessment(text, match, match.group().split("_", 1)[1], base_score)
        if verdict.rejected_by or match.group().startswith("github_pat_"):
            return verdict
        # classic tokens end in the base62 CRC32 of their random part: a wrong one is made up
        return verdict if crc32_base62_valid(match.group()) else Assessment(0.3)
