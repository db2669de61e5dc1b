"""An excerpt blanks field values, protected values and neighbouring values only where they meet the
few characters it shows: the same excerpt as blanking them over the whole window searched for labels
(the reference below is that earlier form, kept to compare against)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.redact import _FIELD_REACH, Redactor, _scrub, field_spans, mask


def _blank_reference(text: str, spans: Sequence[tuple[int, int]], keep: range) -> str:
    chars = list(text)
    for a, b in spans:
        for i in range(max(0, a), min(len(chars), b)):
            if i not in keep and chars[i].isalnum():
                chars[i] = "*"
    return "".join(chars)


def _mask_fields_reference(text: str, own_start: int, own_len: int) -> str:
    own = range(own_start, own_start + own_len)
    return _blank_reference(text, field_spans(text, own_start, own_len), own)


def _excerpt_reference(
    r: Redactor, value: str, entity: str, context: str, start: int, other_spans: Sequence[tuple[int, int]]
) -> str:
    """Redactor.excerpt as it was: every span blanked over the whole wide window, then cut."""
    masked = mask(value, entity)
    wide_lo = max(0, start - r.context_chars - _FIELD_REACH)
    wide = context[wide_lo : start + len(value) + r.context_chars + _FIELD_REACH]
    at_wide = (start - wide_lo, len(value))
    blanked = _mask_fields_reference(wide, *at_wide)
    protected = [span for find in r.protected for span in find(wide)]
    if protected:
        blanked = _blank_reference(blanked, protected, range(at_wide[0], at_wide[0] + at_wide[1]))
    context = context[:wide_lo] + blanked
    lo = max(0, start - r.context_chars)
    shown = context[lo : start + len(value) + r.context_chars]
    at = start - lo
    if other_spans:
        chars = list(shown)
        own = range(at, at + len(value))
        for s, e in other_spans:
            for i in range(max(0, s - lo), min(len(chars), e - lo)):
                if i not in own and not chars[i].isspace():
                    chars[i] = "*"
        shown = "".join(chars)
    return f"{_scrub(shown[:at])}[{masked}]{_scrub(shown[at + len(value) :])}"


def _protected_names(text: str) -> list[tuple[int, int]]:
    """What an EDM index's finder returns: the spans of a known customer name."""
    return [m.span() for m in re.finditer("Zoé Ab", text)]


#: Words, labels, separators of fields and cells, a protected name, non-ASCII letters and digits.
WORDS = st.sampled_from(["ab", "Zoé Ab", "12", "x=", "Holder:", "://", " ", "\t", "\n", ";", "|", "é", "٣"])


@st.composite
def excerpt_cases(draw: Callable) -> tuple:
    context = "".join(draw(st.lists(WORDS, min_size=1, max_size=150)))
    start = draw(st.integers(0, len(context) - 1))
    value = context[start : start + draw(st.integers(1, 30))]
    at = st.integers(-40, len(context) + 40)
    spans = st.lists(st.tuples(at, st.integers(0, 60)).map(lambda t: (t[0], t[0] + t[1])), max_size=5)
    return context, start, value, draw(spans)


@settings(max_examples=600, deadline=None)
@given(excerpt_cases(), st.sampled_from([24, 3, 0]), st.booleans(), st.sampled_from(["IBAN_CODE", "JWT"]))
def test_excerpt_equals_blanking_the_whole_window(case: tuple, side: int, protect: bool, entity: str) -> None:
    """Any context (fields, records, lines), value, neighbours reaching out of the context,
    protected names, shown widths."""
    context, start, value, others = case
    r = Redactor(b"k" * 32, context_chars=side, protected=(_protected_names,) if protect else ())
    assert r.excerpt(value, entity, context, start, others) == _excerpt_reference(
        r, value, entity, context, start, others
    )
