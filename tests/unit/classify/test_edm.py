"""Exact Data Match: normalisation, record/proximity logic, key protection, and the public corpus."""

from __future__ import annotations

import csv
import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pytest

from agent.classify.indexes.edm import EdmDetector, EdmIndex, _cap_common
from agent.classify.indexes.edm_normalise import norm_code, norm_date, norm_phone, norm_words, parse_dates
from agent.classify.indexes.indexfile import IndexRejected
from agent.classify.indexes.protect import build_edm_index
from agent.models import TextChunk

KEY = b"A" * 32
_SYL = [
    "bel",
    "mond",
    "qui",
    "ri",
    "na",
    "ot",
    "til",
    "de",
    "fen",
    "wick",
    "ma",
    "sol",
    "ysol",
    "cor",
    "vin",
    "an",
]
#: invented names (syllable pairs), so that full names in the fake table are almost all distinct
FIRST = sorted({(a + b).capitalize() for a in _SYL[:8] for b in _SYL[8:]})
LAST = sorted({(a + b + "er").capitalize() for a in _SYL[8:] for b in _SYL[:8]})
HEADER = ["customer_id", "full_name", "date_of_birth", "iban", "account_number", "email", "phone"]


def fake_iban(rng: random.Random) -> str:
    """A checksum-valid but random Swiss-format IBAN."""
    bban = "".join(rng.choice("0123456789") for _ in range(17))
    numeric = int(bban + "1217" + "00")  # C=12 H=17
    return f"CH{98 - numeric % 97:02d}{bban}"


