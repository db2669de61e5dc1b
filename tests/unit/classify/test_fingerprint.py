"""Document fingerprints: passages found through re-wrapping and quotes; short quotes and boilerplate not."""

from __future__ import annotations

import json
import random
import textwrap
from pathlib import Path

import pytest

from agent.classify.indexes.fingerprint import FingerprintDetector, FingerprintIndex, winnow, words_of
from agent.classify.indexes.indexfile import IndexRejected
from agent.classify.indexes.protect import build_fingerprint_index, iter_documents
from agent.models import TextChunk

KEY = b"F" * 32
_SYL = [
    "ka",
    "lo",
    "mi",
    "ren",
    "tu",
    "vas",
    "qui",
    "dor",
    "el",
    "fa",
    "gon",
    "hes",
    "jul",
    "ner",
    "po",
    "sit",
]
VOCAB = sorted({a + b for a in _SYL for b in _SYL})  # invented words: 256, like a real vocabulary's spread


def prose(rng: random.Random, n_words: int) -> str:
    """Fake prose with punctuation, quotes and capitalised sentences."""
    out, sentence = [], []
    for _ in range(n_words):
        sentence.append(rng.choice(VOCAB))
        if len(sentence) >= rng.randrange(6, 16):
            sentence[0] = sentence[0].capitalize()
            if rng.random() < 0.2:
                sentence[1] = f"'{sentence[1]}'"
            out.append(" ".join(sentence) + rng.choice([".", ".", ";", ":"]))
            sentence = []
    if sentence:
        out.append(" ".join(sentence) + ".")
    return " ".join(out)


BOILERPLATE = (
    "This document is strictly confidential and intended only for the named recipients of the bank; "
    "any disclosure, copying or distribution outside the approved distribution list is prohibited and "
    "may constitute a breach of the employee code of conduct and of applicable banking secrecy law. "
    "Recipients must report any suspected loss of this document to the information security office."
)


@pytest.fixture(scope="module")
def docs() -> dict[str, str]:
    rng = random.Random(11)
    out = {f"pd{i:02d}_memo": prose(rng, 700) for i in range(6)}
    out["pd00_memo"] = BOILERPLATE + "\n\n" + out["pd00_memo"]
    out["pd01_memo"] = out["pd01_memo"] + "\n\n" + BOILERPLATE
    return out


@pytest.fixture(scope="module")
def index(docs: dict[str, str]) -> FingerprintIndex:
    return build_fingerprint_index(docs.items(), KEY)


@pytest.fixture(scope="module")
def detector(index: FingerprintIndex) -> FingerprintDetector:
    return FingerprintDetector(index)


def passage(text: str, start_word: int, n: int) -> str:
    """n consecutive words of text (with their original punctuation) from word number start_word."""
    _, spans = words_of(text)
    return text[spans[start_word][0] : spans[start_word + n - 1][1]]


def disguise(text: str) -> str:
    """Re-wrap, change case, smart quotes and dashes: what copy-paste into a wiki does."""
    text = text.replace("'", "’").replace(" ; ", " – ").upper()
    return "\n".join(textwrap.wrap(text, 37))


def chunk(text: str) -> TextChunk:
    return TextChunk(path="/srv/drop/wiki.md", member=None, text=text, offset=100, line=10)


def test_winnowing_guarantees_a_fingerprint_in_every_window() -> None:
    """Every run of w consecutive k-gram hashes contains a selected position."""
    import numpy as np

    hashes = np.random.default_rng(1).integers(0, 2**63, 500, dtype=np.uint64)
    picked = set(winnow(hashes, 5).tolist())
    assert all(picked & set(range(i, i + 5)) for i in range(496))


