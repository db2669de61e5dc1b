"""GITLAB_TOKEN: GitLab's prefixed tokens, legacy (``glpat-`` + 20 characters) and routable.

Routable tokens (GitLab 17.x and later, every ``gl...-`` prefix that has them: personal, runner,
agent, deploy, ...) end in ``.01.`` + the payload length + a CRC32 over the whole token before it
(``classify/tokensums.py``): one with a wrong length or checksum is made up and scores 0.3, below every
rule, like a GitHub token with a wrong checksum.
"""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.recognizers.github_token import token_assessment
from agent.classify.tokensums import gitlab_routable_valid

_PREFIXES = r"glpat|gldt|glptt|glrt|glrtr|glagent|glcbt|glft|glimt|glsoat|glffct|gloas|glwt"


class GitlabTokenRecognizer(DwPatternRecognizer):
    """Prefixed GitLab tokens: 0.85; a routable one with a wrong checksum 0.3."""

    ENTITY = "GITLAB_TOKEN"
    PATTERNS = (
        (
            "token",
            r"(?<![A-Za-z0-9_-])(?:glpat|gldt|glptt|glrt)-[A-Za-z0-9_-]{20,64}(?![A-Za-z0-9_.-])",
            0.85,
        ),
        (
            "routable token",
            rf"(?<![A-Za-z0-9_-])(?:{_PREFIXES})-[A-Za-z0-9_-]{{27,300}}\.01\.[0-9a-z]{{9}}(?![A-Za-z0-9_-])",
            0.85,
        ),
    )
    TRIGGER = rf"(?:{_PREFIXES})-"
    MAX_LEN = 330

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        value = match.group()
        verdict = token_assessment(text, match, value.split("-", 1)[1], base_score)
        if verdict.rejected_by or ".01." not in value[-14:]:
            return verdict
        return verdict if gitlab_routable_valid(value) else Assessment(0.3)