def fake_table(n: int, seed: int = 7) -> list[list[str]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        rows.append(
            [
                f"C{rng.randrange(10**7, 10**8)}",
                f"{first} {last}",
                f"{rng.randrange(1940, 2004)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                fake_iban(rng),
                str(rng.randrange(10**9, 10**10)),
                f"{first.lower()}.{last.lower()}{i}@example.org",
                f"+41 7{rng.randrange(5, 10)} {rng.randrange(100, 999)} {rng.randrange(10, 99)} "
                f"{rng.randrange(10, 99)}",
            ]
        )
    return rows


@pytest.fixture(scope="module")
def table() -> list[list[str]]:
    return fake_table(200)


@pytest.fixture(scope="module")
def index(table: list[list[str]]) -> EdmIndex:
    return EdmIndex.build(HEADER, table, KEY)


@pytest.fixture(scope="module")
def detector(index: EdmIndex) -> EdmDetector:
    return EdmDetector(index)


def chunk(text: str, tabular: bool = False) -> TextChunk:
    return TextChunk(path="/srv/drop/x.txt", member=None, text=text, tabular=tabular)


def test_dates_in_three_numeric_formats_and_textual_months_normalise_alike() -> None:
    """dd.mm.yyyy, yyyy-mm-dd, mm/dd/yyyy and written months all become the same yyyymmdd."""
    assert norm_date("1984-05-12") == norm_date("12.05.1984") == "19840512"
    assert norm_date("05/12/1984", "mdy") == "19840512"
    for text in ("born 12 May 1984", "May 12th, 1984", "12. Mai 1984", "12-May-1984", "12 de mayo de 1984"):
        assert [d for d, _, _ in parse_dates(text)] == ["19840512"], text
    assert {d for d, _, _ in parse_dates("12.05.84")} == {"19840512"}  # two-digit year: 2084 is not tried
    assert {d for d, _, _ in parse_dates("12/05/1984")} == {"19840512", "19841205"}  # ambiguous: both
    assert parse_dates("31.02.1984") == []


def test_numbers_ignore_spaces_dashes_and_dots() -> None:
    """Account numbers and amounts compare by their characters only, whatever the grouping."""
    assert norm_code("2999-864.909") == norm_code("2999 864 909") == norm_code("2999864909") == "2999864909"
    assert norm_code("1'071'912.28") == norm_code("1,071,912.28") == "107191228"


def test_iban_grouping_and_case_do_not_matter() -> None:
    """An IBAN printed in groups of four or in lower case normalises to the compact form."""
    assert (
        norm_code("CH21 0023 0745 9197 6671 6")
        == norm_code("ch2100230745919766716")
        == "CH2100230745919766716"
    )


def test_names_match_in_either_order_case_and_accents() -> None:
    """'Doe, Jane', 'JANE DOE' and accented spellings are the same name field."""
    assert norm_words("Doe, Jane") == norm_words("JANE DOE") == norm_words("jane  doe")
    assert norm_words("Émile Müller") == norm_words("EMILE MUELLER") == norm_words("emile muller")


def test_phones_match_by_last_nine_digits() -> None:
    """International and national notations of one phone number are equal."""
    assert norm_phone("+41 76 186 48 47") == norm_phone("076 186 48 47") == norm_phone("0041761864847")


def test_tabular_row_with_two_fields_of_one_record_matches(
    table: list[list[str]], detector: EdmDetector
) -> None:
    """A spreadsheet row holding the name and IBAN of one protected record yields EDM_MATCH."""
    row = table[3]
    text = "name\tiban\tnote\nHarlan Ostrowski\tCH00 0000 0000\tok\n" + f"{row[1]}\t{row[3]}\tcallback\n"
    dets = detector.detect(chunk(text, tabular=True))
    assert len(dets) == 1
    det = dets[0]
    assert det.entity == "EDM_MATCH" and det.score == 1.0
    assert det.attribute("records") == "1" and det.attribute("fields") == "2"
    assert det.line == 3
    assert row[1] not in det.value and row[3] not in det.value and det.value.startswith("record-group:")


def test_prose_in_other_order_and_formats_matches(table: list[list[str]], detector: EdmDetector) -> None:
    """Name reversed and upper-cased plus a reformatted date of birth, a few words apart, match."""
    row = table[5]
    first, last = row[1].split()
    y, m, d = row[2].split("-")
    text = (
        f"Lorem ipsum.\nPlease call back {last.upper()}, {first.upper()} (born {d}.{m}.{y}) about the loan."
    )
    dets = detector.detect(chunk(text))
    assert [d.entity for d in dets] == ["EDM_MATCH"]
    assert dets[0].line == 2
    start = text.index(last.upper())
    assert dets[0].start == start


def test_grouped_iban_and_spaced_account_number_match(table: list[list[str]], detector: EdmDetector) -> None:
    """Two strong number fields match whatever their grouping."""
    row = table[7]
    iban = " ".join(row[3][i : i + 4] for i in range(0, len(row[3]), 4))
    acct = f"{row[4][:3]}-{row[4][3:6]}-{row[4][6:]}"
    assert detector.detect(chunk(f"Transfer from {iban.lower()} to account {acct} failed."))


def test_single_field_does_not_match(table: list[list[str]], detector: EdmDetector) -> None:
    """One protected value alone (an e-mail, a name) is not an exact data match."""
    row = table[9]
    assert detector.detect(chunk(f"Please write to {row[5]} before Friday.")) == []
    assert detector.detect(chunk(f"Meeting with {row[1]} tomorrow.")) == []


def test_email_containing_the_name_counts_once(table: list[list[str]], detector: EdmDetector) -> None:
    """first.last@... holds the name tokens, but the e-mail alone is still a single field."""
    row = table[11]
    assert detector.detect(chunk(f"Bounced: {row[5]}")) == []


def test_fields_of_different_records_do_not_match(table: list[list[str]], detector: EdmDetector) -> None:
    """A name from one record next to the IBAN of another record is not a match."""
    a, b = table[12], table[40]
    assert a[1] != b[1]
    assert detector.detect(chunk(f"{a[1]}\t{b[3]}", tabular=True)) == []
    assert detector.detect(chunk(f"{a[1]} holds {b[3]}")) == []


def test_fields_beyond_the_proximity_window_do_not_match(table: list[list[str]], index: EdmIndex) -> None:
    """Two fields of one record 60 filler words apart are outside the default 30-token window."""
    row = table[13]
    filler = " ".join(["lorem"] * 60)
    text = f"{row[1]} {filler} {row[4]}"
    assert EdmDetector(index).detect(chunk(text)) == []
    assert EdmDetector(index, proximity_tokens=80).detect(chunk(text))


def test_supporting_fields_alone_do_not_match() -> None:
    """Date of birth plus a short number are both supporting-only: no match without a strong field."""
    rng = random.Random(3)
    rows = [
        [
            f"{rng.randrange(1950, 2000)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}",
            str(1000 + i),
            f"C{10**7 + i}",
        ]
        for i in range(100)
    ]
    idx = EdmIndex.build(["dob", "branch", "cid"], rows, KEY)
    kinds = {c.name: (c.kind, c.supporting) for c in idx.columns}
    assert kinds == {"dob": ("date", True), "branch": ("code", True), "cid": ("code", False)}
    det = EdmDetector(idx)
    assert det.detect(chunk(f"{rows[4][0]}\t{rows[4][1]}", tabular=True)) == []
    assert det.detect(chunk(f"{rows[4][0]}\t{rows[4][2]}", tabular=True))


def test_min_fields_is_configurable(table: list[list[str]], index: EdmIndex) -> None:
    """With min_fields=3, two fields are not enough but three are."""
    row = table[15]
    det = EdmDetector(index, min_fields=3)
    assert det.detect(chunk(f"{row[1]} {row[4]}")) == []
    dets = det.detect(chunk(f"{row[1]} {row[4]} {row[6]}"))
    assert dets and dets[0].attribute("fields") == "3"


def test_several_records_are_counted(table: list[list[str]], detector: EdmDetector) -> None:
    """A leaked extract of five rows reports five distinct records in one detection."""
    text = "\n".join(f"{r[0]}\t{r[1]}\t{r[2]}" for r in table[20:25])
    dets = detector.detect(chunk(text, tabular=True))
    assert len(dets) == 1 and dets[0].attribute("records") == "5" and dets[0].attribute("fields") == "3"


def test_save_and_load_roundtrip(tmp_path: Path, table: list[list[str]], index: EdmIndex) -> None:
    """A saved index loads with the same key and matches the same text."""
    path = tmp_path / "c.edm"
    index.save(path)
    loaded = EdmIndex.load(path, KEY)
    row = table[30]
    assert EdmDetector(loaded).detect(chunk(f"{row[0]} {row[1]}"))
    assert [c.name for c in loaded.columns] == HEADER


def test_stolen_index_without_key_matches_nothing(
    tmp_path: Path, table: list[list[str]], index: EdmIndex
) -> None:
    """With another key neither loading nor a dictionary of all plausible dates finds anything."""
    path = tmp_path / "c.edm"
    index.save(path)
    with pytest.raises(IndexRejected) as exc:
        EdmIndex.load(path, b"B" * 32)
    assert exc.value.reason == "key_mismatch"
    # an attacker who bypasses the key check and hashes every date 1900-2010 with his own key
    attacker = EdmIndex.build(HEADER, table[:1], b"B" * 32)
    stolen = EdmIndex(**{**index.__dict__, "hasher": attacker.hasher})
    dates = [f"{y}-{m:02d}-{d:02d}" for y in range(1900, 2011) for m in range(1, 13) for d in range(1, 29)]
    hits = stolen.lookup(attacker.hasher.hash_many([f"d:{norm_date(x)}" for x in dates]))[0]
    assert hits.size == 0
    row = table[30]
    assert EdmDetector(stolen).detect(chunk(f"{row[0]} {row[1]} {row[2]}")) == []
    # and the stored hashes are not plain (unkeyed) SHA-256 of the normalised dates
    plain = [
        int.from_bytes(hashlib.sha256(f"d:{norm_date(x)}".encode()).digest()[:8], "little") for x in dates
    ]
    assert not np.isin(np.array(plain, dtype="<u8"), index.hashes).any()
    plain_be = [int.from_bytes(hashlib.sha256(norm_date(x).encode()).digest()[:8], "big") for x in dates]
    assert not np.isin(np.array(plain_be, dtype="<u8"), index.hashes).any()


def test_build_from_csv_file_with_column_selection(tmp_path: Path, table: list[list[str]]) -> None:
    """build_edm_index reads a semicolon CSV and indexes only the chosen columns."""
    path = tmp_path / "t.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(HEADER)
        w.writerows(table)
    idx = build_edm_index(path, ["full_name", "iban"], KEY)
    assert [c.name for c in idx.columns] == ["full_name", "iban"] and idx.n_records == len(table)
    row = table[2]
    assert EdmDetector(idx).detect(chunk(f"{row[1]}: {row[3]}"))
    assert EdmDetector(idx).detect(chunk(f"{row[1]}: {row[4]}")) == []  # account number not indexed


def test_build_from_xlsx_with_real_date_cells(tmp_path: Path, table: list[list[str]]) -> None:
    """An XLSX table (dates stored as Excel dates) indexes like the CSV."""
    import datetime

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER)
    for row in table:
        ws.append([*row[:2], datetime.date.fromisoformat(row[2]), *row[3:]])
    wb.save(tmp_path / "t.xlsx")
    idx = build_edm_index(tmp_path / "t.xlsx", None, KEY)
    assert {c.name: c.kind for c in idx.columns}["date_of_birth"] == "date"
    row = table[4]
    y, m, d = row[2].split("-")
    assert EdmDetector(idx).detect(chunk(f"{row[1]} born {d}.{m}.{y}"))


