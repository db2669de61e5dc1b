"""The context windows' fast normalisation equals the packs' own (agent.policy.compiled.normalise_text),
so a context or not_context word decides the same whichever path a window takes."""

from __future__ import annotations

import string
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

import agent.policy.evaluate  # noqa: F401 - the module, not the function the package re-exports
from agent.policy.compiled import normalise_text

_normalised = sys.modules["agent.policy.evaluate"]._normalised

#: Every ASCII character, with letters of both cases weighted up so camel-case joints are common.
ASCII = "".join(chr(c) for c in range(128)) + "aAzZmMqQ" * 8


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=ASCII, max_size=60))
def test_ascii_windows_normalise_as_the_packs_do(text: str) -> None:
    """ASCII text (control characters, separators, camelCase, digits) takes the bytes path."""
    assert text.isascii()
    assert _normalised(text) == normalise_text(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_window_normalises_as_the_packs_do(text: str) -> None:
    """Other text (accents, ligatures, other scripts) goes to normalise_text itself."""
    assert _normalised(text) == normalise_text(text)


def test_examples_of_each_rule_of_normalisation() -> None:
    """Camel case splits, case folds, non-word runs (underscores too) become one space."""
    cases = {
        "accountHolder: Jane": " account holder jane ",
        "DB_PASSWORD=x": " db password x ",
        "IBAN\tDE36\n": " iban de36 ",
        "a1B2cD": " a1b2c d ",
        "": "  ",
        string.punctuation: "  ",
    }
    for text, expected in cases.items():
        assert _normalised(text) == normalise_text(text) == expected
