"""Document fingerprints: find passages of protected documents in scanned text, by keyed winnowing.

Text is reduced to folded words (NFKD, accents and punctuation dropped, casefolded), so re-wrapping,
smart quotes, dashes and case do not matter. Each run of ``k`` words is hashed with the secret key
(HMAC-SHA256, 64 bits); winnowing keeps the smallest hash of every ``w`` consecutive k-grams, which
guarantees at least one fingerprint in any ``w + k - 1`` shared words. Hashes that occur in two or
more protected documents are boilerplate and are dropped at build time.

Matching hashes *every* k-gram of the scanned text (so each stored fingerprint inside a shared
passage is found), groups hits by document, and chains them in order-consistent positions. A
passage is reported when its chain spans at least ``min_words - 2 * (w - 1)`` document words with
enough fingerprints: a 50-word copy always qualifies, a 15-word quote never can.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import structlog

from agent.classify.indexfile import IndexRejected, KeyedHasher, PublicKey, read_index, write_index
from agent.models import Detection, TextChunk

log = structlog.get_logger(__name__)

KIND = "fingerprint"
DOMAIN = "dropwarden-docfp-v1"
K = 8  # words per k-gram
W = 5  # winnowing window, in k-grams
_WORD = re.compile(r"[^\W_]+")
_MAX_SHIFT = 12  # words inserted or deleted between two chained hits (a page header in a PDF)
_MAX_GAP = 80  # words between two chained hits (a boilerplate hole or a few edits)


@lru_cache(maxsize=65536)
def fold_word(word: str) -> str:
    """NFKD, drop combining marks, casefold: 'Über' == 'uber', 'ﬁnance' == 'finance'."""
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _sorted_unique(a: np.ndarray, inplace: bool = False) -> np.ndarray:
    """np.unique by sorting (numpy 2's hash-based unique is slow and memory-hungry on large arrays)."""
    if a.size == 0:
        return a
    if inplace:
        a.sort()
    else:
        a = np.sort(a)
    return a[np.concatenate(([True], a[1:] != a[:-1]))]


def _contains(sorted_values: np.ndarray, queries: np.ndarray) -> np.ndarray:
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


def kgram_hashes(hasher: KeyedHasher, words: list[str], k: int) -> np.ndarray:
    if len(words) < k:
        return np.zeros(0, dtype="<u8")
    return hasher.hash_many([" ".join(words[i : i + k]) for i in range(len(words) - k + 1)])


def winnow(hashes: np.ndarray, w: int) -> np.ndarray:
    """Positions of the minimum hash of every window of ``w`` consecutive k-grams."""
    n = hashes.size
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if n <= w:
        return np.array([int(hashes.argmin())], dtype=np.int64)
    windows = np.lib.stride_tricks.sliding_window_view(hashes, w)
    picked = windows.argmin(axis=1) + np.arange(n - w + 1)  # non-decreasing: drop repeats
    return picked[np.concatenate(([True], picked[1:] != picked[:-1]))]


class _Selector:
    """Fast secret values of every k-gram, used only to choose fingerprints and count documents.

    Each distinct word gets a keyed hash once (cached); a k-gram's value is a polynomial of its words'
    values, computed for a whole document in a few numpy operations. These values depend on the key
    but are never stored: only the chosen positions and the HMAC of the chosen k-grams are.
    """

    _MULT = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, hasher: KeyedHasher, k: int) -> None:
        self.hasher = hasher
        self.k = k
        self.words: dict[str, int] = {}

    def kgram_values(self, words: list[str]) -> np.ndarray:
        n = len(words) - self.k + 1
        if n <= 0:
            return np.zeros(0, dtype="<u8")
        new = [w for w in set(words) if w not in self.words]
        if new:
            self.words.update(zip(new, self.hasher.hash_many(["w\0" + w for w in new]).tolist(), strict=True))
        ids = np.fromiter((self.words[w] for w in words), dtype=np.uint64, count=len(words))
        acc = np.zeros(n, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(self.k):
                acc = acc * self._MULT + ids[j : j + n]
            acc ^= acc >> np.uint64(29)  # spread the bits so the window minimum is uniform
            acc *= np.uint64(0xBF58476D1CE4E5B9)
            acc ^= acc >> np.uint64(32)
        return acc


class _DocFrequency:
    """Which 32-bit k-gram values occur in two or more documents, merged in batches to bound memory."""

    def __init__(self) -> None:
        self.seen = np.zeros(0, dtype="<u4")
        self.dups = np.zeros(0, dtype="<u4")
        self.pending: list[np.ndarray] = []
        self.pending_size = 0

    def add(self, values: np.ndarray) -> None:
        self.pending.append(_sorted_unique(values))
        self.pending_size += self.pending[-1].size
        if self.pending_size > 4_000_000:
            self._merge()

    def _merge(self) -> None:
        if not self.pending:
            return
        batch = np.concatenate(self.pending)
        self.pending, self.pending_size = [], 0
        batch.sort()
        repeated = batch[1:][batch[1:] == batch[:-1]]
        uniq = _sorted_unique(batch)
        del batch
        again = uniq[_contains(self.seen, uniq)]
        self.dups = _sorted_unique(np.concatenate((self.dups, repeated, again)))
        merged = np.concatenate((self.seen, uniq))
        self.seen = self.seen[:0]
        del uniq
        self.seen = _sorted_unique(merged, inplace=True)

    def shared(self) -> np.ndarray:
        self._merge()
        return self.dups


@dataclass
class FingerprintIndex:
    """Sorted winnowed fingerprints of protected documents, with document number and word position."""

    hashes: np.ndarray  # uint64, sorted
    docs: np.ndarray  # uint32
    positions: np.ndarray  # uint32, word position of the k-gram in its document
    doc_ids: tuple[str, ...]
    doc_fingerprints: np.ndarray  # uint32 per document: fingerprints kept (share denominator)
    key_id: str
    k: int = K
    w: int = W
    hasher: KeyedHasher | None = field(default=None, repr=False)

    @classmethod
    def build(cls, docs: Iterable[tuple[str, str]], key: bytes, k: int = K, w: int = W) -> FingerprintIndex:
        """Fingerprint (doc_id, text) pairs; k-grams found in two or more documents are dropped."""
        hasher = KeyedHasher(key, DOMAIN)
        selector = _Selector(hasher, k)
        ids: list[str] = []
        fp_h: list[np.ndarray] = []  # per document: keyed hashes of the selected k-grams
        fp_p: list[np.ndarray] = []  # ... their word positions
        fp_f: list[np.ndarray] = []  # ... and their top 32 selection bits, for the boilerplate check
        freq = _DocFrequency()
        for doc_id, text in docs:
            words = fold_words(text)
            fast = selector.kgram_values(words)
            pos = winnow(fast, w)
            ids.append(doc_id)
            fp_h.append(hasher.hash_many([" ".join(words[i : i + k]) for i in pos.tolist()]))
            fp_p.append(pos.astype("<u4"))
            top = (fast >> np.uint64(32)).astype("<u4")
            fp_f.append(top[pos])
            freq.add(top)
        if len(set(ids)) != len(ids):
            raise ValueError("protected document ids (file name stems) are not unique")
        shared = freq.shared()
        del freq
        counts = np.zeros(len(ids), dtype="<u4")
        for i in range(len(ids)):  # filtered in place, so the unfiltered copies are freed as we go
            keep = ~_contains(shared, fp_f[i])  # k-grams found in two or more documents are boilerplate
            fp_h[i], fp_p[i] = fp_h[i][keep], fp_p[i][keep]
            fp_f[i] = np.full(fp_h[i].size, i, dtype="<u4")  # now: the document number
            counts[i] = _sorted_unique(fp_h[i]).size

        def gather(parts: list[np.ndarray], dtype: str, order: np.ndarray | None) -> np.ndarray:
            out = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
            parts.clear()
            return out if order is None else out[order]

        hashes = gather(fp_h, "<u8", None)
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]
        index = cls(
            hashes=hashes,
            docs=gather(fp_f, "<u4", order),
            positions=gather(fp_p, "<u4", order),
            doc_ids=tuple(ids),
            doc_fingerprints=counts,
            key_id=hasher.key_id,
            k=k,
            w=w,
            hasher=hasher,
        )
        log.info(
            "fingerprint_index_built",
            documents=len(ids),
            fingerprints=int(hashes.size),
            shared=int(shared.size),
        )
        return index

    def save(self, path: str | Path) -> None:
        meta = {"key_id": self.key_id, "k": self.k, "w": self.w, "doc_ids": list(self.doc_ids)}
        arrays = {
            "hashes": self.hashes,
            "docs": self.docs,
            "positions": self.positions,
            "doc_fingerprints": self.doc_fingerprints,
        }
        write_index(path, KIND, meta, arrays)

    @classmethod
    def load(
        cls, path: str | Path, key: bytes, public_key: PublicKey | None = None, require_signed: bool = False
    ) -> FingerprintIndex:
        """Read an index; refuses (IndexRejected) a corrupt, unsigned-when-required or other-key index."""
        data = read_index(path, KIND, public_key=public_key, require_signed=require_signed)
        hasher = KeyedHasher(key, DOMAIN)
        if data.meta.get("key_id") != hasher.key_id:
            raise IndexRejected("key_mismatch", "the index was built with another key")
        a = data.arrays
        return cls(
            hashes=a["hashes"],
            docs=a["docs"],
            positions=a["positions"],
            doc_ids=tuple(str(d) for d in data.meta["doc_ids"]),
            doc_fingerprints=a["doc_fingerprints"],
            key_id=hasher.key_id,
            k=int(data.meta["k"]),
            w=int(data.meta["w"]),
            hasher=hasher,
        )