def test_first_and_last_name_columns_form_one_strong_field() -> None:
    """A table with separate first/last name columns still matches a full name plus a date."""
    rng = random.Random(5)
    rows = [
        [
            rng.choice(FIRST),
            rng.choice(LAST),
            f"{rng.randrange(1940, 2004)}-0{rng.randrange(1, 10)}-{rng.randrange(10, 29)}",
        ]
        for _ in range(300)
    ]
    idx = EdmIndex.build(["first_name", "last_name", "dob"], rows, KEY)
    assert any(c.name == "first_name+last_name" and not c.supporting for c in idx.columns)
    f, s, dob = rows[17]
    y, m, d = dob.split("-")
    assert EdmDetector(idx).detect(chunk(f"{s}, {f} - born {m}/{d}/{y}"))


def test_record_laid_out_vertically_in_a_sheet_matches(table: list[list[str]], detector: EdmDetector) -> None:
    """A key/value sheet (one field per row) is still one record when its fields are a few words apart."""
    row = table[17]
    text = f"Customer\t{row[0]}\nName\t{row[1]}\nStatus\tactive\n"
    assert detector.detect(chunk(text, tabular=True))


def test_detectors_satisfy_the_classifier_protocol(detector: EdmDetector) -> None:
    """EdmDetector and FingerprintDetector plug into the classifier as ChunkDetectors."""
    from agent.classify import ChunkDetector
    from agent.classify.indexes.protect import FingerprintDetector, build_fingerprint_index

    fp = FingerprintDetector(build_fingerprint_index([("d1", "some protected words " * 20)], KEY))
    assert isinstance(detector, ChunkDetector) and isinstance(fp, ChunkDetector)
    assert detector.entities == {"EDM_MATCH"} and fp.entities == {"DOC_FINGERPRINT"}


