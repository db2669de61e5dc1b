"""AWS_SECRET_KEY: 40-character secret access keys; needs a context word (or the AWS variable name)."""

from __future__ import annotations

import re

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, filtered
from agent.classify.validators import shannon_entropy


class AwsSecretKeyRecognizer(DwPatternRecognizer):
    """Mixed-case base64 of exactly 40 chars with high entropy: 0.3 alone, 0.65 near "aws"/"secret key"."""

    ENTITY = "AWS_SECRET_KEY"
    PATTERNS = (("secret", r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", 0.3),)
    CONTEXT = (
        "aws_secret_access_key",
        "aws_secret_key",
        "secret_access_key",
        "secretaccesskey",
        "secret key",
        "secret access key",
        "aws",
        "secret",
    )
    TRIGGER = r"[A-Za-z0-9/+]{40}"
    MAX_LEN = 40

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        v = match.group()
        if not (any(c.islower() for c in v) and any(c.isupper() for c in v) and any(c.isdigit() for c in v)):
            return None
        dropped = filtered(("allowlist-pragma", "placeholder"), v, text, match.start(), match.end())
        if dropped:
            return dropped
        if shannon_entropy(v) < 4.0:
            return None
        return Assessment(base_score)
