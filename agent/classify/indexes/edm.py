"""Exact Data Match: find rows of a protected table in scanned text, knowing the table only by keyed hashes.

Each cell is normalised by the kind of its column (email, date, code/number, phone, words such as
names) and stored as HMAC-SHA256(key, kind:value) truncated to 64 bits, with its record number and
column. The index never holds a value in clear and cannot be tested against guesses without the key,
which matters for low-entropy fields like dates of birth. Matching derives the same normalised
candidates from text (word n-grams, digit-group runs, dates in several formats, e-mails; see
:mod:`.edm_candidates`, and :mod:`.edm_normalise` for the normalisers),
limited to the shapes the index can hold (kinds, code shapes, name sizes, recorded at build time).
It hashes them (recent ones are cached), drops most absent hashes with a bitmap of low hash bits,
and looks the rest up in one ``searchsorted`` per chunk; a record matches when ``min_fields`` of its
fields (one of them strong) appear on one table row or within ``proximity_tokens`` words.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import structlog

from agent.classify.indexes.edm_candidates import CandidateGenerator, Shapes, code_shape
from agent.classify.indexes.edm_normalise import (
    _FAMILY_NAME,
    _GIVEN_NAME,
    BUILD_NORMALISERS,
    MAX_NAME_TOKENS,
    PREFIX,
    date_order,
    profile_column,
)
from agent.classify.indexes.indexfile import IndexRejected, KeyedHasher, PublicKey, read_index, write_index
from agent.models import Detection, TextChunk

log = structlog.get_logger(__name__)

KIND = "edm"
DOMAIN = "dropwarden-edm-v1"
MAX_RECORDS_PER_VALUE = 1000  # a value shared by more records (a category, a default) identifies nothing
_SAMPLE_ROWS = 2000
_BATCH = 50_000
_MAX_PLACES = 256  # occurrences of one record's fields examined per chunk
_HASH_CACHE = 50_000  # keyed hashes of candidates kept between chunks (~6 MB at most)


@dataclass(frozen=True)
class Column:
    """One indexed column: its header, value kind and whether it may count as the strong field."""

    name: str
    kind: str  # email | date | code | phone | words
    supporting: bool


@dataclass
class EdmIndex:
    """Sorted keyed hashes of a protected table, with parallel record numbers and column numbers."""

    hashes: np.ndarray  # uint64, sorted
    records: np.ndarray  # uint32
    columns_of: np.ndarray  # uint8, index into ``columns``
    columns: tuple[Column, ...]
    key_id: str
    n_records: int
    word_tokens: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype="<u8"))  # sorted, unique
    word_sizes: tuple[int, ...] = (2, 3, 4)  # token counts of indexed word values
    code_shapes: frozenset[tuple[int, int]] | None = None  # (letters, length) of the code values
    hasher: KeyedHasher | None = field(default=None, repr=False)
    _bits: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        header: Sequence[str],
        rows: Iterable[Sequence[str]],
        key: bytes,
        columns: Sequence[str] | None = None,
        supporting: Sequence[str] = (),
    ) -> EdmIndex:
        """Index ``rows`` (cells in ``header`` order); kinds and strength are inferred from a sample."""
        hasher = KeyedHasher(key, DOMAIN)
        it = iter(rows)
        sample = list(itertools.islice(it, _SAMPLE_ROWS))
        cols, col_pos = _profile(_fields(header, columns), sample, supporting)
        entries = _Entries(hasher, cols, [date_order([_cell(r, p) for r in sample]) for p in col_pos])
        for row in _chain(sample, it):
            entries.add_row([_cell(row, p) for p in col_pos])
        hashes, records, col_ids = entries.sorted()
        tok = np.unique(hasher.hash_many([f"t:{t}" for t in sorted(entries.word_tokens)]))
        n = entries.n_records
        log.info("edm_index_built", records=n, entries=int(hashes.size), columns=[c.name for c in cols])
        return cls(
            hashes=hashes,
            records=records,
            columns_of=col_ids,
            columns=tuple(cols),
            key_id=hasher.key_id,
            n_records=n,
            word_tokens=tok,
            word_sizes=tuple(sorted(s for s in entries.word_sizes if 1 <= s <= MAX_NAME_TOKENS)),
            code_shapes=frozenset(entries.code_shapes),
            hasher=hasher,
        )

    @property
    def shapes(self) -> Shapes:
        """The kinds and sizes of indexed values: text candidates of any other shape are never hashed."""
        return Shapes(frozenset(c.kind for c in self.columns), frozenset(self.word_sizes), self.code_shapes)

    def save(self, path: str | Path) -> None:
        """Write the index file (see :mod:`.indexfile`); sign it separately if wanted."""
        meta = {
            "key_id": self.key_id,
            "n_records": self.n_records,
            "columns": [[c.name, c.kind, c.supporting] for c in self.columns],
            "word_sizes": list(self.word_sizes),
        }
        if self.code_shapes is not None:
            meta["code_shapes"] = sorted([letters, n] for letters, n in self.code_shapes)
        arrays = {"hashes": self.hashes, "records": self.records, "columns": self.columns_of}
        write_index(path, KIND, meta, {**arrays, "word_tokens": self.word_tokens})

    @classmethod
    def load(
        cls,
        path: str | Path,
        key: bytes,
        public_key: PublicKey | None = None,
        require_signed: bool = False,
    ) -> EdmIndex:
        """Read an index; refuses (IndexRejected) a corrupt, unsigned-when-required or other-key index."""
        data = read_index(path, KIND, public_key=public_key, require_signed=require_signed)
        hasher = KeyedHasher(key, DOMAIN)
        if data.meta.get("key_id") != hasher.key_id:
            raise IndexRejected("key_mismatch", "the index was built with another key")
        a = data.arrays
        cols = tuple(Column(str(n), str(k), bool(s)) for n, k, s in data.meta["columns"])
        return cls(
            hashes=a["hashes"],
            records=a["records"],
            columns_of=a["columns"],
            columns=cols,
            key_id=hasher.key_id,
            n_records=int(data.meta["n_records"]),
            word_tokens=a["word_tokens"],
            word_sizes=tuple(int(s) for s in data.meta.get("word_sizes", (2, 3, 4))),
            code_shapes=_code_shapes(data.meta.get("code_shapes")),
            hasher=hasher,
        )

    def filter_bits(self) -> np.ndarray:
        """The bitmap of low hash bits (built once, ~0.2 s and 8 MB for a 1,000,000 x 6 table)."""
        if self._bits is None:
            self._bits = _bitmap(self.hashes)
        return self._bits

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All entries equal to each query hash: (query index, record, column) arrays.

        A bitmap of the low hash bits (built on first use, ~1 byte per entry) rejects almost every
        absent hash before the binary search, which costs a cache miss per step on a large index.
        """
        bits = self.filter_bits()
        mask = np.uint64(bits.size * 8 - 1)
        low = hashes & mask
        maybe = np.flatnonzero((bits[low >> np.uint64(3)] >> (low & np.uint64(7)).astype(np.uint8)) & 1)
        empty = np.zeros(0, dtype=np.int64)
        if maybe.size == 0:
            return empty, empty, empty
        queries = hashes[maybe]
        lo = np.searchsorted(self.hashes, queries, side="left")
        hi = np.searchsorted(self.hashes, queries, side="right")
        counts = hi - lo
        hit = np.nonzero(counts)[0]
        if hit.size == 0:
            return empty, empty, empty
        counts = counts[hit]
        q = np.repeat(maybe[hit], counts)
        starts = np.repeat(lo[hit] - np.cumsum(counts) + counts, counts)
        idx = starts + np.arange(q.size)
        return q, self.records[idx].astype(np.int64), self.columns_of[idx].astype(np.int64)


