"""Document fingerprints: find passages of protected documents in scanned text, by keyed winnowing.

Text is reduced to folded words (NFKD, accents and punctuation dropped, casefolded), so re-wrapping,
smart quotes, dashes and case do not matter (see :mod:`agent.classify.indexes.shingles`). Winnowing on keyed
k-gram selection values keeps the smallest of every ``w`` consecutive k-grams, which guarantees at
least one fingerprint in any ``w + k - 1`` shared words; each kept k-gram is stored as its HMAC-SHA256
(64 bits) with its document and word position. Fingerprints that occur in two or more protected
documents are boilerplate: they are kept but flagged, so they can bridge a passage that runs through
template text without ever making a match on their own.

Matching winnows the scanned text the same way (inside a shared passage both sides pick the same
k-grams), skips picks whose selection value is not in the index's bitmap, hashes the rest, groups hits
by document and chains them in order-consistent positions. A passage is reported when its chain spans
at least ``min_words - 2 * (w - 1)`` document words with enough fingerprints, ``min_unique`` of them
not boilerplate: a 50-word copy always qualifies, a 15-word quote never can.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import structlog

from agent.classify.indexes.indexfile import IndexRejected, KeyedHasher, PublicKey, read_index, write_index
from agent.classify.indexes.shingles import (
    DocFrequency,
    Selector,
    contains,
    fold_words,
    in_bitmap,
    selector_bitmap,
    sorted_unique,
    winnow,
    words_of,
)
from agent.models import Detection, TextChunk

log = structlog.get_logger(__name__)

#: ASCII characters that separate words (anything but [a-z0-9] after lowercasing) -> space
_SPACES = str.maketrans({c: " " for c in map(chr, range(128)) if not (c.isascii() and c.isalnum())})

KIND = "fingerprint"
DOMAIN = "dropwarden-docfp-v1"
K = 8  # words per k-gram
W = 5  # winnowing window, in k-grams
_MAX_SHIFT = 12  # words inserted or deleted between two chained hits (a page header in a PDF)
_MAX_GAP = 80  # words between two chained hits (a boilerplate hole or a few edits)


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
    #: 1 where the fingerprint also occurs in another protected document (boilerplate): it may bridge
    #: a passage, never make one (None: an index from before these were kept, which dropped them)
    shared: np.ndarray | None = field(default=None, repr=False)
    #: packed bitmap of the low bits of the fingerprints' selection values: a scanned k-gram outside it
    #: cannot be a fingerprint, so its (slow) keyed hash is skipped. Keyed like the values: reveals nothing.
    selector_bits: np.ndarray | None = field(default=None, repr=False)
    hasher: KeyedHasher | None = field(default=None, repr=False)

    @classmethod
    def build(cls, docs: Iterable[tuple[str, str]], key: bytes, k: int = K, w: int = W) -> FingerprintIndex:
        """Fingerprint (doc_id, text) pairs; k-grams found in two or more documents are dropped."""
        hasher = KeyedHasher(key, DOMAIN)
        selector = Selector(hasher, k)
        ids: list[str] = []
        # all documents' picks, appended to growing typed buffers: thousands of small per-document
        # arrays would fragment the heap and hold RSS long after they are freed
        fp_h = array("Q")  # keyed hashes of the selected k-grams
        fp_p = array("I")  # ... their word positions
        fp_f = array("I")  # ... their top 32 selection bits, for the boilerplate check
        fp_s = array("I")  # ... the low 32 bits of their selection values, for the match-time bitmap
        sizes: list[int] = []
        freq = DocFrequency()
        for doc_id, text in docs:
            words = fold_words(text)
            fast = selector.kgram_values(words)
            pos = winnow(fast, w)
            ids.append(doc_id)
            sizes.append(pos.size)
            fp_h.frombytes(hasher.hash_many([" ".join(words[i : i + k]) for i in pos.tolist()]).tobytes())
            fp_p.frombytes(pos.astype("<u4").tobytes())
            top = (fast >> np.uint64(32)).astype("<u4")
            fp_f.frombytes(top[pos].tobytes())
            fp_s.frombytes(fast[pos].astype("<u4").tobytes())
            freq.add(top)
            del words, fast, pos, top
        if len(set(ids)) != len(ids):
            raise ValueError("protected document ids (file name stems) are not unique")
        shared = freq.shared()
        del freq
        hashes = np.frombuffer(fp_h, dtype="<u8")
        common = contains(shared, np.frombuffer(fp_f, dtype="<u4"))  # in 2+ documents: boilerplate
        del fp_f
        counts = np.zeros(len(ids), dtype="<u4")
        lo = 0
        for i, n in enumerate(sizes):
            counts[i] = sorted_unique(hashes[lo : lo + n][~common[lo : lo + n]]).size
            lo += n
        bits = selector_bitmap(np.frombuffer(fp_s, dtype="<u4"))
        del fp_s
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]
        del fp_h
        docs_of = np.repeat(np.arange(len(ids), dtype="<u4"), sizes)[order]
        positions = np.frombuffer(fp_p, dtype="<u4")[order]
        del fp_p
        flags = common.astype("|u1")[order]
        del common, order
        index = cls(
            hashes=hashes,
            docs=docs_of,
            positions=positions,
            shared=flags,
            selector_bits=bits,
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
        if self.shared is not None:
            arrays["shared"] = self.shared
        if self.selector_bits is not None:
            arrays["selector_bits"] = self.selector_bits
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
            shared=a.get("shared"),
            selector_bits=a.get("selector_bits"),
            key_id=hasher.key_id,
            k=int(data.meta["k"]),
            w=int(data.meta["w"]),
            hasher=hasher,
        )


class FingerprintDetector:
    """ChunkDetector emitting DOC_FINGERPRINT when a passage of a protected document is found."""

    entities = frozenset({"DOC_FINGERPRINT"})

    def __init__(self, index: FingerprintIndex, min_words: int = 50, min_unique: int = 2) -> None:
        if index.hasher is None:
            raise ValueError("FingerprintIndex has no key: build or load it with one")
        self.index = index
        self.min_words = min_words
        slack = 2 * (index.w - 1)
        #: document words a chain of hits must cover (first k-gram start to last k-gram end)
        self.min_span = max(index.k + 1, min_words - slack)
        guaranteed = max(1, (min_words - index.k + 1) // index.w)
        self.min_hits = max(3, guaranteed // 2)
        self.min_unique = min_unique
        self._selector = Selector(index.hasher, index.k)

    def detect(self, chunk: TextChunk) -> list[Detection]:
        idx = self.index
        if idx.hashes.size == 0:
            return []
        if idx.hasher is None:
            raise RuntimeError("fingerprint index was loaded without its hasher")
        k, text, selector = idx.k, chunk.text, self._selector
        selector.clear_if_over(200_000)  # the folded words of non-ASCII text (~20 MB at most)
        # winnow the scanned text like the documents: inside a shared passage both pick the same k-grams;
        # the index's bitmap of selection values then leaves few of them for the (slow) keyed hash
        if text.isascii():
            lowered = text.lower().encode("ascii")
            values, starts, ends = selector.ascii_values(lowered)
            words: list[str] = []
        else:
            words, spans = words_of(text)
            values = selector.kgram_values(words)
            starts = np.array([s for s, _ in spans], dtype=np.int64)
            ends = np.array([e for _, e in spans], dtype=np.int64)
        if values.size < 2:
            return []
        picked = winnow(values, idx.w)
        if idx.selector_bits is not None:
            picked = picked[in_bitmap(idx.selector_bits, values[picked])]
        if picked.size < self.min_hits:
            return []
        if words:
            grams = [" ".join(words[i : i + k]) for i in picked.tolist()]
        else:
            first, last = starts[picked].tolist(), ends[picked + (k - 1)].tolist()
            grams = [
                " ".join(lowered[s:e].decode("ascii").translate(_SPACES).split())
                for s, e in zip(first, last, strict=True)
            ]
        query = idx.hasher.hash_many(grams)
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
        common = idx.shared[entry] if idx.shared is not None else np.zeros(entry.size, dtype=np.uint8)
        out: list[Detection] = []
        for d in np.unique(docs).tolist():
            sel = docs == d
            if int(sel.sum()) < self.min_hits:
                continue
            best = self._best_chain(qpos[sel].tolist(), dpos[sel].tolist(), common[sel].tolist())
            if best is None:
                continue
            q0, q1, distinct = best
            start, end = int(starts[q0]), int(ends[min(q1 + idx.k - 1, ends.size - 1)])
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

    def _best_chain(self, qs: list[int], ds: list[int], common: list[int]) -> tuple[int, int, int] | None:
        """The longest run of hits in the same order in both texts: (first q, last q, distinct own hits).

        Boilerplate hits (``common``) lengthen a chain across template text but never count as
        evidence: a chain needs ``min_unique`` hits found in this document only.
        """
        triples = sorted(set(zip(qs, ds, common, strict=True)))
        best: tuple[int, int, int] | None = None
        best_key = (0, 0)
        # chains keyed by their current (last q, last d); a hit extends the chain whose offset it keeps
        chains: list[list[int]] = []  # [first_q, first_d, last_q, last_d, hits, own hits]
        for q, d, shared in triples:
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
                chains.append([q, d, q, d, 1, 0 if shared else 1])
            else:
                ext[2], ext[3], ext[4], ext[5] = q, d, ext[4] + 1, ext[5] + (0 if shared else 1)
            chains = [c for c in chains if q - c[2] <= _MAX_GAP]
            for c in chains:
                span = c[3] - c[1] + self.index.k
                key = (c[5], c[4])
                if (
                    c[4] >= self.min_hits
                    and c[5] >= self.min_unique
                    and span >= self.min_span
                    and key > best_key
                ):
                    best, best_key = (c[0], c[2], c[5]), key
        return best
