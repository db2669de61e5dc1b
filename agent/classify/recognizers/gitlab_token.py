"""GITLAB_TOKEN: personal, deploy, pipeline-trigger and runner tokens (glpat-, gldt-, glptt-, glrt-)."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.recognizers.github_token import token_assessment


class GitlabTokenRecognizer(DwPatternRecognizer):
    """Prefixed GitLab tokens: 0.85."""

    ENTITY = "GITLAB_TOKEN"
    PATTERNS = (
        (
            "token",
            r"(?<![A-Za-z0-9_-])(?:glpat|gldt|glptt|glrt)-[A-Za-z0-9_-]{20,64}(?![A-Za-z0-9_-])",
            0.85,
        ),
    )
    TRIGGER = r"glpat-|gldt-|glptt-|glrt-"
    MAX_LEN = 72

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        return token_assessment(text, match, match.group().split("-", 1)[1], base_score)
