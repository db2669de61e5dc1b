"""One file, one incident: a nested zip of 4,096 carded copies is one finding per rule, and archive member
limits count across every nesting level. Real zips, the real extractor and pipeline; nothing mocked."""

from __future__ import annotations

import random

import pytest

from agent.demo import group4, luhn_complete
from agent.models import FileRef, Finding, Limits, TextChunk
from agent.pipeline import build_pipeline
from agent.policy.group import MAX_EXCERPTS_SHOWN, MAX_MEMBERS_SHOWN, FileFindings
from tests.unit.extract.builders import errors, nested_zip, run

CARD = group4(luhn_complete("45", 16, random.Random(5)))


@pytest.fixture(scope="module")
def bomb(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("bomb") / "bundle.zip"
    path.write_bytes(nested_zip(f"Card number {CARD} on file\n".encode()))
    return path


def test_member_limit_counts_across_nesting_levels(bomb) -> None:
    """16 members per archive never reach a limit of 100, but 16x16x16 members in one file do: the file
    stops at the 100th member with one limit_members error."""
    items = run(bomb, Limits(max_members=100))
    leaves = {i.member for i in items if isinstance(i, TextChunk)}
    assert errors(items) == [(None, "limit_members")]
    assert 0 < len(leaves) < 100


def test_nested_zip_of_4096_carded_copies_is_one_finding(bomb) -> None:
    """Every leaf is read (4,096 < max_members) and the file yields one card finding that says so."""
    p = build_pipeline(None, b"k" * 32)
    v = p.scan(FileRef(str(bomb), role="contractor-drop", root=str(bomb.parent)))
    assert not v.errors
    cards = [f for f in v.findings if f.rule == "payment-card-number"]
    assert len(v.findings) <= 3 and len(cards) == 1
    f = cards[0]
    assert f.occurrences == 16**3 and f.count == 1  # the same card everywhere: one distinct value
    assert len(f.members) == MAX_MEMBERS_SHOWN and f.members[0].endswith("00-leaf.txt")
    assert len(f.excerpts) == 1 and CARD not in f.excerpts[0]


def _finding(i: int, fingerprint: str, severity: str = "high") -> Finding:
    return Finding(
        path="/z/a.zip", member=f"m{i}.txt", policy="p", rule="r", entity="CREDIT_CARD", severity=severity,  # type: ignore[arg-type]
        score=0.9, line=i, start=0, end=16, excerpt=f"[{fingerprint}]", fingerprint=fingerprint,
    )  # fmt: skip


def test_groups_keep_the_first_occurrence_and_bounded_samples() -> None:
    """The group keeps the first finding's location, counts distinct values and keeps a few samples."""
    acc = FileFindings()
    acc.add([_finding(i, f"fp{i % 7}") for i in range(1_000)])
    (g,) = acc.findings()
    assert (g.member, g.line, g.fingerprint) == ("m0.txt", 0, "fp0")
    assert (g.occurrences, g.count) == (1_000, 7)
    assert len(g.members) == MAX_MEMBERS_SHOWN and len(g.excerpts) == MAX_EXCERPTS_SHOWN


def test_a_single_finding_is_passed_through_unchanged() -> None:
    acc = FileFindings()
    f = _finding(1, "fp")
    acc.add([f])
    assert acc.findings() == (f,)
