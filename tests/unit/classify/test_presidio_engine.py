"""Our engine loop gives what Presidio's AnalyzerEngine gives with the same recognizers (the reference).

The classifier runs recognizers, context words and de-duplication itself, so a scan need not import
Presidio. Here the same recognizers run inside Presidio's ``AnalyzerEngine`` (ours wrapped as Presidio
recognizers, Presidio's predefined ones as they are; presidio_ref.py) over generated documents, and
every result must be the same.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from itertools import combinations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerResult

from agent.classify import Classifier, ClassifierSettings
from agent.classify.presidio import PresidioRecognizer
from agent.classify.results import Recognizer, Result, remove_duplicates
from tests.unit.classify.presidio_ref import AsPresidio, presidio_engine
from tests.unit.classify.test_prefilter import _context, _digit_heavy, _filler, _password_shaped, _plant


def _reference(classifier: Classifier) -> AnalyzerEngine:
    """Presidio's AnalyzerEngine with the classifier's recognizers (Presidio's own unwrapped)."""
    ours: list[Recognizer] = list(classifier._recognizers)
    return presidio_engine([r._rec if isinstance(r, PresidioRecognizer) else AsPresidio(r) for r in ours])


Key = set[tuple[str, int, int, float]]


def _keys(results: Sequence[Result | RecognizerResult]) -> Key:
    return {(r.entity_type, r.start, r.end, round(r.score, 6)) for r in results}


@pytest.fixture(scope="module")
def engines() -> tuple[Classifier, Classifier, AnalyzerEngine]:
    """The classifier `dropwarden scan` builds from the shipped packs plus every built-in entity."""
    from agent.classify.entities import KNOWN_ENTITIES
    from agent.pipeline import default_policy_dirs
    from agent.policy import load_policies

    ps = load_policies(default_policy_dirs(), KNOWN_ENTITIES)
    wanted = frozenset(ps.entities() | KNOWN_ENTITIES)
    settings = ClassifierSettings(entities=wanted, custom=ps.recognizers)
    whole = Classifier(settings, prefilter=False)
    return whole, Classifier(settings), _reference(whole)


def _document(rng: random.Random, parts: int) -> str:
    makers = [lambda r: _context(r) + _plant(r), _password_shaped, _digit_heavy, _filler]
    pieces = [_plant(rng), *(rng.choice(makers)(rng) for _ in range(parts))]
    return "".join(p + rng.choice([" ", "\n", ", ", "\t", " | "]) for p in pieces)


def _both(engines: tuple[Classifier, Classifier, AnalyzerEngine], text: str) -> tuple[Key, Key, Key]:
    whole, fast, presidio = engines
    expected = presidio.analyze(
        text=text,
        language="en",
        entities=whole._entities,
        score_threshold=0.0,
    )
    return _keys(expected), _keys(whole.analyze_text(text)), _keys(fast.analyze_text(text))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), parts=st.integers(3, 80))
def test_engine_equals_presidio_analyzer_engine(
    engines: tuple[Classifier, Classifier, AnalyzerEngine], seed: int, parts: int
) -> None:
    expected, whole, fast = _both(engines, _document(random.Random(seed), parts))
    assert whole == expected
    assert fast == expected


def test_the_comparison_sees_many_entities(engines: tuple[Classifier, Classifier, AnalyzerEngine]) -> None:
    """The generated documents exercise many recognizers, overlaps and context words."""
    rng = random.Random(3)
    expected, whole, _ = _both(engines, " ".join(_document(rng, 60) for _ in range(5)))
    assert whole == expected
    assert len({e for e, *_ in expected}) >= 8
    assert len({s for *_, s in expected}) >= 4  # several scores: context words and validations at work


_SPANS = st.tuples(
    st.sampled_from(["A", "B"]),
    st.integers(0, 12),
    st.integers(0, 6),
    st.sampled_from([0.0, 0.3, 0.5, 0.85, 1.0]),
)


@settings(max_examples=300, deadline=None)
@given(spans=st.lists(_SPANS, max_size=25))
def test_remove_duplicates_is_presidios_rule(spans: list[tuple[str, int, int, float]]) -> None:
    """Same results, in the same order, as Presidio's ``EntityRecognizer.remove_duplicates``."""
    ours = [Result(e, s, s + n, score, {"i": i}) for i, (e, s, n, score) in enumerate(spans)]
    theirs = [
        RecognizerResult(e, s, s + n, score, recognition_metadata={"i": i})
        for i, (e, s, n, score) in enumerate(spans)
    ]
    got = [
        (r.entity_type, r.start, r.end, r.score, r.recognition_metadata["i"]) for r in remove_duplicates(ours)
    ]
    want = [
        (r.entity_type, r.start, r.end, r.score, r.recognition_metadata["i"])
        for r in EntityRecognizer.remove_duplicates(theirs)
    ]
    assert got == want


def test_remove_duplicates_keeps_the_larger_or_better_result() -> None:
    a = Result("X", 0, 10, 0.5)
    inside_lower = Result("X", 2, 5, 0.4)
    inside_higher = Result("X", 2, 5, 0.9)
    other_entity = Result("Y", 2, 5, 0.1)
    kept = remove_duplicates([inside_lower, a, inside_higher, other_entity, Result("X", 0, 10, 0.5)])
    assert kept == [inside_higher, a, other_entity]
    assert all(x is not y for x, y in combinations(kept, 2))
