"""Build functions behind ``dropwarden protect data|docs``: protected table / documents -> index files.

The CLI parses arguments and extracts text from DOCX/PDF with the extraction stage; everything
about reading the table and turning it into keyed hashes lives here so it can be tested and
benchmarked without the CLI.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

import structlog

from agent.classify.indexes.edm import EdmDetector, EdmIndex
from agent.classify.indexes.fingerprint import FingerprintDetector, FingerprintIndex
from agent.classify.indexes.indexfile import IndexRejected, generate_signing_key, sign_file, verify_file
from agent.redact import load_or_create_key

log = structlog.get_logger(__name__)

__all__ = [
    "EdmDetector",
    "EdmIndex",
    "FingerprintDetector",
    "FingerprintIndex",
    "IndexRejected",
    "build_edm_index",
    "build_fingerprint_index",
    "generate_signing_key",
    "iter_documents",
    "load_or_create_key",
    "read_table",
    "sign_file",
    "verify_file",
]

TEXT_SUFFIXES = frozenset({".txt", ".md", ".text", ".rst", ".csv", ".json", ".log", ".html", ".xml"})


def read_table(path: str | os.PathLike[str]) -> tuple[list[str], Iterator[list[str]]]:
    """Header and row iterator of a CSV/TSV (delimiter sniffed, UTF-8 with BOM or Latin-1) or XLSX."""
    p = Path(path)
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(p)
    raw = p.open("rb")
    head = raw.read(65536)
    raw.seek(0)
    try:
        head.decode("utf-8")
        encoding = "utf-8-sig"
    except UnicodeDecodeError as exc:
        encoding = "utf-8-sig" if exc.start > len(head) - 4 else "latin-1"  # cut inside a character
    fh = io.TextIOWrapper(raw, encoding=encoding, newline="")
    sample = head.decode(encoding, errors="ignore")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(fh, dialect)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        fh.close()
        raise ValueError(f"{p} is empty") from None

    def rows() -> Iterator[list[str]]:
        with fh:
            yield from reader

    return header, rows()


def _read_xlsx(p: Path) -> tuple[list[str], Iterator[list[str]]]:
    import openpyxl  # only for this input format

    wb = openpyxl.load_workbook(p, read_only=True, data_only=True)
    ws = wb.worksheets[0]
    it = ws.iter_rows(values_only=True)
    header = ["" if v is None else str(v).strip() for v in next(it, ())]

    def rows() -> Iterator[list[str]]:
        try:
            for row in it:
                yield ["" if v is None else _cell(v) for v in row]
        finally:
            wb.close()

    return header, rows()


def _cell(v: object) -> str:
    if hasattr(v, "strftime"):
        return v.strftime("%Y-%m-%d")
    return str(v)


def build_edm_index(
    csv_path: str | os.PathLike[str],
    columns: Sequence[str] | None,
    key: bytes,
    supporting: Sequence[str] = (),
) -> EdmIndex:
    """Index a protected table (all columns, or ``columns``); ``supporting`` forces columns to be weak."""
    header, rows = read_table(csv_path)
    index = EdmIndex.build(header, rows, key, columns=columns, supporting=supporting)
    log.info("edm_table_indexed", records=index.n_records, columns=len(index.columns))
    return index


def iter_documents(
    directory: str | os.PathLike[str], extract_text: Callable[[str], str] | None = None
) -> Iterator[tuple[str, str]]:
    """(doc_id, text) for every file under ``directory``; doc_id is the file name stem.

    Without ``extract_text`` only plain-text files are read (others are skipped and logged); the CLI
    passes a function built on the extraction stage so DOCX/PDF/... are fingerprinted too.
    """
    n = 0
    for p in sorted(Path(directory).rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        n += 1  # logged by position among these files and suffix, never by name: it may hold a value
        where = {"directory": str(directory), "position": n, "suffix": p.suffix.lower()}
        if extract_text is not None:
            try:
                text = extract_text(str(p))
            except Exception as exc:  # one unreadable document must not stop the build
                log.warning("protected_doc_failed", **where, error=type(exc).__name__)
                continue
        elif p.suffix.lower() in TEXT_SUFFIXES:
            text = p.read_bytes().decode("utf-8", errors="replace")
        else:
            log.warning("protected_doc_skipped", **where, reason="no text extractor for this format")
            continue
        yield p.stem, text


def build_fingerprint_index(
    docs: Iterable[tuple[str, str]] | str | os.PathLike[str],
    key: bytes,
    extract_text: Callable[[str], str] | None = None,
) -> FingerprintIndex:
    """Fingerprint protected documents: an iterable of (doc_id, text), or a directory to read."""
    if isinstance(docs, str | os.PathLike):
        docs = iter_documents(docs, extract_text)
    index = FingerprintIndex.build(docs, key)
    log.info("fingerprint_docs_indexed", documents=len(index.doc_ids), fingerprints=int(index.hashes.size))
    return index
