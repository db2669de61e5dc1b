"""GITHUB_TOKEN: classic (ghp_/gho_/ghu_/ghs_/ghr_) and fine-grained (github_pat_) tokens."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, allowlisted
from agent.classify.validators import shannon_entropy


def token_assessment(text: str, match: re.Match[str], body: str, score: float) -> Assessment:
    """Shared by the token recognizers: placeholders and allow-listed lines score 0.1, real ones ``score``."""
    low = body.lower()
    if (
        allowlisted(text, match.start(), match.end())
        or "example" in low
        or "xxxx" in low
        or shannon_entropy(body) < 3.0
    ):
        return Assessment(0.1, final=True)
    return Assessment(score)


class GithubTokenRecognizer(DwPatternRecognizer):
    """Prefixed GitHub tokens: 0.85 (prefixes are specific, no context needed)."""

    ENTITY = "GITHUB_TOKEN"
    PATTERNS = (
        ("classic", r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])", 0.85),
        ("fine-grained", r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,255}(?![A-Za-z0-9_])", 0.85),
    )
    TRIGGER = r"gh[pousr]_|github_pat_"
    MAX_LEN = 270

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        return token_assessment(text, match, match.group().split("_", 1)[1], base_score)
