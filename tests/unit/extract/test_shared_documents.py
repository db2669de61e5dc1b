"""Real-world documents from other projects (../shared/external/documents): no crash, known text found."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from agent.extract import Extractor
from agent.models import ERROR_REASONS, ExtractError, FileRef, Limits, TextChunk

KINDS = ("pdf", "docx", "xlsx", "xlsm", "pptx", "eml", "xls", "doc", "7z")


def _docs(shared_dir: Path) -> list[Path]:
    d = shared_dir / "external" / "documents"
    files = sorted(p for k in KINDS for p in d.glob(f"*.{k}"))
    if not files:
        pytest.skip("no external documents")
    return files


def _extract(p: Path, limits: Limits | None = None) -> list[TextChunk | ExtractError]:
    return list(Extractor(limits or Limits(timeout_seconds=10)).extract(FileRef(str(p))))


def test_every_document_yields_chunks_or_errors(shared_dir: Path) -> None:
    """Each real document yields chunks or well-formed ExtractErrors, and extraction never raises."""
    manifest = {
        json.loads(line)["file"]: json.loads(line)
        for line in (shared_dir / "external" / "documents" / "manifest.jsonl").read_text().splitlines()
        if line.strip()
    }
    for p in _docs(shared_dir):
        items = _extract(p)
        for i in items:
            assert isinstance(i, TextChunk | ExtractError), p.name
            if isinstance(i, ExtractError):
                assert i.reason in ERROR_REASONS and i.path == str(p), p.name
        note = manifest.get(p.name, {}).get("note", "")
        if note.startswith("encrypted"):
            assert any(isinstance(i, ExtractError) and i.reason == "encrypted" for i in items), p.name
        if note.startswith("normal") and p.suffix == ".pdf" and "no text" not in note:
            assert any(isinstance(i, TextChunk) and i.text.strip() for i in items), p.name


@pytest.mark.parametrize(
    ("name", "needle", "part"),
    [
        ("pdfminer__encryption-base.pdf", "Secret!", "body"),
        ("pdfminer__issue-886-xref-stream-widths.pdf", "Hello", "body"),
        ("pdfminer__zen_of_python_corrupted.pdf", "Beautiful is better than ugly", "body"),
        ("pdfminer__simple1.pdf", "Hello World", "body"),  # no xref table: PDFium rebuilds it
        ("python-docx__hdr-header-footer.docx", "Header for section-1", "header"),
        ("python-pptx__prs-notes.pptx", "Notes", "notes"),
        ("openpyxl__contains_chartsheets.xlsx", "january\t18", "sheet:moredata"),
        ("mail__ks_c_5601-1987.eml", "스티해", "body"),
        ("pdfminer__AcroForm_TEST.pdf", "Combo Box0\t111", "body"),
        ("olefile__test-ole-file.doc", "Test OLE file, saved as Word 97-2003 Document.", "body"),
        ("xlrd__ragged.xls", "f\ng\th\tI\tj", "sheet:Sheet1"),
        ("xlrd__biff4_no_format_no_window2.xls", "B\tBIRD PRODUCTS", "sheet:Sheet 1"),
        ("py7zr__bugzilla_4.7z", "GNU LESSER GENERAL PUBLIC LICENSE", "body"),
    ],
)
def test_known_text_is_found(shared_dir: Path, name: str, needle: str, part: str) -> None:
    """Text the manifest documents is extracted into the expected part."""
    p = shared_dir / "external" / "documents" / name
    if not p.exists():
        pytest.skip(f"{name} absent")
    items = _extract(p)
    assert any(isinstance(i, TextChunk) and i.part == part and needle in i.text for i in items)


def test_encrypted_pdfs_without_password(shared_dir: Path) -> None:
    """The AES-128 PDF (user password "foo") yields ExtractError(encrypted) and no text."""
    p = shared_dir / "external" / "documents" / "pdfminer__encryption-aes-128.pdf"
    if not p.exists():
        pytest.skip("absent")
    items = _extract(p)
    assert [(type(i).__name__, getattr(i, "reason", "")) for i in items] == [("ExtractError", "encrypted")]


def test_embedded_workbook_in_pptx_is_a_member(shared_dir: Path) -> None:
    """The Excel workbook embedded as OLE object in a slide is extracted as a named member."""
    p = shared_dir / "external" / "documents" / "python-pptx__shp-access-ole-object.pptx"
    if not p.exists():
        pytest.skip("absent")
    members = {i.member for i in _extract(p) if isinstance(i, TextChunk)}
    assert "ppt/embeddings/Microsoft_Excel_Worksheet.xlsx" in members


def test_broken_documents_are_reported(shared_dir: Path) -> None:
    """Broken inputs (empty zip named .xlsx, truncated base64 PDF in mail) give malformed."""
    d = shared_dir / "external" / "documents"
    for name, member in [
        ("openpyxl__null_archive.xlsx", None),
        ("mail__attachment_pdf.eml", "broken.pdf"),
    ]:
        if (d / name).exists():
            assert (member, "malformed") in [
                (i.member, i.reason) for i in _extract(d / name) if isinstance(i, ExtractError)
            ], name


def test_evil_xobjects_pdf_finishes_within_time_limit(shared_dir: Path) -> None:
    """The hostile self-referencing XObjects PDF finishes within the per-file time limit."""
    p = shared_dir / "external" / "documents" / "pdfminer__issue-1113-evil-xobjects.pdf"
    if not p.exists():
        pytest.skip("absent")
    started = time.monotonic()
    items = _extract(p, Limits(timeout_seconds=2))
    assert time.monotonic() - started < 3
    assert all(isinstance(i, TextChunk) or i.reason in ("malformed", "timeout") for i in items)