def _bitmap(hashes: np.ndarray) -> np.ndarray:
    """Packed bitmap of the low bits of ``hashes``: 8 to 16 bits per entry, so ~1/10 false positives."""
    n_bits = 1 << max(16, min(33, int(max(1, hashes.size) * 8 - 1).bit_length()))
    bits = np.zeros(n_bits // 8, dtype=np.uint8)
    for i in range(0, hashes.size, 1 << 18):  # in slices: temporaries stay a few MB on a large index
        low = hashes[i : i + (1 << 18)] & np.uint64(n_bits - 1)
        np.bitwise_or.at(bits, low >> np.uint64(3), np.left_shift(1, low & np.uint64(7)).astype(np.uint8))
    return bits


def _code_shapes(raw: object) -> frozenset[tuple[int, int]] | None:
    if not isinstance(raw, list):
        return None  # an index written before code shapes were recorded: every shape is a candidate
    return frozenset((int(letters), int(n)) for letters, n in raw)


def _fields(header: Sequence[str], columns: Sequence[str] | None) -> list[tuple[str, tuple[int, ...]]]:
    """(name, cell positions) of each field to index: the chosen columns, plus given + family name as
    one field (the full name) when both are chosen."""
    wanted = list(header) if not columns else list(columns)
    missing = [c for c in wanted if c not in header]
    if missing:
        raise ValueError(f"columns not in the table header: {', '.join(missing)}")
    fields: list[tuple[str, tuple[int, ...]]] = [(c, (list(header).index(c),)) for c in wanted]
    given = next((i for i, h in enumerate(header) if _GIVEN_NAME.search(h)), None)
    family = next((i for i, h in enumerate(header) if _FAMILY_NAME.search(h)), None)
    if given is not None and family is not None and header[given] in wanted and header[family] in wanted:
        fields.append((f"{header[given]}+{header[family]}", (given, family)))  # the full name, one field
    return fields


def _profile(
    fields: list[tuple[str, tuple[int, ...]]], sample: list[Sequence[str]], supporting: Sequence[str]
) -> tuple[list[Column], list[tuple[int, ...]]]:
    """The columns worth indexing (kind and strength inferred from the sample) and their cell positions."""
    cols: list[Column] = []
    col_pos: list[tuple[int, ...]] = []
    for name, pos in fields:
        values = [v for v in (_cell(r, pos) for r in sample) if v]
        profile = profile_column(name, values)
        if profile is None:
            log.info("edm_column_skipped", column=name, reason="too few distinct values")
            continue
        kind, weak = profile
        cols.append(Column(name, kind, weak or name in supporting))
        col_pos.append(pos)
    if not cols:
        raise ValueError("no usable column to index")
    if len(cols) > 255:
        raise ValueError("too many columns (max 255)")
    return cols, col_pos


class _Entries:
    """The (hash, record, column) entries of a table, hashed in batches of ``_BATCH`` values, and the
    shapes of what was indexed (name tokens and sizes, code shapes) for the matcher's candidates."""

    def __init__(self, hasher: KeyedHasher, cols: list[Column], date_orders: list[str]) -> None:
        self.hasher, self.cols, self.date_orders = hasher, cols, date_orders
        self.normalisers = [BUILD_NORMALISERS[c.kind] for c in cols]
        self.parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
        self.word_tokens: set[str] = set()
        self.word_sizes: set[int] = set()
        self.code_shapes: set[tuple[int, int]] = set()
        self.n_records = 0
        self._msgs: list[str] = []
        self._recs: list[int] = []
        self._cids: list[int] = []

    def add_row(self, cells: list[str]) -> None:
        """One record: its cells in column order."""
        for ci, cell in enumerate(cells):
            norm = self.normalisers[ci](cell, self.date_orders[ci])
            if norm is not None:
                self._add(ci, norm)
        self.n_records += 1
        if len(self._msgs) >= _BATCH:
            self._flush()

    def _add(self, ci: int, norm: str) -> None:
        kind = self.cols[ci].kind
        if kind == "words":
            toks = norm.split(" ")
            self.word_tokens.update(toks)
            self.word_sizes.add(len(toks))
        elif kind == "code":
            self.code_shapes.add(code_shape(norm))
        self._msgs.append(f"{PREFIX[kind]}:{norm}")
        self._recs.append(self.n_records)
        self._cids.append(ci)

    def _flush(self) -> None:
        if self._msgs:
            self.parts[0].append(self.hasher.hash_many(self._msgs))
            self.parts[1].append(np.asarray(self._recs, dtype="<u4"))
            self.parts[2].append(np.asarray(self._cids, dtype="|u1"))
            self._msgs.clear()
            self._recs.clear()
            self._cids.clear()

    def sorted(self) -> tuple[np.ndarray, ...]:
        """(hashes, records, columns), sorted by hash, values shared by too many records dropped."""
        self._flush()
        parts_h, parts_r, parts_c = self.parts
        hashes = np.concatenate(parts_h) if parts_h else np.zeros(0, dtype="<u8")
        records = np.concatenate(parts_r) if parts_r else np.zeros(0, dtype="<u4")
        col_ids = np.concatenate(parts_c) if parts_c else np.zeros(0, dtype="|u1")
        for parts in self.parts:  # free the batches before sorting
            parts.clear()
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]  # one array at a time: peak memory stays near twice the index
        records = records[order]
        col_ids = col_ids[order]
        del order
        return _cap_common(hashes, records, col_ids, MAX_RECORDS_PER_VALUE)


