"""Words, k-gram selection values and winnowing for document fingerprints (build and match side).

Folding (NFKD, marks dropped, casefolded) makes re-wrapping, smart quotes, dashes and case irrelevant.
On the match side, ASCII text is split into words at C speed (bytes ``translate`` + ``split``): the
regular expression used for other text runs at ~10 MB/s, far below the rest of the scanner.
"""

from __future__ import annotations

import re
import unicodedata
from array import array
from functools import lru_cache

import numpy as np

from agent.classify.indexes.indexfile import KeyedHasher

_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=65536)
def fold_word(word: str) -> str:
    """NFKD, drop combining marks, casefold: 'Über' == 'uber', 'ﬁnance' == 'finance'."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def sorted_unique(a: np.ndarray, inplace: bool = False) -> np.ndarray:
    """np.unique by sorting (numpy 2's hash-based unique is slow and memory-hungry on large arrays)."""
    if a.size == 0:
        return a
    if inplace:
        a.sort()
    else:
        a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))]


def contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """Membership by binary search (np.isin sorts both arrays together: several times the memory)."""
    if sorted_values.size == 0:
        return np.zeros(queries.size, dtype=bool)
    pos = np.searchsorted(sorted_values, queries)
    pos[pos >= sorted_values.size] = 0
    return sorted_values[pos] == queries


def fold_words(text: str) -> list[str]:
    """Folded words without their positions (index building does not need them)."""
    if text.isascii():
        return _WORD.findall(text.lower())
    return [fold_word(w) for w in _WORD.findall(text)]


