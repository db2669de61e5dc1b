"""Tokens for context words, in linear time and without an NLP library.

Why not spaCy's tokenizer: it is quadratic on long runs without whitespace (a few hundred KB of nested
JSON took plain Presidio ~30 minutes), and importing spaCy alone costs more than half a second of
start-up. Our recognizers are patterns; tokens only serve context words (and the optional NER model,
which is given our words, see ``agent/classify/recognizers/ner.py``). So:

* tokens are runs of letters/digits and runs of other non-space characters (``_`` included, so
  ``aws_secret_access_key`` is four words), found by one regex pass;
* runs longer than :data:`MAX_TOKEN` are cut into pieces at absolute offsets that are multiples of
  :data:`MAX_TOKEN` (``base`` + local position), so a window of the text tokenises exactly like the same
  span of the whole text (the prefilter relies on that);
* lemmas are the lowercased tokens (context words then match whatever their case).
"""

from __future__ import annotations

import re
from bisect import bisect_left

MAX_TOKEN = 64
_TOKEN = re.compile(r"[^\W_]+|(?:[^\w\s]|_)+")


def tokenize(text: str, base: int = 0) -> tuple[list[str], list[int]]:
    """Split ``text`` into tokens and their start offsets (local), cutting long runs at absolute offsets."""
    words: list[str] = []
    starts: list[int] = []
    for m in _TOKEN.finditer(text):
        s, e = m.span()
        if e - s <= MAX_TOKEN:
            words.append(m.group())
            starts.append(s)
            continue
        cut = s
        while cut < e:
            nxt = min(e, (base + cut) // MAX_TOKEN * MAX_TOKEN + MAX_TOKEN - base)
            words.append(text[cut:nxt])
            starts.append(cut)
            cut = nxt
    return words, starts


class Tokens:
    """The tokens of one analysed text, built on first use: most text has no result needing context.

    :meth:`local` tokenises only a span around one result: the same tokens as the whole text inside
    it, away from its cut edges (see the module docstring), which is all the context enhancer needs.
    """

    def __init__(self, text: str, base: int = 0) -> None:
        self.text = text
        self.base = base
        self._words: list[str] | None = None
        self._starts: list[int] | None = None
        self._lemmas: list[str] | None = None

    def _tokenized(self) -> tuple[list[str], list[int]]:
        if self._words is None or self._starts is None:
            self._words, self._starts = tokenize(self.text, self.base)
        return self._words, self._starts

    @property
    def words(self) -> list[str]:
        return self._tokenized()[0]

    @property
    def starts(self) -> list[int]:
        """Start offset of each token in the analysed text."""
        return self._tokenized()[1]

    @property
    def lemmas(self) -> list[str]:
        if self._lemmas is None:
            self._lemmas = [w.lower() for w in self.words]
        return self._lemmas

    @property
    def spaces(self) -> list[bool]:
        """Whether whitespace follows each token (what a spaCy ``Doc`` is built from)."""
        words, starts = self._tokenized()
        ends = [*starts[1:], len(self.text)]
        return [ends[i] > starts[i] + len(w) for i, w in enumerate(words)]

    def local(self, lo: int, hi: int) -> tuple[list[int], list[str]]:
        """Token starts (offsets of the analysed text) and lemmas of ``text[lo:hi]``.

        Identical to the whole text's tokens that start at or after ``lo + MAX_TOKEN`` (when ``lo > 0``)
        and end at or before ``hi - MAX_TOKEN`` (when ``hi`` is inside the text).
        """
        starts, lemmas, _, _ = self.window(lo, hi)
        return starts, lemmas

    def window(self, lo: int, hi: int) -> tuple[list[int], list[str], int, int]:
        """Token starts and lemmas of ``text[lo:hi]``, and the range ``[first, stop)`` of their indices
        whose start and lemma are the whole text's.

        Tokenising a span only cuts the runs crossing its edges: its first token (when ``lo > 0``; its
        end is right, its start and lemma may not be) and its last (when ``hi`` is inside the text; its
        start is right). Every other token is the whole text's, and so are the starts of all but the
        first: the span's tokens enumerate the whole text's that start inside it, after the first.
        """
        lo, hi = max(0, lo), min(len(self.text), hi)
        if self._words is not None and self._starts is not None:  # already tokenised as a whole
            i, j = bisect_left(self._starts, lo), bisect_left(self._starts, hi)
            return self._starts[i:j], self.lemmas[i:j], 0, j - i
        piece = self.text[lo:hi]
        if piece.isascii():  # lowercasing keeps every offset and every token boundary
            lemmas, starts = tokenize(piece.lower(), self.base + lo)
        else:
            words, starts = tokenize(piece, self.base + lo)
            lemmas = [w.lower() for w in words]
        first = 1 if lo > 0 else 0
        stop = len(starts) - 1 if hi < len(self.text) else len(starts)
        return [s + lo for s in starts], lemmas, first, stop