def _cell(row: Sequence[str], pos: tuple[int, ...]) -> str:
    if len(pos) == 1:
        return row[pos[0]] if pos[0] < len(row) else ""
    return " ".join(row[p].strip() for p in pos if p < len(row)).strip()


def _chain(first: list[Sequence[str]], rest: Iterable[Sequence[str]]) -> Iterable[Sequence[str]]:
    yield from first
    yield from rest


def _cap_common(h: np.ndarray, r: np.ndarray, c: np.ndarray, cap: int) -> tuple[np.ndarray, ...]:
    """Drop values (runs of equal hashes) shared by more than ``cap`` records."""
    if h.size <= cap or not (h[cap:] == h[:-cap]).any():  # no run longer than cap: the usual case
        return h, r, c
    boundaries = np.flatnonzero(np.diff(h)) + 1
    starts = np.concatenate(([0], boundaries))
    lengths = np.diff(np.concatenate((starts, [h.size])))
    keep = np.repeat(lengths <= cap, lengths)
    return h[keep], r[keep], c[keep]


class EdmDetector:
    """ChunkDetector emitting EDM_MATCH when fields of one protected record appear together."""

    entities = frozenset({"EDM_MATCH"})

    def __init__(self, index: EdmIndex, min_fields: int = 2, proximity_tokens: int = 30) -> None:
        if index.hasher is None:
            raise ValueError("EdmIndex has no key: build or load it with one")
        self.index = index
        self.min_fields = max(1, min_fields)
        self.proximity_tokens = proximity_tokens
        self._strong = np.array([not c.supporting for c in index.columns], dtype=bool)
        self._candidates = CandidateGenerator(index.shapes, self._word_filter)
        index.filter_bits()  # built now rather than in the first chunk
        self._hashes: dict[str, int] = {}  # keyed hashes of recent candidates: dates, names, ids repeat

    def detect(self, chunk: TextChunk) -> list[Detection]:
        text = chunk.text
        hasher = self.index.hasher
        if hasher is None:
            raise RuntimeError("EDM index was loaded without its hasher")
        cands = self._candidates(text)
        if not cands:
            return []
        msgs = list(cands)
        q, rec, col = self.index.lookup(self._hash(msgs))
        if q.size == 0:
            return []
        # records with enough distinct fields anywhere in the chunk; only those are placed in the text
        fields: dict[int, list[tuple[int, int]]] = {}
        for qi, r, c in zip(q.tolist(), rec.tolist(), col.tolist(), strict=True):
            fields.setdefault(r, []).append((qi, c))
        matched: list[tuple[int, int, int, int]] = []  # (record, start, end, n_fields)
        units = None
        for r, found in fields.items():
            n_cols = len({c for _, c in found})
            if n_cols < self.min_fields:
                continue
            lst = [(s, e, c) for qi, c in found for s, e in cands[msgs[qi]]]
            if units is None:
                units = _Units(text, chunk.tabular)
            best = self._best_group(lst, units, n_cols)
            if best is not None:
                matched.append((r, *best))
        if not matched:
            return []
        start = min(m[1] for m in matched)
        end = max(m[2] for m in matched)
        ids = sorted({m[0] for m in matched})
        group = hasher.digest8(",".join(map(str, ids)).encode()).hex()
        return [
            Detection(
                entity="EDM_MATCH",
                start=chunk.offset + start,
                end=chunk.offset + end,
                score=1.0,
                recognizer="edm",
                path=chunk.path,
                member=chunk.member,
                line=chunk.line + text.count("\n", 0, start),
                part=chunk.part,
                value=f"record-group:{group}",
                attributes=(("records", str(len(ids))), ("fields", str(max(m[3] for m in matched)))),
            )
        ]

    def known_spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` holds a value of some protected record, any field, even alone (a customer's
        name in free text): excerpts blank these (agent.redact.Redactor), so no third party reads them."""
        cands = self._candidates(text)
        if not cands:
            return []
        msgs = list(cands)
        q, _, _ = self.index.lookup(self._hash(msgs))
        return sorted({span for qi in set(q.tolist()) for span in cands[msgs[qi]]})

    def _hash(self, msgs: list[str]) -> np.ndarray:
        """Keyed hashes of ``msgs``, computed only for those not seen recently."""
        cache = self._hashes
        if len(cache) > _HASH_CACHE:
            cache.clear()
        vals = list(map(cache.get, msgs))
        if None in vals:
            if self.index.hasher is None:
                raise RuntimeError("EDM index was loaded without its hasher")
            todo = [i for i, v in enumerate(vals) if v is None]
            for i, h in zip(todo, self.index.hasher.hash_many([msgs[i] for i in todo]).tolist(), strict=True):
                vals[i] = cache[msgs[i]] = h
        return np.array(vals, dtype=np.uint64)

    def _word_filter(self, tokens: list[str]) -> set[str]:
        """The folded word tokens that occur in some indexed word value (keyed lookup, no n-grams yet)."""
        if not tokens or self.index.word_tokens.size == 0:
            return set()
        h = self._hash([f"t:{t}" for t in tokens])
        pos = np.searchsorted(self.index.word_tokens, h)
        pos[pos >= self.index.word_tokens.size] = 0
        found = self.index.word_tokens[pos] == h
        return {t for t, f in zip(tokens, found.tolist(), strict=True) if f}

    def _best_group(
        self, lst: list[tuple[int, int, int]], units: _Units, n_cols: int
    ) -> tuple[int, int, int] | None:
        """The largest set of non-overlapping fields of one record inside one row / window, if enough."""
        placed = sorted(set(lst))[:_MAX_PLACES]  # bounded work when one record is repeated all over
        best: tuple[int, int, int] | None = None
        for i in range(len(placed)):
            if best is not None and best[2] == n_cols:
                break  # every field of the record found together: cannot do better
            a = placed[i][0]
            window = [p for p in placed[i:] if units.close(a, p[0], self.proximity_tokens)]
            picked: list[tuple[int, int, int]] = []
            for p in sorted(window, key=lambda p: (p[0], p[0] - p[1])):
                if any(p[2] == q[2] or not (p[1] <= q[0] or q[1] <= p[0]) for q in picked):
                    continue
                picked.append(p)
            enough = len(picked) >= self.min_fields and any(self._strong[p[2]] for p in picked)
            if enough and (best is None or len(picked) > best[2]):
                best = (min(p[0] for p in picked), max(p[1] for p in picked), len(picked))
        return best


class _Units:
    """Proximity between two match offsets: word tokens between them, or the same row of a table.

    Table rows (``tabular``) are one unit whatever their width; a record laid out vertically
    (a key/value sheet) is still caught by the token window.
    """

    _TOKEN = re.compile(r"\w+")

    def __init__(self, text: str, tabular: bool) -> None:
        self.text = text
        self.tabular = tabular

    def close(self, a: int, b: int, proximity: int) -> bool:
        """Whether offset ``b`` >= ``a`` lies within ``proximity`` tokens (or on a's table row)."""
        if self.tabular and "\n" not in self.text[a:b]:
            return True
        if b - a > proximity * 48:  # no way to fit in the window: skip counting
            return False
        return len(self._TOKEN.findall(self.text, a, b)) <= proximity
