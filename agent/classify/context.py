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
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import TypeVar

import re2

from agent.classify.re2raw import first_at
from agent.classify.results import IS_SCORE_ENHANCED_BY_CONTEXT_KEY as _META_ENHANCED
from agent.classify.results import MAX_SCORE, Recognizer, Result
from agent.classify.results import RECOGNIZER_IDENTIFIER_KEY as _META_ID
from agent.classify.tokenizer import MAX_TOKEN, Tokens, tokenize

PREFIX_TOKENS = 5
SUFFIX_TOKENS = 3
MAX_CONTEXT_CHARS = 160
#: The span tokenised first around a result: in prose five words before and three after lie well
#: inside it. When they do not, the whole bounded neighbourhood is tokenised (the same words).
NEAR_BEFORE = 80
NEAR_AFTER = 48


_S = TypeVar("_S", str, bytes)

#: A letter or digit: ``[^\W_]`` is exactly ``str.isalnum`` per character (checked over all of Unicode).
_WORD_CHAR = re.compile(r"[^\W_]").search


def _is_word(token: str) -> bool:
    return _WORD_CHAR(token) is not None


def _re_search(rx: re.Pattern[str]) -> Callable[[str, int], int]:
    def search(text: str, pos: int) -> int:
        m = rx.search(text, pos)
        return -1 if m is None else m.start()

    return search


def _mark_holding(
    found: list[bool], joined: _S, lengths: list[int], search: Callable[[_S, int], int]
) -> None:
    """Set ``found[k]`` for each window ``k`` of ``joined`` (windows of ``lengths``, one separator
    between them) holding a hit of ``search``: one search per window at most."""
    starts = list(accumulate((n + 1 for n in lengths), initial=0))
    pos = 0
    while pos < len(joined):
        hit = search(joined, pos)
        if hit < 0:
            return
        k = bisect_right(starts, hit) - 1
        found[k] = True
        pos = starts[k + 1]


