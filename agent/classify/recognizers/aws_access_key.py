"""AWS_ACCESS_KEY: access key ids (AKIA/ASIA...); AWS's documented EXAMPLE keys are placeholders."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, filtered
from agent.classify.validators import shannon_entropy


class AwsAccessKeyRecognizer(DwPatternRecognizer):
    """Key ids: 0.85; repetitive test ids (AKIATESTTESTTESTTEST) 0.55; ...EXAMPLE ids dropped."""

    ENTITY = "AWS_ACCESS_KEY"
    PATTERNS = (
        (
            "key id",
            r"(?<![A-Za-z0-9])(?:AKIA|ASIA|ABIA|ACCA|AIDA|AROA|ANPA)[A-Z0-9]{16}(?![A-Za-z0-9])",
            0.85,
        ),
    )
    CONTEXT = ("aws", "access key", "aws_access_key_id", "access_key_id", "key id")
    TRIGGER = r"AKIA|ASIA|ABIA|ACCA|AIDA|AROA|ANPA"
    MAX_LEN = 20

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        value = match.group()
        dropped = filtered(("allowlist-pragma", "placeholder"), value, text, match.start(), match.end())
        if dropped:
            return dropped
        if shannon_entropy(value[4:]) < 3.0:
            return Assessment(0.55)
        return Assessment(base_score)