def test_fifty_word_passage_rewrapped_with_smart_quotes_in_unrelated_text_matches(
    docs: dict[str, str], detector: FingerprintDetector
) -> None:
    """A disguised 50-word passage inside unrelated text names its document and the leaked share."""
    rng = random.Random(2)
    leaked = disguise(passage(docs["pd03_memo"], 200, 50))
    text = "Weekly update.\n" + prose(rng, 120) + "\n\n" + leaked + "\n\n" + prose(rng, 80)
    dets = detector.detect(chunk(text))
    assert [d.attribute("doc_id") for d in dets] == ["pd03_memo"]
    det = dets[0]
    assert det.entity == "DOC_FINGERPRINT" and det.score == 1.0
    assert 0.0 < float(det.attribute("share") or 0) < 0.2
    assert 40 <= int(det.attribute("words") or 0) <= 50
    start = text.index(leaked[:20]) + 100
    assert start <= det.start < start + 60
    assert det.line == 10 + text.count("\n", 0, det.start - 100)


def test_whole_document_copy_reports_a_large_share(
    docs: dict[str, str], detector: FingerprintDetector
) -> None:
    """A full copy of a protected document reports (almost) all of its fingerprints."""
    dets = detector.detect(chunk(docs["pd04_memo"]))
    assert [d.attribute("doc_id") for d in dets] == ["pd04_memo"]
    assert float(dets[0].attribute("share") or 0) >= 0.95


@pytest.mark.parametrize("n_words", [6, 10, 14, 20])
def test_short_quotes_do_not_match(docs: dict[str, str], detector: FingerprintDetector, n_words: int) -> None:
    """Quotes well under the 50-word threshold never report, even verbatim."""
    rng = random.Random(n_words)
    quote = passage(docs["pd02_memo"], 300, n_words)
    text = prose(rng, 60) + f' As the memo says, "{quote}". ' + prose(rng, 60)
    assert detector.detect(chunk(text)) == []


def test_several_short_quotes_from_one_document_do_not_add_up(
    docs: dict[str, str], detector: FingerprintDetector
) -> None:
    """Three separate 12-word quotes are not one 36-word passage in order."""
    rng = random.Random(4)
    parts = [passage(docs["pd02_memo"], s, 12) for s in (100, 400, 250)]
    text = " ".join(f"{prose(rng, 40)} “{p}”" for p in parts)
    assert detector.detect(chunk(text)) == []


def test_boilerplate_shared_by_two_protected_documents_does_not_match(
    docs: dict[str, str], detector: FingerprintDetector
) -> None:
    """The confidentiality footer in two protected docs is dropped from the index, so it never matches."""
    rng = random.Random(8)
    text = prose(rng, 50) + "\n" + BOILERPLATE + "\n" + prose(rng, 50)
    assert len(words_of(BOILERPLATE)[0]) >= 50
    assert detector.detect(chunk(text)) == []
    # the same footer in only one protected document is an ordinary passage and does match
    alone = build_fingerprint_index([("pd00_memo", docs["pd00_memo"]), ("pd02_memo", docs["pd02_memo"])], KEY)
    assert [d.attribute("doc_id") for d in FingerprintDetector(alone).detect(chunk(text))] == ["pd00_memo"]


def test_min_words_is_configurable(docs: dict[str, str], index: FingerprintIndex) -> None:
    """A 35-word passage is below the default threshold but matches with min_words=30."""
    text = passage(docs["pd05_memo"], 100, 35)
    assert FingerprintDetector(index).detect(chunk(text)) == []
    assert FingerprintDetector(index, min_words=30).detect(chunk(text))


def test_save_load_and_wrong_key(tmp_path: Path, docs: dict[str, str], index: FingerprintIndex) -> None:
    """A saved index matches after loading with its key and is refused with another key."""
    path = tmp_path / "docs.fp"
    index.save(path)
    loaded = FingerprintIndex.load(path, KEY)
    assert loaded.doc_ids == index.doc_ids
    assert FingerprintDetector(loaded).detect(chunk(passage(docs["pd01_memo"], 10, 60)))
    with pytest.raises(IndexRejected) as exc:
        FingerprintIndex.load(path, b"G" * 32)
    assert exc.value.reason == "key_mismatch"


