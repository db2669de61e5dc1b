"""The phone-word precheck before a bare digit run (``phone._phone_word_before``) says exactly what
``_PHONE_WORD_BEFORE`` says: the ASCII shortcut may only skip windows where the regex finds nothing."""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.classify.recognizers import phone

#: Phone words in any case (a random case per letter), other words, and characters that fold to ASCII
#: letters under re's IGNORECASE (long s, dotted and dotless i, the Kelvin sign) or carry accents.
_WORD = st.builds(
    lambda word, upper: "".join(c.upper() if u else c for c, u in zip(word, upper, strict=False)),
    st.sampled_from([*phone._WORDS, "account", "ref", "no", "phon", "teleph", "x"]),
    st.lists(st.booleans(), min_size=20, max_size=20),
)
_OTHER = st.sampled_from(
    [" ", ": ", "-", ". ", "\n", "1234", "_", "\u017f", "\u0130", "\u0131", "\u212a", "é", "wha"]
)
_TEXT = st.lists(st.one_of(_WORD, _OTHER), max_size=30).map("".join)


def _reference(text: str, start: int) -> bool:
    return phone._PHONE_WORD_BEFORE.search(text, max(0, start - 64), start) is not None


@settings(max_examples=300, deadline=None)
@given(text=_TEXT, at=st.integers(0, 400))
@example(text="Fax: 12", at=5)
@example(text="WhatsApp 12", at=9)
@example(text="ca\u212a\u017f tel 1", at=9)
def test_precheck_agrees_with_the_regex(text: str, at: int) -> None:
    start = min(at, len(text))
    assert phone._phone_word_before(text, start) == _reference(text, start)


def test_every_ascii_word_holds_a_key() -> None:
    """The shortcut's premise: each ASCII phone word, lower-cased, holds one of the keys."""
    for word in phone._WORDS:
        if word.isascii():
            assert phone._ASCII_KEYS.search(word.lower()), word
