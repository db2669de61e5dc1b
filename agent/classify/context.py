"""Context-word score boosting in linear time.

Presidio's LemmaContextAwareEnhancer scans the whole token list for every result (and tests keyword
membership in a list), which is superlinear: 1 MB of text took 50 s instead of 4 s. This enhancer finds
the match's token by bisection and looks only at a bounded neighbourhood:

* up to :data:`PREFIX_TOKENS` (5, like Presidio) word tokens before the match and :data:`SUFFIX_TOKENS`
  (3; Presidio uses 0, but labels such as "IBAN DE.. (account)" and key/value files put the hint after)
  word tokens after it; punctuation tokens are skipped and do not count;
* and only tokens lying within :data:`MAX_CONTEXT_CHARS` characters of the match, so the decision never
  depends on text further away (the prefilter windows rely on this bound);
* whole-word matching: a token equals the context word (lowercase); "lic" does not match "policy".
  Multi-word context ("secret key") matches consecutive tokens.

Boost as Presidio does: +0.35, at least 0.4, at most 1.0. Results whose metadata says they are already
context-enhanced (our recognizers set it on placeholder/example values) are left alone.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence

from agent.classify.results import IS_SCORE_ENHANCED_BY_CONTEXT_KEY as _META_ENHANCED
from agent.classify.results import MAX_SCORE, Recognizer, Result
from agent.classify.results import RECOGNIZER_IDENTIFIER_KEY as _META_ID
from agent.classify.tokenizer import MAX_TOKEN, Tokens, tokenize

PREFIX_TOKENS = 5
SUFFIX_TOKENS = 3
MAX_CONTEXT_CHARS = 160


#: A letter or digit: ``[^\W_]`` is exactly ``str.isalnum`` per character (checked over all of Unicode).
_WORD_CHAR = re.compile(r"[^\W_]").search


def _is_word(token: str) -> bool:
    return _WORD_CHAR(token) is not None


class _Neighbourhoods:
    """Tokens around many results, each overlapping run of neighbourhoods tokenised once.

    Results cluster (a planted card line holds a card, an IBAN and an SSN), so tokenising each
    result's ``[start - reach, end + reach)`` alone tokenised most characters two or three times. A
    merged span's tokens equal the whole text's wherever a single neighbourhood's do (its cut edges
    lie further out: see :meth:`Tokens.local`), and the enhancer reads only tokens within
    ``max_context_chars`` of the result, which both bisect to alike.
    """

    def __init__(self, tokens: Tokens, spans: list[tuple[int, int]]) -> None:
        self._source = tokens
        self._group = [0] * len(spans)
        self._merged: list[tuple[int, int]] = []
        for k in sorted(range(len(spans)), key=spans.__getitem__):
            lo, hi = spans[k]
            if self._merged and lo <= self._merged[-1][1]:
                self._merged[-1] = (self._merged[-1][0], max(self._merged[-1][1], hi))
            else:
                self._merged.append((lo, hi))
            self._group[k] = len(self._merged) - 1
        self._tokens: dict[int, tuple[list[int], list[str]]] = {}

    def tokens(self, k: int) -> tuple[list[int], list[str]]:
        """Token starts and lemmas of the merged span holding the ``k``-th neighbourhood."""
        g = self._group[k]
        found = self._tokens.get(g)
        if found is None:
            found = self._tokens[g] = self._source.local(*self._merged[g])
        return found


class LinearContextEnhancer:
    """Whole-word, bounded-window context enhancer; O(results x window) instead of O(results x tokens)."""

    def __init__(
        self,
        context_similarity_factor: float = 0.35,
        min_score_with_context_similarity: float = 0.4,
        context_prefix_count: int = PREFIX_TOKENS,
        context_suffix_count: int = SUFFIX_TOKENS,
        max_context_chars: int = MAX_CONTEXT_CHARS,
    ) -> None:
        self.context_similarity_factor = context_similarity_factor
        self.min_score_with_context_similarity = min_score_with_context_similarity
        self.context_prefix_count = context_prefix_count
        self.context_suffix_count = context_suffix_count
        self.max_context_chars = max_context_chars
        self._phrases: dict[str, tuple[str, ...]] = {}
        self._context_keys: dict[str, tuple[tuple[str, ...], re.Pattern[str] | None]] = {}

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[Result],
        tokens: Tokens,
        recognizers: Sequence[Recognizer],
        context: Sequence[str] | None = None,
    ) -> list[Result]:
        """Raise, in place, the score of each result with one of its recognizer's context words near."""
        by_id = {r.id: r for r in recognizers}
        extra = tuple(w.lower() for w in context or ())
        todo: list[tuple[Result, Recognizer]] = []
        for result in raw_results:
            meta = result.recognition_metadata
            recognizer = by_id.get(str(meta.get(_META_ID)))
            if recognizer is None or not recognizer.context or meta.get(_META_ENHANCED):
                continue
            if result.score >= MAX_SCORE:  # nothing to raise (validated e-mails)
                continue
            if not extra and not self._may_have_context(text, result.start, result.end, recognizer):
                continue
            todo.append((result, recognizer))
        if not todo:
            return raw_results
        reach = self.max_context_chars + MAX_TOKEN + 1
        near = _Neighbourhoods(tokens, [(r.start - reach, r.end + reach) for r, _ in todo])
        for k, (result, recognizer) in enumerate(todo):
            meta = result.recognition_metadata
            if meta.get(_META_ENHANCED):  # its metadata is shared with a result enhanced just before
                continue
            starts, lemmas = near.tokens(k)
            words = self.surrounding_words(starts, lemmas, result.start, result.end) + list(extra)
            if self.supporting_word(words, recognizer.context) is None:
                continue
            result.score = min(
                MAX_SCORE,
                max(result.score + self.context_similarity_factor, self.min_score_with_context_similarity),
            )
            meta[_META_ENHANCED] = True
        return raw_results

    def _may_have_context(self, text: str, start: int, end: int, recognizer: Recognizer) -> bool:
        """Cheap necessary condition: the longest word of some context phrase occurs near the result.

        Every token the enhancer may use lies within ``max_context_chars`` of the result, and a token
        equals a context word only if that word occurs there. A word of one or two letters ("a" of
        "a/c") must also be a token: alone, or the first or last piece of a run longer than MAX_TOKEN
        (such runs are cut into pieces). Most results (a phone number in a log line) have no context
        word near them and skip tokenisation altogether.
        """
        keys = self._context_keys.get(recognizer.id)
        if keys is None:
            longest = {max(p, key=len) for p in map(self._phrase, recognizer.context) if p}
            run = rf"[^\W_]{{{MAX_TOKEN - 1}}}"  # the rest of a run long enough to be cut
            # literal first, so re's fast literal search drives the scan; the checks look back over it
            short = "|".join(
                rf"{e}(?:(?<![^\W_]{e})(?:(?![^\W_])|(?={run}))|(?<={run}{e})(?![^\W_]))"
                for e in (re.escape(k) for k in sorted(longest) if len(k) <= 2)
            )
            short_rx = re.compile(short) if short else None
            long = [k for k in longest if len(k) > 2]
            # a key holding a shorter key ("telephone", "tel") is present only if that one is too
            minimal = [k for k in long if not any(o != k and o in k for o in long)]
            keys = (tuple(sorted(minimal, key=len)), short_rx)
            self._context_keys[recognizer.id] = keys
        long_keys, short_rx = keys
        pad = self.max_context_chars + MAX_TOKEN + 1  # whole runs around the bounded neighbourhood
        near = text[max(0, start - pad) : end + pad].lower()
        for k in long_keys:  # a plain loop: any() over a generator costs a frame switch per key
            if k in near:
                return True
        return short_rx is not None and short_rx.search(near) is not None

    def surrounding_words(self, starts: list[int], lemmas: list[str], start: int, end: int) -> list[str]:
        """Lowercase word tokens before and after [start, end), bounded in count and in characters."""
        before: list[str] = []
        i = bisect_left(starts, start) - 1
        while (
            i >= 0 and len(before) < self.context_prefix_count and starts[i] >= start - self.max_context_chars
        ):
            if starts[i] + len(lemmas[i]) <= start and _is_word(lemmas[i]):
                before.append(lemmas[i])
            i -= 1
        before.reverse()
        after: list[str] = []
        j = bisect_left(starts, end)
        while (
            j < len(starts)
            and len(after) < self.context_suffix_count
            and starts[j] + len(lemmas[j]) <= end + self.max_context_chars
        ):
            if _is_word(lemmas[j]):
                after.append(lemmas[j])
            j += 1
        return before + after

    def supporting_word(self, words: list[str], context_words: Sequence[str]) -> str | None:
        """The first context word found as a whole word (or consecutive words) in ``words``."""
        present = set(words)
        for cw in context_words:
            phrase = self._phrase(cw)
            if not phrase:
                continue
            if len(phrase) == 1:
                if phrase[0] in present:
                    return cw
                continue
            n = len(phrase)
            if any(tuple(words[k : k + n]) == phrase for k in range(len(words) - n + 1)):
                return cw
        return None

    def _phrase(self, word: str) -> tuple[str, ...]:
        p = self._phrases.get(word)
        if p is None:
            p = tuple(t.lower() for t in tokenize(word)[0] if _is_word(t))
            self._phrases[word] = p
        return p
