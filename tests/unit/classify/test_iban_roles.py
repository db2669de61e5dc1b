"""IbanRecognizer judges the role of each span once per analysed text (grouped and spread patterns
both match a printed IBAN): the same roles as judging every match, and nothing kept between texts."""

from __future__ import annotations

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
    from agent.classify.recognizers import iban

    calls: list[tuple[int, int]] = []

    def counted(text: str, start: int, end: int) -> str:
        calls.append((start, end))
        return role(text, start, end)

    monkeypatch.setattr(iban, "role", counted)
    for text in TEXTS:
        assert len(IbanRecognizer().analyze_regions(text, [(0, len(text))])) >= 2
    assert calls == [(30, 30 + len(IBAN))] * len(TEXTS)