def words_of(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Folded words of ``text`` and their character spans (punctuation and quotes are separators)."""
    words: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in _WORD.finditer(text):
        words.append(fold_word(m.group(0)))
        spans.append(m.span())
    return words, spans


def winnow(hashes: np.ndarray, w: int) -> np.ndarray:
    """Positions of the minimum hash of every window of ``w`` consecutive k-grams."""
    n = hashes.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n <= w:
        return np.array([int(hashes.argmin())], dtype=np.int64)
    m = n - w + 1  # window minima by shifted minimum, then the leftmost position holding it (as argmin)
    mins = hashes[:m].copy()
    for o in range(1, w):
        np.minimum(mins, hashes[o : o + m], out=mins)
    pos = np.full(m, w - 1, dtype=np.int64)
    for o in range(w - 2, -1, -1):
        pos[hashes[o : o + m] == mins] = o
    picked = pos + np.arange(m)  # non-decreasing: drop repeats
    return picked[np.concatenate(([True], picked[1:] != picked[:-1]))]


class Selector:
    """Fast secret values of every k-gram, used only to choose fingerprints and count documents.

    Each distinct word gets a keyed hash once (cached); a k-gram's value is a polynomial of its words'
    values, computed for a whole document in a few numpy operations. These values depend on the key
    but are never stored: only the chosen positions and the HMAC of the chosen k-grams are.
    """

    _MULT = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, hasher: KeyedHasher, k: int) -> None:
        self.hasher = hasher
        self.k = k
        self.words: dict[str, int] = {}  # folded word -> its keyed value
        #: sorted unkeyed hashes of ASCII words seen, and their keyed values (numpy "dicts", see _keyed)
        self.main_keys = self.main_values = self.new_keys = self.new_values = np.zeros(0, dtype=np.uint64)

    def kgram_values(self, words: list[str]) -> np.ndarray:
        """Selection value of every k-gram of ``words`` (folded)."""
        known = self.words
        new = [w for w in set(words) if w not in known]
        if new:
            known.update(zip(new, self.hasher.hash_many(["w\0" + w for w in new]).tolist(), strict=True))
        return self._combine(np.fromiter(map(known.__getitem__, words), dtype=np.uint64, count=len(words)))

    def ascii_values(self, lowered: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(k-gram values, word starts, word ends) of lowercase ASCII text, without a Python loop per word.

        Each word gets an unkeyed 64-bit polynomial hash in numpy, looked up by binary search in a sorted
        cache of keyed values; only words never seen are keyed (HMAC). A collision of two words' unkeyed
        hashes would only make them select alike: the stored fingerprints are HMACs of the words.
        """
        starts, ends, plain = ascii_words(lowered)
        if plain.size == 0:
            return np.zeros(0, dtype="<u8"), starts, ends
        return self._combine(self._keyed(plain, lowered, starts, ends)), starts, ends

    def _keyed(self, plain: np.ndarray, lowered: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """Keyed values of words given by their unkeyed hashes: from the caches, else HMAC (and cached).

        Two sorted caches: a large one, and a small one taking new words (numbers, ids: every chunk
        has some) so that an insert never copies the large one; the small one is merged when full.
        """
        out = np.empty(plain.size, dtype=np.uint64)
        todo = np.arange(plain.size)
        for keys, vals in ((self.main_keys, self.main_values), (self.new_keys, self.new_values)):
            if keys.size == 0 or todo.size == 0:
                continue
            q = plain[todo]
            pos = np.minimum(np.searchsorted(keys, q), keys.size - 1)
            hit = keys[pos] == q
            out[todo[hit]] = vals[pos[hit]]
            todo = todo[~hit]
        if todo.size:
            new, first, inverse = np.unique(plain[todo], return_index=True, return_inverse=True)
            at = todo[first]
            msgs = [
                "w\0" + lowered[s:e].decode("ascii")
                for s, e in zip(starts[at].tolist(), ends[at].tolist(), strict=True)
            ]
            values = self.hasher.hash_many(msgs)
            out[todo] = values[inverse]
            where = np.searchsorted(self.new_keys, new)
            self.new_keys = np.insert(self.new_keys, where, new)
            self.new_values = np.insert(self.new_values, where, values)
            if self.new_keys.size > _NEW_WORDS:
                if self.main_keys.size > _MAX_WORDS:
                    self.main_keys, self.main_values = self.main_keys[:0], self.main_values[:0]
                keys = np.concatenate((self.main_keys, self.new_keys))
                order = np.argsort(keys, kind="stable")
                self.main_keys = keys[order]
                self.main_values = np.concatenate((self.main_values, self.new_values))[order]
                self.new_keys, self.new_values = self.new_keys[:0], self.new_values[:0]
        return out

    def clear_if_over(self, limit: int) -> None:
        if len(self.words) > limit:
            self.words.clear()

    def _combine(self, ids: np.ndarray) -> np.ndarray:
        n = ids.size - self.k + 1
        if n <= 0:
            return np.zeros(0, dtype="<u8")
        with np.errstate(over="ignore"):
            if self.k & (self.k - 1) == 0:  # k a power of two: the same polynomial by doubling, log2(k) steps
                acc, span, mult = ids, 1, self._MULT
                while span < self.k:
                    acc = acc[:-span] * mult + acc[span:]
                    span, mult = span * 2, mult * mult
                acc = acc[:n].copy()
            else:
                acc = np.zeros(n, dtype=np.uint64)
                for j in range(self.k):
                    acc = acc * self._MULT + ids[j : j + n]
            acc ^= acc >> np.uint64(29)  # spread the bits so the window minimum is uniform
            acc *= np.uint64(0xBF58476D1CE4E5B9)
            acc ^= acc >> np.uint64(32)
        return acc


_NEW_WORDS = 16_384  # words keyed since the last merge into the large cache
_MAX_WORDS = 500_000  # the large cache is dropped beyond this (8 MB): common words are re-keyed fast
_WORD_BYTE = np.zeros(256, dtype=bool)
_WORD_BYTE[list(b"0123456789abcdefghijklmnopqrstuvwxyz")] = True
_POLY = 0x100000001B3
_POWERS: list[np.ndarray] = [np.ones(1, dtype=np.uint64), np.ones(1, dtype=np.uint64)]  # B^i, B^-i


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    if _POWERS[0].size < n:
        size = max(n, 2 * _POWERS[0].size, 1 << 16)
        with np.errstate(over="ignore"):
            for i, base in enumerate((_POLY, pow(_POLY, -1, 1 << 64))):  # B^i and B^-i modulo 2^64
                _POWERS[i] = np.concatenate(
                    (np.ones(1, np.uint64), np.cumprod(np.full(size - 1, base, np.uint64)))
                )
    return _POWERS[0], _POWERS[1]


def ascii_words(lowered: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Starts, ends and unkeyed 64-bit hashes of the [a-z0-9]+ words of lowercase ASCII bytes."""
    c = np.frombuffer(lowered, dtype=np.uint8)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], _WORD_BYTE[c], [False])).view(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    if starts.size == 0:
        return starts, ends, np.zeros(0, dtype=np.uint64)
    pw, inv = _powers(c.size + 1)
    prefix = np.zeros(c.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        np.cumsum(c.astype(np.uint64) * pw[: c.size], out=prefix[1:])
        plain = (prefix[ends] - prefix[starts]) * inv[starts]
        plain ^= (ends - starts).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return starts, ends, plain


def selector_bitmap(values: np.ndarray) -> np.ndarray:
    """Packed bitmap of the low bits of selection values, 64 to 128 bits per value (<= 1/64 pass)."""
    n_bits = 1 << max(16, min(28, int(max(1, values.size) * 64 - 1).bit_length()))
    bits = np.zeros(n_bits // 8, dtype=np.uint8)
    for i in range(0, values.size, 1 << 18):  # in slices: temporaries stay a few MB
        low = values[i : i + (1 << 18)] & np.uint64(n_bits - 1)
        np.bitwise_or.at(bits, low >> np.uint64(3), np.left_shift(1, low & np.uint64(7)).astype(np.uint8))
    return bits


def in_bitmap(bits: np.ndarray, values: np.ndarray) -> np.ndarray:
    low = values & np.uint64(bits.size * 8 - 1)
    return ((bits[low >> np.uint64(3)] >> (low & np.uint64(7)).astype(np.uint8)) & 1).astype(bool)


class DocFrequency:
    """Which 32-bit k-gram values occur in two or more documents, merged in batches to bound memory.

    Values live in ``array.array`` buffers, not lists of small arrays: large buffers grow in place
    (mremap) and are freed whole, where thousands of small numpy arrays fragment the heap and keep RSS.
    """

    def __init__(self) -> None:
        self.seen = array("I")  # sorted, distinct
        self.dups = np.zeros(0, dtype="<u4")
        self.pending = array("I")  # each document's distinct values, appended

    def add(self, values: np.ndarray) -> None:
        self.pending.frombytes(sorted_unique(values).astype("<u4").tobytes())
        if len(self.pending) > 2_000_000:
            self._merge()

    def _merge(self) -> None:
        if not self.pending:
            return
        batch = np.frombuffer(self.pending, dtype="<u4").copy()
        self.pending = array("I")
        batch.sort()
        repeated = batch[1:][batch[1:] == batch[:-1]]
        uniq = sorted_unique(batch)
        del batch
        seen = np.frombuffer(self.seen, dtype="<u4")
        again = contains(seen, uniq)
        del seen
        self.dups = sorted_unique(np.concatenate((self.dups, repeated, uniq[again])))
        n = len(self.seen)
        self.seen.frombytes(uniq[~again].tobytes())  # disjoint from seen: append, then sort in place
        del uniq, again
        merged = np.frombuffer(self.seen, dtype="<u4")
        if n:
            merged.sort(kind="stable")  # timsort: two sorted runs merge in linear time
        del merged

    def shared(self) -> np.ndarray:
        self._merge()
        return self.dups
