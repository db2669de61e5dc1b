"""IbanRecognizer judges the role of each span once per analysed text (grouped and spread patterns
both match a printed IBAN): the same roles as judging every match, and nothing kept between texts.
The word lists the roles look for read ASCII text with RE2: the same answers as re's."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from agent.classify.recognizers import iban
from agent.classify.recognizers.base import ATTRIBUTES_KEY
from agent.classify.recognizers.iban import IbanRecognizer, role

IBAN = "DE89 3704 0044 0532 0130 00"
#: Same offsets of the IBAN in each text, different layouts around it: different roles.
LEADS = ("Kunde Anna Muster, IBAN", "Our own account: IBAN", "Please pay to IBAN")
TEXTS = tuple(f"{lead:<30}{IBAN}\n" for lead in LEADS)


def test_roles_are_judged_per_text() -> None:
    rec = IbanRecognizer()
    seen = set()
    start = 30
    for text in TEXTS:
        results = rec.analyze_regions(text, [(0, len(text))])
        assert rec._roles is None  # no text kept alive after the call
        assert len(results) >= 2  # the grouped and the spread pattern both matched it
        for r in results:
            attributes = dict(r.recognition_metadata[ATTRIBUTES_KEY])
            assert attributes["role"] == role(text, r.start, r.end)
            assert (r.start, r.end) == (start, start + len(IBAN))
            seen.add(attributes["role"])
    assert len(seen) == len(TEXTS)


def test_each_span_is_judged_once(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    calls: list[tuple[int, int]] = []

    def counted(text: str, start: int, end: int) -> str:
        calls.append((start, end))
        return role(text, start, end)

    monkeypatch.setattr(iban, "role", counted)
    for text in TEXTS:
        assert len(IbanRecognizer().analyze_regions(text, [(0, len(text))])) >= 2
    assert calls == [(30, 30 + len(IBAN))] * len(TEXTS)


WORD_LISTS = {
    "example": iban._EXAMPLE,
    "own": iban._OWN,
    "payment": iban._PAYMENT,
    "invoice": iban._INVOICE,
    "legal": iban._LEGAL,
    "person key": iban._PERSON_KEY,
}
#: Every word (and piece of one) the lists hold, as written and in other cases.
_PIECES = sorted({w for words in WORD_LISTS.values() for w in re.findall(r"[^\W\d_]+", words.pattern)})
#: What can touch a word: re's ASCII white space (RE2's \s lacks \v and \x1c-\x1f), the boundary
#: characters of the lists, word characters and nothing.
_JOINS = [" ", "  ", "\t", "\n", "\r\n", "\x0b", "\x0c", "\x1c", "\x1f", ".", ". ", "-", "/", "@", "_"]
_JOINS += [":", "=", "'", '"', "x", "7", ""]


@st.composite
def _ascii_texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_JOINS)), max_size=8))
    case = draw(st.sampled_from((str, str.upper, str.lower, str.title)))
    return "".join(case(w) + j for w, j in parts)


@settings(max_examples=1000, deadline=None)
@given(text=_ascii_texts(), name=st.sampled_from(sorted(WORD_LISTS)))
def test_re2_reading_of_the_word_lists_agrees_with_re(text: str, name: str) -> None:
    """On ASCII text the word lists' RE2 reading finds a word exactly where re's look-arounds do."""
    words = WORD_LISTS[name]
    assert words.found(text) is (words.rx.search(text) is not None), (name, text)


@pytest.mark.parametrize(
    ("name", "text", "found"),
    [
        ("payment", "Amount\x0bdue", True),  # a vertical tab is white space to re, not to RE2
        ("payment", "prepayable to", False),
        ("example", "e.g. DE89", True),
        ("example", "dummy.x", False),
        ("legal", "Acme Ltd.", True),
        ("legal", "Acme LTD", False),  # case matters for legal forms
        ("person key", '"lastName": "Roe"', True),
        ("person key", "xdob:", False),
        ("own", "Unsere Spenden: Überweisung", True),  # not ASCII: re reads it
        ("invoice", "Rechnungsnummer", False),
    ],
)
def test_word_lists_on_written_examples(name: str, text: str, found: bool) -> None:
    assert WORD_LISTS[name].found(text) is found
    assert (WORD_LISTS[name].rx.search(text) is not None) is found


_NAME_PIECES = ["Kundin", "customer", "Account", "account", "holder", "Holder", "Mr", "Dr.", "Frau", "Anna"]
_NAME_PIECES += ["Muster", "Jane", "Roe", "von", "de", "Services", "x", "7", "[10:03]", "Policyholder"]
_NAME_JOINS = [" ", "  ", "\t", "\n", ":", ": ", " : ", ",", "<", "(", " - ", "-", "\x0b", "\x1c", ""]


@st.composite
def _name_texts(draw: st.DrawFn) -> str:
    pieces = st.tuples(st.sampled_from(_NAME_PIECES), st.sampled_from(_NAME_JOINS))
    return "".join(w + j for w, j in draw(st.lists(pieces, max_size=10)))


@settings(max_examples=800, deadline=None)
@given(text=_name_texts())
@example(text="x Kundin Jane Roe")
@example(text="Policyholder: x customer Services Team, holder Anna Muster")
def test_re2_name_checks_agree_with_re(text: str) -> None:
    """RE2 finds a person-name field exactly where re does, and a role before a name at or before the
    first place re does (the look-behind dropped: RE2 may find more, then re decides from there)."""
    assert iban._NAME_FIELD_ASCII(text) is (iban._NAME_FIELD.search(text) is not None)
    first = iban._ROLE_NAME.search(text)
    if first:
        assert 0 <= iban._ROLE_NAME_AT(text.encode(), 0) <= first.start()
    reference = any(
        not any(w in iban._NOT_NAME or w in iban._NOT_PERSON for w in m.group("n").split())
        for m in iban._ROLE_NAME.finditer(text)
    )
    assert iban._role_name(text) is reference
