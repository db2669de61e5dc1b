"""SLACK_TOKEN: bot/user/app/refresh/legacy tokens (xoxa-, xoxb-, xoxe-, xoxo-, xoxp-, xoxr-, xoxs-)."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.recognizers.github_token import token_assessment


class SlackTokenRecognizer(DwPatternRecognizer):
    """Prefixed Slack tokens: 0.85."""

    ENTITY = "SLACK_TOKEN"
    PATTERNS = (("token", r"(?<![A-Za-z0-9-])xox[abeoprs]-[0-9A-Za-z-]{10,250}(?![A-Za-z0-9-])", 0.85),)
    TRIGGER = r"xox[abeoprs]-"
    MAX_LEN = 260

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        return token_assessment(text, match, match.group()[5:], base_score)
