"""Base of the recognizers that keep Presidio's patterns: matched the way Presidio matches them.

E-mail, IP address, US SSN and US bank number used to be Presidio's own recognizers, whose module
import pulls in spaCy (most of a second of start-up). Ours keep their patterns, scores, context words
and validation, and match like Presidio's ``PatternRecognizer``: with the ``regex`` module and its
default flags (DOTALL, MULTILINE, IGNORECASE). The module matters: ``regex``'s ``\\w`` is Unicode's word
property (combining marks, connector punctuation) where ``re``'s is ``str.isalnum``, so with ``re``
an SSN followed by a footnote mark "²" or a digit followed by a combining accent would match
differently, and ``\\b`` with it. tests/unit/classify/test_builtin_own.py compares each recognizer
with Presidio's on generated text.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from agent.classify.recognizers.base import DwPatternRecognizer


class RegexModuleRecognizer(DwPatternRecognizer):
    """A pattern recognizer whose regexes are compiled by ``regex`` with Presidio's default flags."""

    FLAGS: ClassVar[int] = re.DOTALL | re.MULTILINE | re.IGNORECASE  # same bits in ``regex``

    def compile_pattern(self, pattern: str) -> Any:
        import regex  # here, not at import: a text with no email, URL, IP or SSN never loads it (~5 ms)

        return regex.compile(pattern, self.FLAGS)
