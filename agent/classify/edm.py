"""Exact Data Match: find rows of a protected table in scanned text, knowing the table only by keyed hashes.

Each cell is normalised by the kind of its column (email, date, code/number, phone, words such as
names) and stored as HMAC-SHA256(key, kind:value) truncated to 64 bits, with its record number and
column. The index never holds a value in clear and cannot be tested against guesses without the key,
which matters for low-entropy fields like dates of birth. Matching derives the same normalised
candidates from text (word n-grams, digit-group runs, dates in several formats, e-mails), hashes them
and looks them up in one ``searchsorted`` per chunk; a record matches when ``min_fields`` of its
fields (one of them strong) appear on one table row or within ``proximity_tokens`` words.
"""

from __future__ import annotations

import datetime
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import structlog

from agent.classify.indexfile import IndexRejected, KeyedHasher, PublicKey, read_index, write_index
from agent.models import Detection, TextChunk

log = structlog.get_logger(__name__)

KIND = "edm"
DOMAIN = "dropwarden-edm-v1"
MAX_RECORDS_PER_VALUE = 1000  # a value shared by more records (a category, a default) identifies nothing
_SAMPLE_ROWS = 2000
_BATCH = 50_000
_MAX_PLACES = 256  # occurrences of one record's fields examined per chunk


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
    hasher: KeyedHasher | None = field(default=None, repr=False)

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
        wanted = list(header) if not columns else list(columns)
        missing = [c for c in wanted if c not in header]
        if missing:
            raise ValueError(f"columns not in the table header: {', '.join(missing)}")
        fields: list[tuple[str, tuple[int, ...]]] = [(c, (list(header).index(c),)) for c in wanted]
        given = next((i for i, h in enumerate(header) if _GIVEN_NAME.search(h)), None)
        family = next((i for i, h in enumerate(header) if _FAMILY_NAME.search(h)), None)
        if given is not None and family is not None and header[given] in wanted and header[family] in wanted:
            fields.append((f"{header[given]}+{header[family]}", (given, family)))  # the full name, one field
        it = iter(rows)
        sample: list[Sequence[str]] = []
        for row in it:
            sample.append(row)
            if len(sample) >= _SAMPLE_ROWS:
                break
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
        normalisers = [BUILD_NORMALISERS[c.kind] for c in cols]
        date_orders = [date_order([_cell(r, p) for r in sample]) for p in col_pos]
        parts_h: list[np.ndarray] = []
        parts_r: list[np.ndarray] = []
        parts_c: list[np.ndarray] = []
        word_tokens: set[str] = set()
        word_sizes: set[int] = set()
        msgs: list[str] = []
        recs: list[int] = []
        cids: list[int] = []
        n = 0

        def flush() -> None:
            if msgs:
                parts_h.append(hasher.hash_many(msgs))
                parts_r.append(np.asarray(recs, dtype="<u4"))
                parts_c.append(np.asarray(cids, dtype="|u1"))
                msgs.clear()
                recs.clear()
                cids.clear()

        for row in _chain(sample, it):
            for ci, pos in enumerate(col_pos):
                norm = normalisers[ci](_cell(row, pos), date_orders[ci])
                if norm is None:
                    continue
                if cols[ci].kind == "words":
                    toks = norm.split(" ")
                    word_tokens.update(toks)
                    word_sizes.add(len(toks))
                msgs.append(f"{PREFIX[cols[ci].kind]}:{norm}")
                recs.append(n)
                cids.append(ci)
            n += 1
            if len(msgs) >= _BATCH:
                flush()
        flush()
        hashes = np.concatenate(parts_h) if parts_h else np.zeros(0, dtype="<u8")
        records = np.concatenate(parts_r) if parts_r else np.zeros(0, dtype="<u4")
        col_ids = np.concatenate(parts_c) if parts_c else np.zeros(0, dtype="|u1")
        for parts in (parts_h, parts_r, parts_c):  # free the batches before sorting
            parts.clear()
        order = np.argsort(hashes, kind="stable")
        hashes = hashes[order]  # one array at a time: peak memory stays near twice the index
        records = records[order]
        col_ids = col_ids[order]
        del order
        hashes, records, col_ids = _cap_common(hashes, records, col_ids, MAX_RECORDS_PER_VALUE)
        tok = np.unique(hasher.hash_many([f"t:{t}" for t in sorted(word_tokens)]))
        log.info("edm_index_built", records=n, entries=int(hashes.size), columns=[c.name for c in cols])
        return cls(
            hashes=hashes,
            records=records,
            columns_of=col_ids,
            columns=tuple(cols),
            key_id=hasher.key_id,
            n_records=n,
            word_tokens=tok,
            word_sizes=tuple(sorted(s for s in word_sizes if 1 <= s <= MAX_NAME_TOKENS)),
            hasher=hasher,
        )

    def save(self, path: str | Path) -> None:
        """Write the index file (see :mod:`agent.classify.indexfile`); sign it separately if wanted."""
        meta = {
            "key_id": self.key_id,
            "n_records": self.n_records,
            "columns": [[c.name, c.kind, c.supporting] for c in self.columns],
            "word_sizes": list(self.word_sizes),
        }
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
            hasher=hasher,
        )

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All entries equal to each query hash: (query index, record, column) arrays."""
        lo = np.searchsorted(self.hashes, hashes, side="left")
        hi = np.searchsorted(self.hashes, hashes, side="right")
        counts = hi - lo
        hit = np.nonzero(counts)[0]
        if hit.size == 0:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty
        counts = counts[hit]
        q = np.repeat(hit, counts)
        starts = np.repeat(lo[hit] - np.cumsum(counts) + counts, counts)
        idx = starts + np.arange(q.size)
        return q, self.records[idx].astype(np.int64), self.columns_of[idx].astype(np.int64)


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
        self._word_sizes = set(index.word_sizes)

    def detect(self, chunk: TextChunk) -> list[Detection]:
        text = chunk.text
        hasher = self.index.hasher
        assert hasher is not None
        cands = candidates(text, self._word_filter, self._word_sizes)
        if not cands:
            return []
        msgs = list(cands)
        q, rec, col = self.index.lookup(hasher.hash_many(msgs))
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
            lst = [(s, e, c) for qi, c in found for s, e in iter_spans(cands[msgs[qi]])]
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

    def _word_filter(self, tokens: list[str]) -> set[str]:
        """The folded word tokens that occur in some indexed word value (keyed lookup, no n-grams yet)."""
        if not tokens or self.index.word_tokens.size == 0:
            return set()
        assert self.index.hasher is not None
        h = self.index.hasher.hash_many([f"t:{t}" for t in tokens])
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


# --- normalisation: the same function of a value at build time and of a candidate at match time ---

MAX_NAME_TOKENS = 4
MAX_RUN_GROUPS = 9  # "GB29 NWBK 6016 1331 9268 19": IBANs and phone numbers are written in groups
PREFIX = {"email": "e", "date": "d", "code": "c", "phone": "p", "words": "w"}
_GIVEN_NAME = re.compile(r"^(first|given|fore)[ _-]?name|^vorname|^pr[ée]nom|^nombre$|^first$", re.I)
_FAMILY_NAME = re.compile(r"^(last|family|sur)[ _-]?name|^surname|^nachname|^nom$|^apellido|^last$", re.I)
_PHONE_HINT = re.compile(r"phone|tel|mobil|fax|handy|natel|gsm|cell", re.IGNORECASE)
_LETTERS = re.compile(r"[^\W\d_]+")
_EMAIL = re.compile(r"[\w.+'%-]+@[\w-]+(?:\.[\w-]+)+")
_EMAIL_AT = re.compile(r"(?<![\w.+'%-])[\w.+'%-]{1,80}@[\w-]+(?:\.[\w-]+)+")
_ALNUM = re.compile(r"[A-Za-z0-9]+")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_ISO_DATE = re.compile(r"\s*(\d{4})-(\d\d)-(\d\d)(?:[T ][\d:.]+)?\s*")
_RUN_TOKEN = r"(?<![A-Za-z0-9])(?:[A-Za-z]*\d[A-Za-z0-9]*|[A-Z]{2,4})(?![A-Za-z0-9])"
_RUN = re.compile(rf"\+?{_RUN_TOKEN}(?:[ .\-/'’,()\u00a0\u202f]{{1,2}}{_RUN_TOKEN})*")
_NUM_DATE = re.compile(r"(?<![\d.])(\d{1,4})([./-])(\d{1,2})\2(\d{2,4})(?![\d])")
_COMPACT_DATE = re.compile(r"(?<!\d)((?:19|20)\d\d)(\d\d)(\d\d)(?!\d)")
_MONTHS = {
    **dict.fromkeys(["jan", "january", "januar", "janvier", "enero", "gennaio", "januari", "jänner"], 1),
    **dict.fromkeys(["feb", "february", "februar", "février", "febrero", "febbraio", "februari"], 2),
    **dict.fromkeys(["mar", "march", "märz", "maerz", "mars", "marzo", "maart", "mrt"], 3),
    **dict.fromkeys(["apr", "april", "avril", "abril", "aprile"], 4),
    **dict.fromkeys(["may", "mai", "mayo", "maggio", "mei"], 5),
    **dict.fromkeys(["jun", "june", "juni", "juin", "junio", "giugno"], 6),
    **dict.fromkeys(["jul", "july", "juli", "juillet", "julio", "luglio"], 7),
    **dict.fromkeys(["aug", "august", "aout", "août", "agosto", "augustus"], 8),
    **dict.fromkeys(["sep", "sept", "september", "septembre", "septiembre", "settembre"], 9),
    **dict.fromkeys(["oct", "october", "oktober", "octobre", "octubre", "ottobre", "okt"], 10),
    **dict.fromkeys(["nov", "november", "novembre", "noviembre"], 11),
    **dict.fromkeys(["dec", "december", "dezember", "décembre", "diciembre", "dicembre", "dez"], 12),
}
_MONTH_RE = "|".join(sorted((re.escape(m) for m in _MONTHS), key=len, reverse=True))
_DAY_MONTH_YEAR = re.compile(  # 17 June 1946, 17. Juni 1946, 17-Jun-1946, 17 de junio de 1946
    rf"(?<!\d)(\d{{1,2}})(?:st|nd|rd|th|er)?[\s.\-/]*(?:de\s+)?({_MONTH_RE})[\s.,\-/]+(?:de\s+)?(\d{{4}})$",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR = re.compile(  # June 17, 1946; Jun 17th 1946
    rf"\b({_MONTH_RE})[\s.\-/]+(\d{{1,2}})(?:st|nd|rd|th)?[\s.,\-/]+(\d{{4}})$", re.IGNORECASE
)
_YEAR = re.compile(r"(?<!\d)(?<!\d[.\-/])\d{4}(?!\d|[.\-/]\d)")  # not inside a numeric date


_TRANSLIT = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "đ": "d", "ł": "l", "ı": "i", "þ": "th"})
_UMLAUT_PAIRS = re.compile(r"(?<=[a-z])([aou])e")


def fold(text: str) -> str:
    """Case and accent folding: 'Émile' == 'EMILE', 'Straße' == 'strasse', 'Müller' == 'Mueller'."""
    if text.isascii():
        return _UMLAUT_PAIRS.sub(r"\1", text.lower()) if "e" in text or "E" in text else text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold().translate(_TRANSLIT)
    return _UMLAUT_PAIRS.sub(r"\1", plain)


_fold_token = lru_cache(maxsize=100_000)(fold)  # words of scanned text repeat a lot; table cells do not


def norm_words(value: str, _order: str = "") -> str | None:
    """A name or other words as its sorted folded letter tokens: 'Doe, Jane' == 'JANE DOE'."""
    tokens = _LETTERS.findall(fold(value))
    if not tokens or len(tokens) > MAX_NAME_TOKENS or sum(map(len, tokens)) < 3:
        return None
    return " ".join(sorted(tokens))


def norm_email(value: str, _order: str = "") -> str | None:
    v = value.strip().casefold()
    return v if _EMAIL.fullmatch(v) else None


def norm_code(value: str, _order: str = "") -> str | None:
    """Identifiers and numbers without separators or case: IBAN groups, '1,071,912.28', 'c-123-456'."""
    v = _NON_ALNUM.sub("", value if value.isascii() else fold(value)).upper()
    return v if len(v) >= 4 and not v.isalpha() else None


def norm_phone(value: str, _order: str = "") -> str | None:
    """The last 9 digits: the same with or without country code, trunk zero or grouping."""
    digits = re.sub(r"\D", "", value)
    return digits[-9:] if len(digits) >= 9 else None


def _ymd(y: int, m: int, d: int) -> str | None:
    if 1 <= m <= 12 and 1 <= d <= (29 if m == 2 else 30 if m in (4, 6, 9, 11) else 31) and 1000 <= y <= 2999:
        return f"{y:04d}{m:02d}{d:02d}"
    return None


def _two_digit_years(yy: int, one: bool) -> list[int]:
    """'46' is 1946 or 2046: in text both are tried; a table cell takes the one not in the future."""
    now = datetime.date.today().year % 100
    if one:
        return [2000 + yy if yy <= now else 1900 + yy]
    return [1900 + yy, 2000 + yy] if yy <= now else [1900 + yy]


def norm_date(value: str, order: str = "dmy") -> str | None:
    """A table date as yyyymmdd; ``order`` settles dd/mm versus mm/dd for the whole column."""
    iso = _ISO_DATE.fullmatch(value)
    if iso:
        return _ymd(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
    found = parse_dates(value, order)
    return found[0][0] if found else None


def parse_dates(text: str, order: str = "") -> list[tuple[str, int, int]]:
    """Every date in ``text`` as (yyyymmdd, start, end); ambiguous d/m orders give both unless fixed."""
    out: list[tuple[str, int, int]] = []
    for m in _NUM_DATE.finditer(text):
        a, sep, b, c = m.group(1), m.group(2), m.group(3), m.group(4)
        if len(a) == 4 and len(c) <= 2:
            options = [_ymd(int(a), int(b), int(c))]
        elif len(c) in (2, 4) and len(a) <= 2:
            years = [int(c)] if len(c) == 4 else _two_digit_years(int(c), bool(order))
            options = []
            for y in years:
                dmy, mdy = _ymd(y, int(b), int(a)), _ymd(y, int(a), int(b))
                if order == "dmy" or (not order and sep == "."):
                    options.append(dmy)
                elif order == "mdy":
                    options.append(mdy)
                else:
                    options += [dmy, mdy]
        else:
            continue
        out.extend((o, m.start(), m.end()) for o in dict.fromkeys(options) if o)
    for m in _COMPACT_DATE.finditer(text):
        o = _ymd(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        if o:
            out.append((o, m.start(), m.end()))
    # written months: anchored on the 4-digit year (cheap to find), then parsed in a small window
    for y in _YEAR.finditer(text):
        begin = max(0, y.start() - 40)
        m = _DAY_MONTH_YEAR.search(text, begin, y.end())  # lookbehinds still see text before begin
        if m:
            o = _ymd(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
        else:
            m = _MONTH_DAY_YEAR.search(text, begin, y.end())
            o = _ymd(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2))) if m else None
        if m and o:
            out.append((o, m.start(), m.end()))
    return out


def date_order(values: Sequence[str]) -> str:
    """'mdy' when a column writes mm/dd/yyyy (some second part > 12), else 'dmy'."""
    for v in values:
        m = _NUM_DATE.search(v)
        if m and len(m.group(4)) == 4:
            if int(m.group(3)) > 12:
                return "mdy"
            if int(m.group(1)) > 12:
                return "dmy"
    return "mdy" if any("/" in v for v in values[:50]) else "dmy"


BUILD_NORMALISERS = {
    "email": norm_email,
    "date": norm_date,
    "code": norm_code,
    "phone": norm_phone,
    "words": norm_words,
}


def profile_column(name: str, values: Sequence[str]) -> tuple[str, bool] | None:
    """(kind, supporting) of a column from a sample of its values; None when it identifies nothing.

    Supporting-only: dates, short numbers (median < 8 characters), single words (first names, cities),
    and columns where values repeat a lot. Categories (status, country) are not indexed at all.
    """
    if not values:
        return None
    distinct = len(set(values)) / len(values)
    if len(values) >= 20 and distinct < 0.05:
        return None

    def share(pred: object) -> float:
        return sum(1 for v in values if pred(v)) / len(values)  # type: ignore[operator]

    if share(lambda v: norm_email(v) is not None) >= 0.8:
        kind = "email"
    elif share(lambda v: bool(parse_dates(v, "dmy"))) >= 0.8 and share(lambda v: len(v) <= 30) >= 0.8:
        kind = "date"
    elif share(lambda v: norm_phone(v) is not None) >= 0.8 and (
        _PHONE_HINT.search(name) or share(lambda v: v.lstrip().startswith(("+", "00", "("))) >= 0.5
    ):
        kind = "phone"
    elif share(lambda v: norm_code(v) is not None) >= 0.8:
        kind = "code"
    else:
        kind = "words"
    weak = distinct < 0.5 or kind == "date"
    if kind == "code":
        lengths = sorted(len(norm_code(v) or "") for v in values)
        weak = weak or lengths[len(lengths) // 2] < 8
    elif kind == "words":
        sizes = sorted(len((norm_words(v) or "").split()) for v in values)
        weak = weak or sizes[len(sizes) // 2] < 2
    return kind, weak


#: where a candidate occurs: (start, end), or (run starts, start, end) for a repeated digit run
Spans = list[tuple[int, int] | tuple[list[int], int, int]]


def iter_spans(items: Spans) -> Iterator[tuple[int, int]]:
    for item in items:
        if len(item) == 2:
            yield item  # type: ignore[misc]
        else:
            bases, s, e = item  # type: ignore[misc]
            for b in bases:
                yield b + s, b + e


def candidates(
    text: str, word_filter: Callable[[list[str]], set[str]], word_sizes: set[int]
) -> dict[str, Spans]:
    """Normalised candidate values of ``text`` (hash input -> spans), generated like the table's."""
    out: dict[str, Spans] = {}

    def add(msg: str, s: int, e: int) -> None:
        out.setdefault(msg, []).append((s, e))

    masked: list[tuple[int, int]] = []
    at = text.find("@")
    while at >= 0:  # e-mails: parsed around each "@" only (a full regex scan is slow on big texts)
        begin = max(0, at - 80)
        m = _EMAIL_AT.search(text, begin, at + 256)
        if m and m.start() <= at < m.end():
            add("e:" + m.group(0).casefold().strip(".'"), m.start(), m.end())
            masked.append((m.start(), m.end()))
            at = text.find("@", m.end())
        else:
            at = text.find("@", at + 1)
    for ymd, s, e in parse_dates(text):
        add("d:" + ymd, s, e)
    _code_candidates(text, masked, out)
    if word_sizes:
        _word_candidates(text, masked, word_filter, word_sizes, add)
    return out