# --- the public corpus (skipped without ../shared) ---

TEXT_FORMATS = {".txt", ".csv", ".md", ".json", ".log"}


def corpus_chunks(path: Path) -> list[TextChunk]:
    text = path.read_text(encoding="utf-8")
    chunks = [TextChunk(str(path), None, text)]
    if path.suffix == ".csv":  # as the extractor hands tables over: one record per line, tab-separated
        rows = csv.reader(text.splitlines())
        chunks.append(TextChunk(str(path), None, "\n".join("\t".join(r) for r in rows), tabular=True))
    return chunks


def test_public_corpus_edm_expectations(shared_dir: Path) -> None:
    """Every text-format 'edm' file matches and no 'edm_partial' file does, with the corpus table."""
    corpus = shared_dir / "corpus"
    idx = build_edm_index(corpus / "protected" / "customers.csv", None, KEY)
    det = EdmDetector(idx)
    labels = [json.loads(line) for line in (corpus / "labels.jsonl").read_text().splitlines() if line.strip()]
    checked = 0
    for lab in labels:
        path = corpus / "files" / lab["file"]
        if lab["category"] not in ("edm", "edm_partial") or path.suffix not in TEXT_FORMATS:
            continue
        found = [d for c in corpus_chunks(path) for d in det.detect(c)]
        assert bool(found) == (lab["category"] == "edm"), (lab["file"], lab["note"])
        checked += 1
    assert checked >= 10


