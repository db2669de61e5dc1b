"""Patterns rewritten digit first (``(?<!X)\\d`` as ``\\d(?<!X\\d)``, so that ``re`` skips to digits) find
exactly what the look-behind-first originals found: same spans and groups, with ``pos``/``endpos``
inside a text (the fast path runs them over regions, their look-behinds reading before ``pos``)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.classify.recognizers.bank_account import BankAccountRecognizer
from agent.classify.recognizers.credit_card import CreditCardRecognizer

_BREAK = r"(?:[ ]|[ \t]{0,2}\r?\n[ \t]{0,3})"
#: The patterns as they were written before (look-behind first).
_ORIGINAL = {
    "grouped 4-4-4-4(-3)": r"(?<![\w.-])\d{4}([ .-])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?(?![\w-]|\.\d)",
    "grouped 4-6-4/5": r"(?<![\w.-])\d{4}([ .-])\d{6}\1\d{4,5}(?![\w-]|\.\d)",
    "contiguous": r"(?<![\w.-])\d{12,19}(?![\w-]|\.\d)",
    "spread": rf"(?<![\w.-])\d{{4}}(?:{_BREAK}?\d{{4}}){{2,3}}(?:{_BREAK}\d{{3}})?(?![\w-]|\.\d)",
    "digits": r"(?<![\w.,/:-])\d{8,17}(?![\w/:-]|[.,]\d)",
}
_NOW = {name: regex for name, regex, _ in (*CreditCardRecognizer.PATTERNS, *BankAccountRecognizer.PATTERNS)}

#: Groups of digits joined by one separator, as grouped cards are written (which digits does not matter).
_GROUPED = st.builds(
    lambda sep, sizes: sep.join("5" * n for n in sizes),
    st.sampled_from([" ", ".", "-", "\n", " \n"]),
    st.lists(st.sampled_from([4, 4, 4, 4, 4, 6, 5, 3, 1]), min_size=2, max_size=5),
)
#: Runs and groups of digits (ASCII and others) between the characters the look-arounds test.
_TEXT = st.lists(
    st.one_of(
        _GROUPED,
        st.from_regex(r"[0-9]{1,20}", fullmatch=True),
        st.from_regex(r"\d{1,4}", fullmatch=True),
        st.sampled_from(list(" .-_/,:\n\t\rab")),
    ),
    max_size=12,
).map("".join)


def _found(rx: re.Pattern[str], text: str, pos: int, endpos: int) -> list[tuple[tuple[int, int], tuple]]:
    return [(m.span(), m.groups()) for m in rx.finditer(text, pos, endpos)]


def test_every_pattern_has_its_original() -> None:
    assert set(_NOW) == set(_ORIGINAL)
    assert all(_NOW[name] != _ORIGINAL[name] for name in _NOW)


@pytest.mark.parametrize("name", sorted(_NOW))
@settings(max_examples=200, deadline=None)
@given(text=_TEXT, cut=st.tuples(st.integers(0, 200), st.integers(0, 200)))
@example(text="x-5555 5555 5555 5555 y.5555.555555.5555 z_5555555555555 .5555\n5555 5555 5555", cut=(0, 200))
def test_digit_first_finds_what_the_original_found(text: str, cut: tuple[int, int], name: str) -> None:
    pos, endpos = min(cut), max(cut)
    original, now = re.compile(_ORIGINAL[name], re.MULTILINE), re.compile(_NOW[name], re.MULTILINE)
    assert _found(now, text, pos, endpos) == _found(original, text, pos, endpos)
    assert _found(now, text, 0, len(text)) == _found(original, text, 0, len(text))


def test_a_digit_run_cut_by_pos_is_read_whole() -> None:
    """The look-behind reads the character before ``pos``: a region starting inside a number does not
    make the number's tail a match."""
    rx = re.compile(_NOW["contiguous"])
    text = "x 12345678901234567 y"
    assert _found(rx, text, 0, len(text)) == [((2, 19), ())]
    assert _found(rx, text, 4, len(text)) == []
