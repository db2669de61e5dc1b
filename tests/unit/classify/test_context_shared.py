"""The context enhancer tokenises little around each result: the words and scores the whole text gives."""

from __future__ import annotations

import copy
import random
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.classify.context import LinearContextEnhancer, _ContextKeys
from agent.classify.recognizers.base import DwPatternRecognizer
from agent.classify.results import Result
from agent.classify.tokenizer import MAX_TOKEN, Tokens


class _Licence(DwPatternRecognizer):
    ENTITY = "LICENSE_NO"
    PATTERNS = (("lic", r"\bL-\d{6}\b", 0.3),)
    CONTEXT = ("licence", "permit number", "a")


def _one_at_a_time(text: str, results: list[Result], rec: _Licence) -> list[float]:
    """The scores as the enhancer gave them before: each result's own neighbourhood tokenised alone."""
    enhancer = LinearContextEnhancer()
    reach = enhancer.max_context_chars + MAX_TOKEN + 1
    tokens = Tokens(text)
    scores = []
    for r in results:
        starts, lemmas = tokens.local(r.start - reach, r.end + reach)
        words = enhancer.surrounding_words(starts, lemmas, r.start, r.end)
        if enhancer.supporting_word(words, rec.context) is not None:
            scores.append(min(1.0, max(r.score + 0.35, 0.4)))
        else:
            scores.append(r.score)
    return scores


def _piece(rng: random.Random) -> str:
    value = f"L-{rng.randrange(10**6):06d}"
    return rng.choice(
        [
            value,
            f"Licence {value}",
            f"{value} (permit number)",
            "a" * rng.choice([1, MAX_TOKEN - 1, MAX_TOKEN, MAX_TOKEN + 1, 3 * MAX_TOKEN]),
            "x" * rng.randrange(1, 200),
            "word " * rng.randrange(1, 60),
            "a/c " + value,
            f"licence {'-' * rng.randrange(100, 170)} {value}",  # the word near the 160-character bound
            f"{value} {'=' * rng.randrange(100, 170)} licence",
            ".,;",
        ]
    )


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**32), parts=st.integers(1, 60))
def test_shared_neighbourhoods_score_like_one_result_at_a_time(seed: int, parts: int) -> None:
    rng = random.Random(seed)
    text = "".join(_piece(rng) + rng.choice([" ", "\n", "", " | "]) for _ in range(parts))
    rec = _Licence()
    results = rec.analyze(text)
    rng.shuffle(results)  # the enhancer must not rely on the results' order
    expected = _one_at_a_time(text, copy.deepcopy(results), rec)
    LinearContextEnhancer().enhance_using_context(text, results, Tokens(text), [rec])
    assert [r.score for r in results] == expected


def _span_piece(rng: random.Random) -> str:
    return rng.choice(
        [
            "word",
            "Wörter",
            "İstanbul",  # lowercases to two characters
            "ΟΔΟΣ",
            "a" * rng.choice([1, MAX_TOKEN - 1, MAX_TOKEN, MAX_TOKEN + 1, 3 * MAX_TOKEN]),
            "-" * rng.randrange(1, 150),
            "x_y",
            "L-123456",
            ".,;",
        ]
    )


@settings(max_examples=300, deadline=None)
@given(seed=st.integers(0, 2**32), parts=st.integers(1, 80), whole=st.booleans())
def test_words_from_a_small_span_are_the_whole_texts(seed: int, parts: int, whole: bool) -> None:
    """:meth:`words_near` tokenises a small span first: the words are those of the whole text's tokens
    (runs cut at the span's edges, runs longer than MAX_TOKEN, lemmas longer than their word, the
    text's own ends), whether or not the text was already tokenised as a whole."""
    rng = random.Random(seed)
    text = "".join(_span_piece(rng) + rng.choice([" ", "\n", "", "  "]) for _ in range(parts))
    enhancer = LinearContextEnhancer()
    reference = Tokens(text)
    tokens = Tokens(text)
    if whole:
        assert tokens.words is not None  # tokenise the whole text first
    for _ in range(20):
        start = rng.randrange(len(text))
        end = min(len(text), start + rng.randrange(1, 20))
        expected = enhancer.surrounding_words(reference.starts, reference.lemmas, start, end)
        assert enhancer.words_near(tokens, start, end) == expected


_WINDOW = st.lists(st.sampled_from(["a", "c", "x", "tel", "Tél", "İ", "/", " ", "\t", "-"]), max_size=40).map(
    "".join
)


@settings(max_examples=200, deadline=None)
@given(windows=st.lists(_WINDOW, min_size=1, max_size=12))
def test_neighbourhoods_searched_together_hold_keys_as_each_alone(windows: list[str]) -> None:
    """Joined by newlines, each neighbourhood holds a key exactly when it holds one alone (short keys'
    look-arounds at its edges included)."""
    lowered = [w.lower() for w in windows]
    short = re.compile(r"a(?:(?<![^\W_]a)(?:(?![^\W_])|(?=[^\W_]{3}))|(?<=[^\W_]{3}a)(?![^\W_]))")
    keys = _ContextKeys(["tel", "tél"], short)
    alone = [("tel" in w or "tél" in w or short.search(w) is not None) for w in lowered]
    assert keys.holding(lowered) == alone
    assert _ContextKeys([], short).holding(lowered) == [short.search(w) is not None for w in lowered]
    assert _ContextKeys(["tél"], None).holding(lowered) == ["tél" in w for w in lowered]