class FingerprintDetector:
    """ChunkDetector emitting DOC_FINGERPRINT when a passage of a protected document is found."""

    entities = frozenset({"DOC_FINGERPRINT"})

    def __init__(self, index: FingerprintIndex, min_words: int = 50) -> None:
        if index.hasher is None:
            raise ValueError("FingerprintIndex has no key: build or load it with one")
        self.index = index
        self.min_words = min_words
        slack = 2 * (index.w - 1)
        #: document words a chain of hits must cover (first k-gram start to last k-gram end)
        self.min_span = max(index.k + 1, min_words - slack)
        guaranteed = max(1, (min_words - index.k + 1) // index.w)
        self.min_hits = max(3, guaranteed // 2)
        self._selector = _Selector(index.hasher, index.k)

    def detect(self, chunk: TextChunk) -> list[Detection]:
        idx = self.index
        words = fold_words(chunk.text)
        if len(words) < idx.k + 1 or idx.hashes.size == 0:
            return []
        assert idx.hasher is not None
        # winnow the scanned text like the documents: inside a shared passage both pick the same k-grams,
        # so only about 2/(w+1) of the k-grams need the (slow) keyed hash
        if len(self._selector.words) > 1_000_000:
            self._selector.words.clear()
        picked = winnow(self._selector.kgram_values(words), idx.w)
        query = idx.hasher.hash_many([" ".join(words[i : i + idx.k]) for i in picked.tolist()])
        lo = np.searchsorted(idx.hashes, query, side="left")
        hi = np.searchsorted(idx.hashes, query, side="right")
        hit = np.nonzero(hi > lo)[0]
        if hit.size < self.min_hits:
            return []
        counts = (hi - lo)[hit]
        qpos = np.repeat(picked[hit], counts)
        entry = np.repeat(lo[hit] - np.cumsum(counts) + counts, counts) + np.arange(qpos.size)
        docs = idx.docs[entry]
        dpos = idx.positions[entry].astype(np.int64)
        out: list[Detection] = []
        spans: list[tuple[int, int]] = []
        for d in np.unique(docs).tolist():
            sel = docs == d
            if int(sel.sum()) < self.min_hits:
                continue
            best = self._best_chain(qpos[sel].tolist(), dpos[sel].tolist())
            if best is None:
                continue
            q0, q1, distinct = best
            spans = spans or words_of(chunk.text)[1]
            start, end = spans[q0][0], spans[min(q1 + idx.k - 1, len(spans) - 1)][1]
            share = distinct / max(1, int(idx.doc_fingerprints[d]))
            out.append(
                Detection(
                    entity="DOC_FINGERPRINT",
                    start=chunk.offset + start,
                    end=chunk.offset + end,
                    score=1.0,
                    recognizer="fingerprint",
                    path=chunk.path,
                    member=chunk.member,
                    line=chunk.line + chunk.text.count("\n", 0, start),
                    part=chunk.part,
                    value=f"doc:{idx.doc_ids[d]}",
                    attributes=(
                        ("doc_id", idx.doc_ids[d]),
                        ("share", f"{min(1.0, share):.2f}"),
                        ("words", str(q1 - q0 + idx.k)),
                    ),
                )
            )
        return out

    def _best_chain(self, qs: list[int], ds: list[int]) -> tuple[int, int, int] | None:
        """The longest run of hits in the same order in both texts: (first q, last q, distinct hits)."""
        pairs = sorted(set(zip(qs, ds, strict=True)))
        best: tuple[int, int, int] | None = None
        # chains keyed by their current (last q, last d); a hit extends the chain whose offset it keeps
        chains: list[list[int]] = []  # [first_q, first_d, last_q, last_d, n]
        for q, d in pairs:
            ext = None
            for c in chains:
                if (
                    0 < q - c[2] <= _MAX_GAP
                    and 0 < d - c[3] <= _MAX_GAP
                    and abs((d - q) - (c[3] - c[2])) <= _MAX_SHIFT
                ):
                    ext = c
                    break
            if ext is None:
                chains.append([q, d, q, d, 1])
            else:
                ext[2], ext[3], ext[4] = q, d, ext[4] + 1
            chains = [c for c in chains if q - c[2] <= _MAX_GAP]
            for c in chains:
                span = c[3] - c[1] + self.index.k
                if c[4] >= self.min_hits and span >= self.min_span and (best is None or c[4] > best[2]):
                    best = (c[0], c[2], c[4])
        return best
