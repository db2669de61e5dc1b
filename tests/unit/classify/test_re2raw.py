"""The wrapper-free re2 searches (agent/classify/re2raw.py) answer as google-re2's own ``search`` does."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.classify import re2raw

_PATTERNS = [r"ab|b\s", r"(?i)(?:^|\W)iban(?:$|\W)", r"\d{2}", r"x*", r"$"]
_TEXT = st.text(alphabet="abAB \n1234iIN-", max_size=40)


def _reference(pattern: str, data: bytes, pos: int) -> int:
    m = re2.compile(pattern).search(data, pos)
    return -1 if m is None else m.start()


@settings(max_examples=300, deadline=None)
@given(pattern=st.sampled_from(_PATTERNS), text=_TEXT, pos=st.integers(0, 45))
def test_first_at_is_search_start(pattern: str, text: str, pos: int) -> None:
    data = text.encode()
    pos = min(pos, len(data))
    assert re2raw.first_at(pattern)(data, pos) == _reference(pattern, data, pos)
    assert re2raw.ascii_holds(pattern)(text) is (re2.compile(pattern).search(text) is not None)


def test_without_the_wrapper_internals_search_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(re2raw, "re2", SimpleNamespace(compile=re2.compile))  # no _Anchor, no _NULL_SPAN
    find = re2raw.first_at(r"\d{2}")
    assert find.__name__ == "wrapped"
    assert (find(b"a 12 34", 0), find(b"a 12 34", 4), find(b"a 1", 0)) == (2, 5, -1)
