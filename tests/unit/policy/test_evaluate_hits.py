"""The scan's hits (agent.policy.evaluate.evaluate_hits: per rule the first finding whole, the others by
fingerprint and excerpt) group into exactly the incidents evaluate()'s findings group into. The real
classifier and shipped packs on generated text; nothing of it is mocked."""

from __future__ import annotations

import random

import pytest

from agent.demo import group4, luhn_complete
from agent.models import Detection, TextChunk
from agent.pipeline import Pipeline, build_pipeline
from agent.policy import DocContext, evaluate, group
from agent.policy.evaluate import evaluate_hits
from agent.policy.group import MAX_EXCERPTS_SHOWN, FileFindings

_RNG = random.Random(11)
PHONES = "".join(f"Call +41 44 2{n:02d} 11 67 today\n" for n in range(10, 40))
CARDS = "".join(f"Card {group4(luhn_complete('45', 16, _RNG))} on file\n" for _ in range(5))
IBANS = (
    "Account holder Jane Roe, IBAN DE36 1895 5597 9711 4710 49, balance EUR 1,200\n"
    "iban\nDE36189555979711471049\nAT331760313721590109\nNL11ERDL9013962459\n"
)
MAILS = "".join(f"Write to user{n}@example.org or user{n % 3}@example.org\n" for n in range(8))
TEXTS = {"phones": PHONES, "cards": CARDS, "ibans": IBANS, "mails": MAILS}


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(None, b"k" * 32)


@pytest.fixture(scope="module")
def detections(pipeline: Pipeline) -> dict[str, list[Detection]]:
    return {
        name: pipeline.classifier.detect(TextChunk(path="/z/a.zip", member=name, text=text))
        for name, text in TEXTS.items()
    }


@pytest.mark.parametrize("kept", [group.MAX_FINGERPRINTS, 4])
@pytest.mark.parametrize("limit", [None, 1, MAX_EXCERPTS_SHOWN])
@pytest.mark.parametrize("seed", range(6))
def test_hits_group_like_findings(
    pipeline: Pipeline,
    detections: dict,
    limit: int | None,
    seed: int,
    kept: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Members in any order, repeated, with any excerpt budget, findings of the names (which come as
    findings) before, between or after them, few distinct values kept: the same incidents either way."""
    monkeypatch.setattr(group, "MAX_FINGERPRINTS", kept)
    rng = random.Random(seed)
    names = [rng.choice(list(TEXTS)) for _ in range(rng.randint(1, 6))]
    role = rng.choice(["contractor-drop", "outbound", "internal"])
    by_findings, by_hits = FileFindings(), FileFindings()
    for i, name in enumerate(names):
        member = None if len(names) == 1 else f"{i}-{name}.txt"
        doc = DocContext("/z/a.zip", member, None, role)
        args = (detections[name], doc, pipeline.policies, pipeline.redactor)
        by_findings.add(evaluate(*args, excerpts_per_rule=limit).findings)
        by_hits.add_hits(evaluate_hits(*args, excerpts_per_rule=limit))
        if rng.random() < 0.3:  # a name holding the same kind of values
            named = evaluate(detections[rng.choice(list(TEXTS))], doc, pipeline.policies, pipeline.redactor)
            by_findings.add(named.findings)
            by_hits.add(named.findings)
    assert by_hits.findings() == by_findings.findings()
    assert by_findings.findings()  # the texts do raise findings


@pytest.mark.parametrize(("kept", "distinct"), [(group.MAX_FINGERPRINTS, 30), (4, 4 + 3 * 26)])
def test_values_repeated_across_members_and_names_count_once(
    pipeline: Pipeline, detections: dict, kept: int, distinct: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same 30 phone numbers in two members and in the name: each counted once, as long as the
    incident keeps that many distinct values; past that, a value not kept counts again."""
    monkeypatch.setattr(group, "MAX_FINGERPRINTS", kept)
    findings = FileFindings()
    for member in ("a.txt", "b.txt"):
        doc = DocContext("/z/a.zip", member, None, "contractor-drop")
        findings.add_hits(evaluate_hits(detections["phones"], doc, pipeline.policies, pipeline.redactor))
    doc = DocContext("/z/a.zip", None, None, "contractor-drop")
    findings.add(evaluate(detections["phones"], doc, pipeline.policies, pipeline.redactor).findings)
    (phones,) = [f for f in findings.findings() if f.rule == "phone-number"]
    assert (phones.count, phones.occurrences) == (distinct, 90)


def test_hits_stand_for_each_finding(pipeline: Pipeline, detections: dict) -> None:
    """A rule's hits carry every finding's fingerprint and excerpt, in order, and the first whole."""
    doc = DocContext("/srv/drop/a.txt", None, None, "contractor-drop")
    args = (detections["phones"], doc, pipeline.policies, pipeline.redactor)
    findings = evaluate(*args, excerpts_per_rule=2).findings
    (hits,) = [h for h in evaluate_hits(*args, excerpts_per_rule=2) if h.first.rule == "phone-number"]
    phones = [f for f in findings if f.rule == "phone-number"]
    assert len(phones) == 30 and hits.first == phones[0]
    assert hits.fingerprints == tuple(f.fingerprint for f in phones)
    assert hits.excerpts == tuple(f.excerpt for f in phones) and "" in hits.excerpts


def test_hits_and_incidents_never_show_a_value_in_their_repr(pipeline: Pipeline, detections: dict) -> None:
    """The hits and an incident being counted hold the values in clear (what fingerprints hash): a log
    line or a traceback that prints them must not show one."""
    doc = DocContext("/srv/drop/a.txt", None, None, "contractor-drop")
    hits = evaluate_hits(detections["phones"], doc, pipeline.policies, pipeline.redactor)
    findings = FileFindings()
    findings.add_hits(hits)
    shown = repr(hits) + repr(findings._groups)
    (phones,) = [h for h in hits if h.first.rule == "phone-number"]
    assert len(phones.messages) == 30
    for message in phones.messages:
        assert message.split("\x00")[1] not in shown
    assert "2101167" not in shown and "210 11 67" not in shown
