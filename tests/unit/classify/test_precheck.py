"""A recognizer's ``PRECHECK`` (an RE2 regex every match holds, in ASCII text) skips only regions where
no pattern matches: the secret recognizer finds the same with and without it."""

from __future__ import annotations

import itertools
import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.classify.re2raw import ascii_holds
from agent.classify.recognizers.generic_secret import GenericSecretRecognizer


class _NoPrecheck(GenericSecretRecognizer):
    PRECHECK = None


_VALUE_CHARS = "abcXYZ0189+/=_-"
_PIECES = [
    "'",
    '"',
    "=",
    ":",
    " ",
    "\t",
    "\n",
    "\r\n",
    "basic",
    "Basic",
    "BASIC",
    "!!binary",
    "key",
    "#",
    ".",
    "é",
]
_TEXT = st.lists(
    st.one_of(
        st.sampled_from(_PIECES),
        st.text(alphabet=_VALUE_CHARS, min_size=18, max_size=24),
        st.text(alphabet="aB7kQz9Xw2Lm", min_size=20, max_size=22),  # varied enough to pass as a secret
    ),
    max_size=14,
).map("".join)


def _regions(text: str, cuts: list[int]) -> list[tuple[int, int]]:
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    return list(itertools.pairwise(bounds))


@settings(max_examples=400, deadline=None)
@given(text=_TEXT, cuts=st.lists(st.integers(0, 300), max_size=4))
@example(text="BASIC aB7kQz9Xw2Lmaaaaaaaaaaaa", cuts=[])
@example(text="x: !!binary  aB7kQz9Xw2Lm0189+/=_-", cuts=[])
def test_every_match_holds_the_precheck(text: str, cuts: list[int]) -> None:
    """The contract itself, whatever ``assess`` then says of the match."""
    holds = ascii_holds(GenericSecretRecognizer.PRECHECK or "")
    patterns = [re.compile(p, GenericSecretRecognizer.FLAGS) for _, p, _ in GenericSecretRecognizer.PATTERNS]
    for lo, hi in _regions(text, cuts):
        if text[lo:hi].isascii() and any(rx.search(text, lo, hi) for rx in patterns):
            assert holds(text[lo:hi])


@settings(max_examples=200, deadline=None)
@given(text=_TEXT, cuts=st.lists(st.integers(0, 300), max_size=4))
def test_results_are_the_same_without_the_precheck(text: str, cuts: list[int]) -> None:
    regions = _regions(text, cuts)
    fast, slow = (
        GenericSecretRecognizer().analyze_regions(text, regions),
        _NoPrecheck().analyze_regions(text, regions),
    )
    assert [(r.start, r.end, r.score) for r in fast] == [(r.start, r.end, r.score) for r in slow]


def test_prose_regions_are_skipped() -> None:
    rec = GenericSecretRecognizer()
    skip = rec._skip()
    assert skip is not None
    text = "See https://intranet.example.org/Documents/QuarterlyReportsFinal for the figures."
    assert skip(text, 0, len(text))
    assert not skip("token = 'aB7kQz9Xw2LmaB7kQz9X'", 0, 30)
    assert not skip("Tökën = aB7kQz9Xw2LmaB7kQz9X", 0, 28)  # not ASCII: not prechecked
