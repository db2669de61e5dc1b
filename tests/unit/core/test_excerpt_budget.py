"""The scan builds only the excerpts a file's incident shows (evaluate's ``excerpts_per_rule``), and its
incidents are the same as with every excerpt built. Real zips, the real extractor and pipeline."""

from __future__ import annotations

import dataclasses
import random

import pytest

from agent.demo import group4, luhn_complete
from agent.models import FileRef, TextChunk
from agent.pipeline import Pipeline, build_pipeline
from agent.policy import DocContext, evaluate
from agent.policy.group import MAX_EXCERPTS_SHOWN, FileFindings
from tests.unit.extract.builders import zip_bytes

PHONES = "".join(f"Call +41 44 2{n:02d} 11 67 today\n" for n in range(10, 30))  # distinct, masked alike
_RNG = random.Random(7)
CARDS = "".join(f"Card {group4(luhn_complete('45', 16, _RNG))} on file\n" for _ in range(6))
#: The second member starts with excerpts the first already showed; the last adds new ones late.
MEMBERS = {"a.txt": PHONES, "b.txt": PHONES + CARDS, "c.txt": CARDS[:60], "d.txt": CARDS + PHONES}


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(None, b"k" * 32)


def _evaluated(p: Pipeline, limit: int | None) -> list:
    """Each member's findings, evaluated with at most ``limit`` distinct excerpts per rule."""
    out = []
    for name, text in MEMBERS.items():
        detections = p.classifier.detect(TextChunk(path="/z/a.zip", member=name, text=text))
        doc = DocContext("/z/a.zip", name, None, "contractor-drop")
        out.append(evaluate(detections, doc, p.policies, p.redactor, excerpts_per_rule=limit).findings)
    return out


def _grouped(per_member: list) -> tuple:
    acc = FileFindings()
    for findings in per_member:
        acc.add(findings)
    return acc.findings()


def test_budgeted_excerpts_group_like_all_excerpts(pipeline: Pipeline) -> None:
    full, budgeted = _evaluated(pipeline, None), _evaluated(pipeline, MAX_EXCERPTS_SHOWN)
    phones = [f for f in full[0] if f.entity == "PHONE_NUMBER"]
    assert len(phones) == 20 and len({f.excerpt for f in phones}) < 20  # repeated excerpts, many values
    for rule in {f.rule for m in budgeted for f in m}:
        for member in budgeted:
            shown = [f.excerpt for f in member if f.rule == rule and f.excerpt]
            assert len(set(shown)) <= MAX_EXCERPTS_SHOWN
    assert any(not f.excerpt for m in budgeted for f in m)  # the budget did leave some out
    unexcerpted = [[dataclasses.replace(f, excerpt="") for f in m] for m in full]
    assert [[dataclasses.replace(f, excerpt="") for f in m] for m in budgeted] == unexcerpted
    assert _grouped(budgeted) == _grouped(full)


def test_scan_incident_equals_grouped_full_evaluation(pipeline: Pipeline, tmp_path) -> None:
    """The scan's verdict (budgeted) against `explain`'s evaluations (every excerpt) grouped by hand."""
    path = tmp_path / "bundle.zip"
    path.write_bytes(zip_bytes({name: text.encode() for name, text in MEMBERS.items()}))
    ref = FileRef(str(path), role="contractor-drop", root=str(tmp_path))
    verdict = pipeline.scan(ref)
    evaluations, errors = pipeline.explain(ref)
    assert not verdict.errors and not errors
    assert verdict.findings == _grouped([e.findings for e in evaluations])
    assert any(len(f.excerpts) == MAX_EXCERPTS_SHOWN for f in verdict.findings)