class _ContextKeys:
    """Words one of which must occur near a result for one of its recognizer's context words to be a
    token there (see :meth:`LinearContextEnhancer._keys_near`), looked for in many neighbourhoods in
    one pass: the neighbourhoods joined by newlines. No key holds a newline (keys are lowercased
    words), and the short keys' look-arounds read one as they read the end of a neighbourhood."""

    def __init__(self, long: list[str], short: re.Pattern[str] | None) -> None:
        # one automaton pass for all long keys: a dozen substring searches cost twice as much
        self._long = first_at("|".join(map(re2.escape, long))) if long else None
        self._short = _re_search(short) if short is not None else None

    def holding(self, windows: list[str]) -> list[bool]:
        """Which of the (lowercase) ``windows`` hold a key."""
        found = [False] * len(windows)
        if self._long is not None:
            data = [w.encode("utf-8", "surrogatepass") for w in windows]  # names: undecodable bytes
            _mark_holding(found, b"\n".join(data), [len(d) for d in data], self._long)
        if self._short is not None and not all(found):
            _mark_holding(found, "\n".join(windows), [len(w) for w in windows], self._short)
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
        self._context_phrases: dict[str, tuple[frozenset[str], tuple[tuple[str, ...], ...]]] = {}
        self._context_keys: dict[str, _ContextKeys] = {}

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
            if result.score >= MAX_SCORE:  # nothing to raise (validated e-mails)
                continue
            meta = result.recognition_metadata
            recognizer = by_id.get(str(meta.get(_META_ID)))
            if recognizer is None or not recognizer.context or meta.get(_META_ENHANCED):
                continue
            todo.append((result, recognizer))
        if not extra:
            todo = self._keys_near(text, todo)
        if not todo:
            return raw_results
        near: dict[tuple[int, int], list[str]] = {}  # results of one span share its words
        for result, recognizer in todo:
            meta = result.recognition_metadata
            if meta.get(_META_ENHANCED):  # its metadata is shared with a result enhanced just before
                continue
            span = (result.start, result.end)
            words = near.get(span)
            if words is None:
                words = near[span] = self.words_near(tokens, result.start, result.end)
            if extra:
                words = words + list(extra)
            if not self._supported(words, recognizer):
                continue
            result.score = min(
                MAX_SCORE,
                max(result.score + self.context_similarity_factor, self.min_score_with_context_similarity),
            )
            meta[_META_ENHANCED] = True
        return raw_results

    def _keys_near(self, text: str, todo: list[tuple[Result, Recognizer]]) -> list[tuple[Result, Recognizer]]:
        """The results of ``todo`` (in order) meeting a cheap necessary condition: the longest word of
        some context phrase of their recognizer occurs near them.

        Every token the enhancer may use lies within ``max_context_chars`` of the result, and a token
        equals a context word only if that word occurs there. A word of one or two letters ("a" of
        "a/c") must also be a token: alone, or the first or last piece of a run longer than MAX_TOKEN
        (such runs are cut into pieces). Most results (a phone number in a log line) have no context
        word near them and skip tokenisation altogether. Each recognizer's neighbourhoods are searched
        together (:class:`_ContextKeys`).
        """
        pad = self.max_context_chars + MAX_TOKEN + 1  # whole runs around the bounded neighbourhood
        per_recognizer: dict[str, list[int]] = {}
        for k, (_, recognizer) in enumerate(todo):
            per_recognizer.setdefault(recognizer.id, []).append(k)
        keep = [False] * len(todo)
        for ks in per_recognizer.values():
            windows = []
            for k in ks:
                result = todo[k][0]
                windows.append(text[max(0, result.start - pad) : result.end + pad].lower())
            for k, found in zip(ks, self._keys(todo[ks[0]][1]).holding(windows), strict=True):
                keep[k] = found
        return [item for item, kept in zip(todo, keep, strict=True) if kept]

    def _keys(self, recognizer: Recognizer) -> _ContextKeys:
        keys = self._context_keys.get(recognizer.id)
        if keys is None:
            longest = {max(p, key=len) for p in map(self._phrase, recognizer.context) if p}
            run = rf"[^\W_]{{{MAX_TOKEN - 1}}}"  # the rest of a run long enough to be cut
            # literal first, so re's fast literal search drives the scan; the checks look back over it
            short = "|".join(
                rf"{e}(?:(?<![^\W_]{e})(?:(?![^\W_])|(?={run}))|(?<={run}{e})(?![^\W_]))"
                for e in (re.escape(k) for k in sorted(longest) if len(k) <= 2)
            )
            long = [k for k in longest if len(k) > 2]
            # a key holding a shorter key ("telephone", "tel") is present only if that one is too
            minimal = sorted(k for k in long if not any(o != k and o in k for o in long))
            keys = self._context_keys[recognizer.id] = _ContextKeys(
                minimal, re.compile(short) if short else None
            )
        return keys

    def words_near(self, tokens: Tokens, start: int, end: int) -> list[str]:
        """:meth:`surrounding_words` of ``[start, end)`` in the whole text, tokenising little of it.

        A small span around the result first: its words are the whole text's when the walks before and
        after the result end on tokens the span holds whole (see :meth:`Tokens.window`); else the whole
        bounded neighbourhood, which always holds them.
        """
        lo, hi = start - NEAR_BEFORE, end + NEAR_AFTER
        starts, lemmas, first, stop = tokens.window(lo, hi)
        before = self._before_within(starts, lemmas, first, lo <= 0, start)
        if before is not None:
            after = self._after_within(starts, lemmas, (first, stop), hi >= len(tokens.text), end)
            if after is not None:
                return before + after
        reach = self.max_context_chars + MAX_TOKEN + 1
        starts, lemmas = tokens.local(start - reach, end + reach)
        return self.surrounding_words(starts, lemmas, start, end)

    def _before_within(
        self, starts: list[int], lemmas: list[str], first: int, at_start: bool, start: int
    ) -> list[str] | None:
        """:meth:`surrounding_words`' words before ``start`` over a span's tokens, or None when that needs
        a token the span does not hold as the whole text does (index below ``first``, the span not
        starting the text)."""
        before: list[str] = []
        i = bisect_left(starts, start) - 1
        floor = start - self.max_context_chars
        while len(before) < self.context_prefix_count:
            if i < first:
                if not at_start:
                    return None
                break
            if starts[i] < floor:
                break
            lemma = lemmas[i]
            if starts[i] + len(lemma) <= start and _is_word(lemma):
                before.append(lemma)
            i -= 1
        before.reverse()
        return before

    def _after_within(
        self, starts: list[int], lemmas: list[str], exact: tuple[int, int], at_end: bool, end: int
    ) -> list[str] | None:
        """The words after ``end`` likewise (indices outside ``exact``, the span not ending the text)."""
        first, stop = exact
        j = bisect_left(starts, end)
        if j < first:
            return None
        after: list[str] = []
        ceiling = end + self.max_context_chars
        while len(after) < self.context_suffix_count:
            if j >= stop:
                if not at_end:
                    return None
                break
            lemma = lemmas[j]
            if starts[j] + len(lemma) > ceiling:
                break
            if _is_word(lemma):
                after.append(lemma)
            j += 1
        return after

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

    def _supported(self, words: list[str], recognizer: Recognizer) -> bool:
        """Whether :meth:`supporting_word` finds one of ``recognizer``'s context words in ``words``,
        with its phrases split once: single words tested as one set, then the longer phrases."""
        phrases = self._context_phrases.get(recognizer.id)
        if phrases is None:
            split = {p for p in map(self._phrase, recognizer.context) if p}
            singles = frozenset(p[0] for p in split if len(p) == 1)
            phrases = self._context_phrases[recognizer.id] = (singles, tuple(p for p in split if len(p) > 1))
        singles, longer = phrases
        if not singles.isdisjoint(words):
            return True
        for phrase in longer:
            n = len(phrase)
            if any(tuple(words[k : k + n]) == phrase for k in range(len(words) - n + 1)):
                return True
        return False

    def _phrase(self, word: str) -> tuple[str, ...]:
        p = self._phrases.get(word)
        if p is None:
            p = tuple(t.lower() for t in tokenize(word)[0] if _is_word(t))
            self._phrases[word] = p
        return p