def test_values_shared_by_too_many_records_are_dropped() -> None:
    """A value repeated in more records than the cap identifies nobody and is left out of the index."""
    h = np.array([1, 2, 2, 2, 3, 3], dtype="<u8")
    r = np.arange(6, dtype="<u4")
    c = np.zeros(6, dtype="|u1")
    kept = _cap_common(h, r, c, 2)
    assert kept[0].tolist() == [1, 3, 3] and kept[1].tolist() == [0, 4, 5]
    assert _cap_common(h, r, c, 3)[0].tolist() == h.tolist()


# --- candidate generation: only shapes the index can hold, same values as the table normalisers ---


def test_text_dates_are_found_like_table_dates() -> None:
    """The array-based date finder reads numeric, compact and written-month dates as parse_dates does."""
    from agent.classify.indexes.edm_candidates import CandidateGenerator, Shapes

    gen = CandidateGenerator(Shapes(frozenset({"date"})), lambda toks: set())
    text = (
        "born 17.06.1946, or 06/17/1946, iso 1946-06-17T10:00, compact 19460617; written 17 June 1946, "
        "June 17th, 1946 and 17. Juni 1946; not dates: 1946-06-17-9, v1.2.3, 12.34.5678, id 2026, 20261399"
    )
    found = {m[2:] for m in gen(text)}
    expected = {o for o, _, _ in parse_dates(text)}
    assert "19460617" in found and found == expected


def test_candidates_are_limited_to_indexed_shapes(index: EdmIndex) -> None:
    """Runs whose joined length or letter count matches no indexed code never become candidates."""
    from agent.classify.indexes.edm_candidates import CandidateGenerator, code_shape

    shapes = index.shapes
    assert shapes.code_shapes and (0, 10) in shapes.code_shapes  # the 10-digit account numbers
    gen = CandidateGenerator(shapes, lambda toks: set())
    cands = gen("order 12345 shipped; ticket 1234567890 and INV-77 2026 99; call 044 668 18 00")
    codes = {m for m in cands if m.startswith("c:")}
    assert "c:1234567890" in codes and "c:12345" not in codes
    assert all(code_shape(m[2:]) in shapes.code_shapes for m in codes)


def test_index_without_recorded_shapes_still_matches(
    tmp_path: Path, table: list[list[str]], index: EdmIndex
) -> None:
    """An index saved before code shapes were recorded accepts every code length and still matches."""
    old = EdmIndex(
        hashes=index.hashes,
        records=index.records,
        columns_of=index.columns_of,
        columns=index.columns,
        key_id=index.key_id,
        n_records=index.n_records,
        word_tokens=index.word_tokens,
        word_sizes=index.word_sizes,
        hasher=index.hasher,
    )
    old.save(tmp_path / "old.edm")
    loaded = EdmIndex.load(tmp_path / "old.edm", KEY)
    assert loaded.code_shapes is None
    row = table[5]
    text = f"Account {row[4]} belongs to customer {row[0]}."
    assert EdmDetector(loaded).detect(TextChunk("/x", None, text))


def test_non_ascii_text_keeps_character_offsets(table: list[list[str]], detector: EdmDetector) -> None:
    """Accents, a no-break-space grouped IBAN, a written-month date and a lone surrogate earlier in
    the chunk: the record still matches and the detection points at the right characters."""
    row = table[13]
    y, m, d = row[2].split("-")
    months = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre"]
    months += ["octobre", "novembre", "décembre"]
    iban = "\u00a0".join(row[3][i : i + 4] for i in range(0, len(row[3]), 4))
    text = f"Zoë’s café note \udc80 «déjà vu».\nNé le {int(d)} {months[int(m) - 1]} {y}, compte {iban}."
    dets = detector.detect(chunk(text))
    assert [x.entity for x in dets] == ["EDM_MATCH"]
    assert dets[0].start == text.index(f"{int(d)} {months[int(m) - 1]}") and dets[0].end == len(text) - 1