def test_directory_fallback_reads_text_and_uses_injected_extractor(
    tmp_path: Path, docs: dict[str, str]
) -> None:
    """Plain .txt/.md are read directly; other formats need the injected extract_text."""
    (tmp_path / "a_memo.txt").write_text(docs["pd02_memo"], encoding="utf-8")
    (tmp_path / "b_memo.docx").write_bytes(b"PK\x03\x04 not really a docx")
    assert [d for d, _ in iter_documents(tmp_path)] == ["a_memo"]
    seen = dict(iter_documents(tmp_path, extract_text=lambda p: "extracted " + Path(p).suffix))
    assert seen == {"a_memo": "extracted .txt", "b_memo": "extracted .docx"}
    idx = build_fingerprint_index(tmp_path, KEY)
    assert idx.doc_ids == ("a_memo",)


# --- the public corpus (skipped without ../shared) ---

TEXT_FORMATS = {".txt", ".csv", ".md", ".json", ".log"}


def test_public_corpus_fingerprint_expectations(shared_dir: Path) -> None:
    """Every text-format 'fingerprint' file names the right document; no 'short_quote' file matches."""
    corpus = shared_dir / "corpus"
    det = FingerprintDetector(build_fingerprint_index(corpus / "protected" / "docs", KEY))
    labels = [json.loads(line) for line in (corpus / "labels.jsonl").read_text().splitlines() if line.strip()]
    checked = 0
    for lab in labels:
        path = corpus / "files" / lab["file"]
        if lab["category"] not in ("fingerprint", "short_quote") or path.suffix not in TEXT_FORMATS:
            continue
        found = det.detect(TextChunk(str(path), None, path.read_text(encoding="utf-8")))
        if lab["category"] == "fingerprint":
            doc = lab["note"].split(" from ")[1].split(".")[0]
            assert [d.attribute("doc_id") for d in found] == [doc], lab["file"]
        else:
            assert found == [], lab["file"]
        checked += 1
    assert checked >= 10


def test_passage_interrupted_by_a_page_header_still_matches(
    docs: dict[str, str], detector: FingerprintDetector
) -> None:
    """A PDF page header and a hyphenated line break inside a 70-word passage do not hide it."""
    first, second = passage(docs["pd05_memo"], 400, 35), passage(docs["pd05_memo"], 435, 35)
    head, tail = second.split(" ", 1)
    broken = f"{head[:2]}-\n{head[2:]} {tail}" if len(head) > 3 else second
    text = f"{first}\n\nCONFIDENTIAL – Page 3 of 9 – Draft\n\n{broken}"
    assert [d.attribute("doc_id") for d in detector.detect(chunk(text))] == ["pd05_memo"]


# --- passage-length sweep: >= 98% found at 50 words, never at 15 ---


def sweep(detector: FingerprintDetector, docs: dict[str, str], n_words: int, per_doc: int) -> float:
    """Share of disguised ``n_words`` passages, at random places of each document, that name it."""
    rng = random.Random(n_words)
    found = total = 0
    for doc_id, text in docs.items():
        n = len(words_of(text)[0])
        for _ in range(per_doc):
            leaked = disguise(passage(text, rng.randrange(0, n - n_words), n_words))
            scanned = prose(rng, 40) + "\n" + leaked + "\n" + prose(rng, 40)
            total += 1
            found += any(d.attribute("doc_id") == doc_id for d in detector.detect(chunk(scanned)))
    return found / total


def test_passage_sweep_on_generated_documents(docs: dict[str, str], detector: FingerprintDetector) -> None:
    """Generated memos (two sharing a footer): every 50- and 60-word passage is found, no 15-word one."""
    rates = {n: sweep(detector, docs, n, 25) for n in (15, 30, 50, 60)}
    assert rates[15] == 0.0 and rates[50] >= 0.98 and rates[60] >= 0.98, rates