def _inside(spans: list[tuple[int, int]], s: int) -> bool:
    return any(a <= s < b for a, b in spans)


def _code_candidates(text: str, masked: list[tuple[int, int]], out: dict[str, Spans]) -> None:
    runs: dict[str, list[int]] = {}
    for run in _RUN.finditer(text):
        if not (masked and _inside(masked, run.start())):
            runs.setdefault(run.group(0), []).append(run.start())
    for run_text, bases in runs.items():
        for msg, s, e in _run_candidates(run_text):
            spans = out.get(msg)
            if spans is None:
                out[msg] = spans = []
            spans.append((bases, s, e))  # expanded only if the candidate is in the index


@lru_cache(maxsize=50_000)
def _run_candidates(run: str) -> tuple[tuple[str, int, int], ...]:
    """Every join of 1..MAX_RUN_GROUPS consecutive groups of a digit run (cached: logs repeat them)."""
    toks = [(t.start(), t.end(), t.group(0).upper()) for t in _ALNUM.finditer(run)]
    out = []
    for i in range(len(toks)):
        joined = ""
        for j in range(i, min(i + MAX_RUN_GROUPS, len(toks))):
            joined += toks[j][2]
            if len(joined) < 4:
                continue
            s, e = toks[i][0], toks[j][1]
            if joined.isdigit():
                out.append(("c:" + joined, s, e))
                if len(joined) >= 9:
                    out.append(("p:" + joined[-9:], s, e))
            elif any(ch.isdigit() for ch in joined):
                out.append(("c:" + joined, s, e))
    return tuple(out)


