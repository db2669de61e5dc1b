"""A rule's context phrases compile to one alternation factored by common prefixes (phrase_regex): it
must accept exactly the phrases a plain list of them accepts, so a context or not_context word decides
the same as before, only faster."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.classify import Classifier
from agent.policy import load_policies
from agent.policy.compiled import _factored, phrase_regex, phrases
from agent.policy.shipped import default_policy_dirs

#: Few letters (so phrases share prefixes and extend one another), a space, regex syntax, an accent.
ALPHABET = "ab c.*(\\|?ä"
WORDS = "ab cä-"  # words as a pack writes them, before normalise_text
PHRASE_LISTS = st.lists(st.text(alphabet=ALPHABET, max_size=6), min_size=1, max_size=12, unique=True)


@settings(max_examples=400, deadline=None)
@given(PHRASE_LISTS, st.text(alphabet=ALPHABET, max_size=8))
def test_factored_alternation_matches_exactly_the_phrases(found: list[str], text: str) -> None:
    factored = re.compile("(?:" + _factored(found, 0) + ")")
    assert (factored.fullmatch(text) is not None) is (text in found)
    for p in found:
        assert factored.fullmatch(p) is not None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=WORDS, min_size=1, max_size=8), max_size=10), st.text(WORDS, max_size=40))
def test_phrase_regex_finds_a_phrase_as_a_plain_list_does(words: list[str], window: str) -> None:
    regex = phrase_regex(words)
    found = phrases(words)
    if regex is None:
        assert not found
        return
    plain = any(f" {p} " in window for p in found)
    assert (regex.search(window) is not None) is plain


def test_phrases_extending_each_other_past_the_nesting_bound_still_match() -> None:
    words = ["x" * n for n in range(1, 200)]
    regex = phrase_regex(words)
    assert regex is not None
    assert regex.search(" " + "x" * 150 + " ") is not None
    assert regex.search(" " + "x" * 200 + " ") is None


def test_shipped_rules_phrases_each_match_and_their_prefixes_as_a_plain_list_does() -> None:
    """Every shipped phrase list: each phrase is found in a window; each phrase cut short is found
    exactly when it is itself a phrase or holds one (a plain list's answer)."""
    rules = load_policies(default_policy_dirs(), Classifier.known_entities()).rules
    lists = {words for r in rules for words in (r.context, r.not_context) if words}
    assert len(lists) > 3
    for words in lists:
        regex = phrase_regex(words)
        assert regex is not None
        found = phrases(words)
        for p in found:
            assert regex.search(f" hello {p} world ") is not None, p
            for cut in {p[:-1], p[: len(p) // 2], p[1:]}:
                window = f" {cut} "
                plain = any(f" {q} " in window for q in found)
                assert (regex.search(window) is not None) is plain, cut
