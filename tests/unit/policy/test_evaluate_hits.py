"""The scan's hits (agent.policy.evaluate.evaluate_hits: per rule the first finding whole, the others by
fingerprint and excerpt) group into exactly the incidents evaluate()'s findings group into. The real
classifier and shipped packs on generated text; nothing of it is mocked."""

from __future__ import annotations

import random

import pytest

from agent.demo import group4, luhn_complete
from agent.models import Detection, TextChunk
from agent.pipeline import Pipeline, build_pipeline
from agent.policy import DocContext, evaluate
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


@pytest.mark.parametrize("limit", [None, 1, MAX_EXCERPTS_SHOWN])
@pytest.mark.parametrize("seed", range(6))
def test_hits_group_like_findings(pipeline: Pipeline, detections: dict, limit: int | None, seed: int) -> None:
    """Members in any order, repeated, with any excerpt budget: the same incidents either way."""
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
    assert by_hits.findings() == by_findings.findings()
    assert by_findings.findings()  # the texts do raise findings


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