_NAME_GAP = re.compile(r"[^\w@]{0,3}(?:[^\W\d_][^\w@]{1,3})?")  # separators, at most one initial ("A. ")


def _word_candidates(
    text: str,
    masked: list[tuple[int, int]],
    word_filter: Callable[[list[str]], set[str]],
    word_sizes: set[int],
    add: Callable[[str, int, int], None],
) -> None:
    """Word n-grams (sorted tokens) made only of tokens known to occur in some indexed value."""
    folded = {raw: _fold_token(raw) for raw in set(_LETTERS.findall(text))}
    known = word_filter(sorted(set(folded.values())))
    if not known:
        return
    known_raw = {raw: f for raw, f in folded.items() if f in known}
    toks = [
        (m.start(), m.end(), known_raw[m.group(0)])
        for m in _LETTERS.finditer(text)
        if m.group(0) in known_raw
    ]
    biggest = max(word_sizes)
    for i, (s, e, w) in enumerate(toks):
        if masked and _inside(masked, s):
            continue
        gram = [w]
        if 1 in word_sizes:
            add("w:" + w, s, e)
        prev_end = e
        for j in range(i + 1, min(i + biggest, len(toks))):
            if toks[j][0] - prev_end > 6 or not _NAME_GAP.fullmatch(text, prev_end, toks[j][0]):
                break
            prev_end = toks[j][1]
            gram.append(toks[j][2])
            if len(gram) in word_sizes:
                add("w:" + " ".join(sorted(gram)), s, prev_end)