def test_passage_sweep_on_the_public_corpus_documents(shared_dir: Path) -> None:
    """The corpus's protected documents share template text; passages through it are still found."""
    docs = dict(iter_documents(shared_dir / "corpus" / "protected" / "docs"))
    detector = FingerprintDetector(build_fingerprint_index(docs.items(), KEY))
    assert detector.index.shared is not None and detector.index.shared.any()  # the templates are there
    rates = {n: sweep(detector, docs, n, 25) for n in (15, 30, 50, 60)}
    assert rates[15] == 0.0 and rates[50] >= 0.98 and rates[60] >= 0.98, rates


def test_passage_running_through_shared_boilerplate_matches(
    docs: dict[str, str], detector: FingerprintDetector
) -> None:
    """55 words that start inside the shared footer and end in pd00's own text name pd00 only."""
    n_boiler = len(words_of(BOILERPLATE)[0])
    leaked = disguise(passage(docs["pd00_memo"], n_boiler - 30, 55))
    dets = detector.detect(chunk(prose(random.Random(9), 30) + "\n" + leaked))
    assert [d.attribute("doc_id") for d in dets] == ["pd00_memo"]


def test_selector_bitmap_skips_most_keyed_hashes(docs: dict[str, str], index: FingerprintIndex) -> None:
    """Unrelated text passes the bitmap for only a few percent of its winnowed k-grams."""
    from agent.classify.indexes.fingerprint import in_bitmap
    from agent.classify.indexes.shingles import Selector

    assert index.hasher is not None and index.selector_bits is not None
    selector = Selector(index.hasher, index.k)
    text = prose(random.Random(21), 3000).lower()
    values = selector.ascii_values(text.encode("ascii"))[0]
    picked = winnow(values, index.w)
    assert in_bitmap(index.selector_bits, values[picked]).mean() < 0.1
    # and the ASCII fast path computes exactly the values of the general one
    assert selector.kgram_values(words_of(text)[0]).tolist() == values.tolist()


# --- other formats, through the real extraction stage ---


def test_docx_protected_document_matches_its_pdf_and_a_text_passage(
    tmp_path: Path, docs: dict[str, str]
) -> None:
    """A protected DOCX is fingerprinted through the extractor; a PDF of it and a quoted passage match."""
    import docx

    from agent.commands.protect import document_texts
    from agent.extract import Extractor
    from agent.models import FileRef, Limits
    from bench.corpus import write_pdf

    text = "\n".join(textwrap.wrap(docs["pd03_memo"], 90))
    protected = tmp_path / "protected"
    protected.mkdir()
    document = docx.Document()
    for line in textwrap.wrap(docs["pd03_memo"], 400):
        document.add_paragraph(line)
    document.save(str(protected / "board_memo.docx"))
    detector = FingerprintDetector(build_fingerprint_index(document_texts(str(protected)), KEY))
    assert detector.index.doc_ids == ("board_memo",)
    scanned = tmp_path / "scanned"
    scanned.mkdir()
    write_pdf(scanned / "export.pdf", text)
    (scanned / "notes.txt").write_text(
        prose(random.Random(3), 80) + "\n" + disguise(passage(docs["pd03_memo"], 500, 55)), encoding="utf-8"
    )
    extractor = Extractor(Limits())
    for name in ("export.pdf", "notes.txt"):
        found = {
            d.attribute("doc_id")
            for c in extractor.extract(FileRef(str(scanned / name)))
            if isinstance(c, TextChunk)
            for d in detector.detect(c)
        }
        assert found == {"board_memo"}, name


def test_index_from_before_bitmaps_and_shared_flags_still_matches(
    tmp_path: Path, docs: dict[str, str], index: FingerprintIndex
) -> None:
    """An index saved without the selection bitmap and boilerplate flags loads and matches as before."""
    from dataclasses import replace

    path = tmp_path / "old.fp"
    replace(index, shared=None, selector_bits=None).save(path)
    loaded = FingerprintIndex.load(path, KEY)
    assert loaded.shared is None and loaded.selector_bits is None
    dets = FingerprintDetector(loaded).detect(chunk(disguise(passage(docs["pd04_memo"], 100, 60))))
    assert [d.attribute("doc_id") for d in dets] == ["pd04_memo"]
