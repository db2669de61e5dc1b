"""The prefilter compiles a trigger's own regex only when the set reports it, and finds the same
windows as when every trigger is compiled up front."""

from __future__ import annotations

import pytest
import re2

from agent.classify import Classifier
from agent.classify.prefilter import Prefilter, Trigger

TEXTS = (
    "Reach me at +41 44 668 18 00 or write to anna.muster@example.com today.",
    "IBAN CH93 0076 2011 6238 5295 7 and card 4111 1111 1111 1111, then a long quiet tail " * 3,
    "Ünïcode prefix, then host 10.1.2.3 and https://intranet.example.org/x, 078-05-1123.",
    "nothing of interest here at all",
    "",
)


def _triggers() -> tuple[Trigger, ...]:
    prefilter = Classifier()._prefilter
    assert prefilter is not None
    return prefilter.triggers


def _compiled(p: Prefilter) -> set[str]:
    return {
        t.entity + ":" + t.pattern for t, rx in zip(p.triggers, p._located, strict=True) if rx is not None
    }


def test_nothing_is_compiled_before_a_text_needs_it() -> None:
    p = Prefilter(_triggers())
    assert _compiled(p) == set()
    assert p.spans("nothing of interest here at all") == {}
    assert _compiled(p) == set()
    p.spans("card 4111 1111 1111 1111")
    assert 0 < len(_compiled(p)) < len(p.triggers)


@pytest.mark.parametrize("text", TEXTS)
def test_lazy_windows_equal_the_windows_of_all_triggers_compiled(text: str) -> None:
    eager = Prefilter(_triggers())
    for index in range(len(eager.triggers)):
        eager._locator(index)
    lazy = Prefilter(_triggers())
    assert lazy.spans(text) == eager.spans(text)
    assert lazy.spans(text) == eager.spans(text)  # and again, with what the first call compiled


def test_a_broken_trigger_still_fails_at_construction() -> None:
    with pytest.raises(re2.error):  # the set's compile checks every trigger
        Prefilter([Trigger("X", "(unclosed", max_len=5)])
