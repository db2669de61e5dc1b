"""Images are read by OCR wherever they come from; every bound ends in a precise error, never silence.

The OCR runs real Tesseract (skipped without it); the bounds that stop *before* Tesseract
(pixels, pages, no Tesseract) are checked without it.
"""

from __future__ import annotations

import io
import os
import signal
import struct
import sys
import zlib
from email.message import EmailMessage
from pathlib import Path

import pytest

from agent.extract import ocr
from agent.extract.context import Context
from agent.extract.image import is_image
from agent.extract.sniff import sniff_format
from agent.models import Limits
from tests.unit.extract.builders import errors, render_text_image, run, texts, zip_bytes

needs_tesseract = pytest.mark.skipif(
    ocr.tesseract_path() is None or "eng" not in ocr.languages_installed(),
    reason="tesseract with eng language data not installed",
)
LINE = "Invoice reference ALPHA 4711"


def _png(img: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")  # type: ignore[attr-defined]
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def test_image_magic_is_recognised() -> None:
    """PNG, JPEG, GIF, TIFF (both byte orders), WebP and BMP are images; text starting "BM" is not."""
    from PIL import Image

    for fmt in ("PNG", "JPEG", "GIF", "TIFF", "WEBP", "BMP"):
        buf = io.BytesIO()
        Image.new("L", (32, 32), 255).save(buf, fmt)
        assert is_image(buf.getvalue()[:64]), fmt
        assert sniff_format(buf.getvalue()[:512], "scan.bin") == "image", fmt
    assert is_image(b"MM\x00*\x00\x00\x00\x08")
    assert not is_image(b"BMW fleet report 2026: 14 vehicles, none leased\n")
    assert sniff_format(b"BMW fleet report 2026: 14 vehicles\n", "fleet.txt") == "text"


def test_decompression_bomb_refused_from_the_header(tmp_path: Path) -> None:
    """A 200 KB-pixel limit and a PNG whose header claims 100,000 x 100,000 pixels: limit_pixels,
    decided from the header (the file is 100 bytes; decoding it would need 10 GB)."""
    p = tmp_path / "bomb.png"
    p.write_bytes(_png_claiming(100_000, 100_000))
    assert errors(run(p)) == [(None, "limit_pixels")]


def test_pixel_limit_applies_to_each_page(tmp_path: Path) -> None:
    """An ordinary 595x108 scan above a 10,000-pixel limit: limit_pixels, not read."""
    p = tmp_path / "scan.png"
    p.write_bytes(_png(render_text_image([LINE], dpi=72)))
    items = run(p, Limits(max_image_pixels=10_000))
    assert errors(items) == [(None, "limit_pixels")] and texts(items) == ""


def test_without_tesseract_images_are_unscanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Tesseract on the machine: an image yields ocr_unavailable, never silence."""
    monkeypatch.setattr(ocr, "tesseract_path", lambda: None)
    p = tmp_path / "scan.png"
    p.write_bytes(_png(render_text_image([LINE], dpi=100)))
    assert errors(run(p)) == [(None, "ocr_unavailable")]


def test_without_language_data_images_are_unscanned(tmp_path: Path) -> None:
    """Only a language that is not installed is configured: ocr_unavailable."""
    p = tmp_path / "scan.png"
    p.write_bytes(_png(render_text_image([LINE], dpi=100)))
    assert errors(run(p, Limits(ocr_languages="xxx"))) == [(None, "ocr_unavailable")]


def test_truncated_image_is_malformed(tmp_path: Path) -> None:
    """A PNG cut in half: malformed (its pixels cannot be decoded), the scan goes on."""
    p = tmp_path / "cut.png"
    data = _png(render_text_image([LINE], dpi=100))
    p.write_bytes(data[: len(data) // 2])
    assert {r for _, r in errors(run(p, Limits(ocr_languages="eng")))} <= {"malformed", "ocr_unavailable"}
    assert errors(run(p)) != []


def test_icons_are_not_pages(tmp_path: Path) -> None:
    """A 8x8 icon holds no legible text: no OCR, no error."""
    from PIL import Image

    p = tmp_path / "icon.png"
    p.write_bytes(_png(Image.new("L", (8, 8), 0)))
    assert run(p) == []


@needs_tesseract
def test_png_text_is_read(tmp_path: Path) -> None:
    p = tmp_path / "scan.png"
    p.write_bytes(_png(render_text_image([LINE], dpi=150)))
    items = run(p)
    assert errors(items) == [] and LINE in texts(items)


@pytest.mark.slow
@needs_tesseract
def test_tiff_pages_past_the_limit_are_reported(tmp_path: Path) -> None:
    """A 3-page TIFF with a 2-page limit: pages 1 and 2 read, then limit_pages."""
    pages = [render_text_image([f"Page number {n} BRAVO"], dpi=100) for n in (1, 2, 3)]
    p = tmp_path / "pages.tiff"
    pages[0].save(p, "TIFF", save_all=True, append_images=pages[1:])
    items = run(p, Limits(max_ocr_pages=2))
    assert errors(items) == [(None, "limit_pages")]
    body = texts(items)
    assert "Page number 1" in body and "Page number 2" in body and "Page number 3" not in body


@pytest.mark.slow
@needs_tesseract
def test_image_in_zip_and_mail_is_read(tmp_path: Path) -> None:
    """The one image reader serves archive members and mail attachments alike."""
    png = _png(render_text_image([LINE], dpi=150))
    z = tmp_path / "scans.zip"
    z.write_bytes(zip_bytes({"inbox/scan.png": png}))
    assert any(i.member == "inbox/scan.png" and LINE in i.text for i in run(z) if hasattr(i, "text"))
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "scan"
    msg.set_content("see attached")
    msg.add_attachment(png, maintype="image", subtype="png", filename="scan.png")
    m = tmp_path / "mail.eml"
    m.write_bytes(msg.as_bytes())
    assert any(LINE in i.text for i in run(m) if hasattr(i, "text") and i.member and "scan.png" in i.member)


@needs_tesseract
def test_inline_image_in_mail_body_is_read(tmp_path: Path) -> None:
    """A screenshot pasted into an HTML mail (inline, no file name) is read too."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "see below"
    msg.set_content("see below")
    msg.add_alternative('<p>see below</p><img src="cid:shot">', subtype="html")
    html = msg.get_payload()[1]
    html.add_related(_png(render_text_image([LINE], dpi=150)), maintype="image", subtype="png", cid="<shot>")
    m = tmp_path / "inline.eml"
    m.write_bytes(msg.as_bytes())
    items = run(m)
    assert errors(items) == []
    assert any(LINE in i.text for i in items if hasattr(i, "text") and i.member)


@needs_tesseract
def test_transparent_png_is_read_on_white(tmp_path: Path) -> None:
    """Black text on a transparent background (a screenshot export) is not black on black."""
    from PIL import Image

    gray = render_text_image([LINE], dpi=150)
    rgba = Image.new("RGBA", gray.size, (0, 0, 0, 0))
    rgba.putalpha(gray.point(lambda v: 255 - v))
    p = tmp_path / "transparent.png"
    p.write_bytes(_png(rgba))
    assert LINE in texts(run(p))


def _image_pdf(pages: list[object]) -> bytes:
    """An image-only PDF (what a scanner writes): one page image per page, no text layer."""
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=150)  # type: ignore[attr-defined]
    return buf.getvalue()


def test_pdf_attachment_is_a_member(tmp_path: Path) -> None:
    """A file attached to a PDF is read like an archive member, named by the attachment."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument.new()
    doc.new_page(612, 792)
    doc.new_attachment("customers.csv").set_data(b"name,iban\nLena Brunner,DE44500105175407324931\n")
    buf = io.BytesIO()
    doc.save(buf)
    p = tmp_path / "with-attachment.pdf"
    p.write_bytes(buf.getvalue())
    items = run(p)
    assert any(
        i.member == "customers.csv" and "DE44500105175407324931" in i.text
        for i in items
        if hasattr(i, "text")
    )


def test_scanned_pdf_without_tesseract_is_unscanned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two scanned pages and no Tesseract: one ocr_unavailable for the file, not one per page."""
    monkeypatch.setattr(ocr, "tesseract_path", lambda: None)
    p = tmp_path / "scan.pdf"
    p.write_bytes(_image_pdf([render_text_image([LINE], dpi=150)] * 2))
    assert errors(run(p)) == [(None, "ocr_unavailable")]


def test_scanned_pdf_page_above_the_pixel_limit(tmp_path: Path) -> None:
    """A scanned page that would render above the pixel limit at ocr_dpi: limit_pixels, named by page."""
    p = tmp_path / "scan.pdf"
    p.write_bytes(_image_pdf([render_text_image([LINE], dpi=150)]))
    items = list(run(p, Limits(max_image_pixels=100_000)))
    assert errors(items) == [(None, "limit_pixels")]
    assert "page 1" in items[0].detail


@pytest.mark.slow
@needs_tesseract
def test_scanned_pdf_page_two_is_read(tmp_path: Path) -> None:
    """An image-only PDF with the data on page 2: rendered and read, in page order."""
    blank = render_text_image(["Cover sheet"], dpi=150)
    p = tmp_path / "scan.pdf"
    p.write_bytes(_image_pdf([blank, render_text_image([LINE], dpi=150)]))
    items = run(p)
    assert errors(items) == []
    body = texts(items)
    assert "Cover sheet" in body and LINE in body and body.index("Cover sheet") < body.index(LINE)


@needs_tesseract
def test_docx_picture_is_read(tmp_path: Path) -> None:
    """A scan pasted into a DOCX is read as the member word/media/<image>."""
    import docx

    d = docx.Document()
    d.add_paragraph("Please find the scan below.")
    d.add_picture(io.BytesIO(_png(render_text_image([LINE], dpi=150))))
    p = tmp_path / "scan.docx"
    d.save(str(p))
    items = run(p)
    assert errors(items) == []
    assert any(
        i.member and i.member.startswith("word/media/") and LINE in i.text
        for i in items
        if hasattr(i, "text")
    )


@needs_tesseract
def test_ocr_stops_at_the_file_deadline(tmp_path: Path) -> None:
    """A dense 300 dpi page (seconds of Tesseract) and a 0.5 s per-file limit: the Tesseract child is
    killed at the deadline and the file reported as timeout."""
    p = tmp_path / "dense.png"
    p.write_bytes(_png(render_text_image([f"{LINE} line {i}" for i in range(60)], dpi=300)))
    items = run(p, Limits(timeout_seconds=0.5))
    assert errors(items) == [(None, "timeout")]


@pytest.mark.slow
@needs_tesseract
def test_ocr_is_announced_once_per_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The daemon's OCR lane hears of a file once, when its first page goes to Tesseract (not per page,
    and never for a file that has no page to OCR)."""
    calls: list[int] = []
    monkeypatch.setattr(ocr, "on_heavy", lambda: calls.append(1))
    pages = [render_text_image([f"Short page {n}"], dpi=72) for n in (1, 2)]
    p = tmp_path / "two.tiff"
    pages[0].save(p, "TIFF", save_all=True, append_images=pages[1:])
    run(p)
    assert calls == [1]
    t = tmp_path / "plain.txt"
    t.write_text(LINE)
    run(t)
    assert calls == [1]


def test_tesseract_child_yields_the_cpu_to_text_scans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OCR child runs one thread, at nice 10 under SCHED_BATCH, and dies with its worker.

    Tesseract cannot report how it was started, so a stand-in on its path reports what the kernel
    says of it (its own nice, policy, parent-death signal and OpenMP limit) as the "recognised" text.
    """
    from PIL import Image

    probe = tmp_path / "tesseract"
    probe.write_text(
        f"#!{sys.executable}\n"
        "import ctypes, os, sys\n"
        "sys.stdin.buffer.read()\n"
        "sig = ctypes.c_int(-1)\n"
        "ctypes.CDLL(None).prctl(2, ctypes.byref(sig))  # PR_GET_PDEATHSIG\n"
        "print(os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0), sig.value,"
        " os.environ.get('OMP_THREAD_LIMIT'))\n"
    )
    probe.chmod(0o700)
    monkeypatch.setattr(ocr, "tesseract_path", lambda: str(probe))
    monkeypatch.setattr(ocr, "languages_installed", lambda: frozenset({"eng"}))
    page = Image.new("L", (64, 64), 255)
    said = ocr.recognize([page], Context("page.png", Limits()), "eng")[0].split()
    assert said == [str(ocr.NICE), str(os.SCHED_BATCH), str(int(signal.SIGKILL)), "1"]
    assert ocr.NICE == 10


def _counting_tesseract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The real Tesseract behind a wrapper that logs each run; returns the log."""
    real, log = ocr.tesseract_path(), tmp_path / "runs.log"
    wrapper = tmp_path / "bin" / "tesseract"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho run >> "{log}"\nexec "{real}" "$@"\n')
    wrapper.chmod(0o700)
    monkeypatch.setattr(ocr, "tesseract_path", lambda: str(wrapper))
    log.write_text("")
    return log


@pytest.mark.slow
@needs_tesseract
def test_scanned_pages_are_read_a_batch_per_tesseract_run_in_page_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three scanned pages around a page with a text layer: one Tesseract run reads the three, and the
    body keeps page order (the text page waits for the scan before it). With batches of two pages,
    two runs, same body."""
    import pypdfium2 as pdfium

    from agent.extract import image
    from tests.unit.extract.builders import pdf_bytes

    log = _counting_tesseract(tmp_path, monkeypatch)
    scans = [render_text_image([f"Scanned sheet {word} BRAVO"], dpi=150) for word in ("ONE", "TWO", "FOUR")]
    doc = pdfium.PdfDocument(_image_pdf(scans))
    doc.import_pages(pdfium.PdfDocument(pdf_bytes(["Typed page THREE with a text layer"])), index=2)
    buf = io.BytesIO()
    doc.save(buf)
    p = tmp_path / "mixed.pdf"
    p.write_bytes(buf.getvalue())
    limits = Limits(ocr_languages="eng")
    order = ("sheet ONE", "sheet TWO", "page THREE", "sheet FOUR")
    for batch, runs in ((image.BATCH_PAGES, 1), (2, 2)):
        monkeypatch.setattr(image, "BATCH_PAGES", batch)
        log.write_text("")
        items = run(p, limits)
        body = texts(items)
        assert errors(items) == []
        assert [body.index(w) for w in order] == sorted(body.index(w) for w in order)
        assert log.read_text().count("run") == runs


def test_tesseract_output_is_cut_into_its_pages() -> None:
    """Tesseract writes a form feed before each page but the first; a count that does not match keeps
    every byte (on the first page) rather than misplacing or dropping text."""
    assert ocr.split_pages(b"one\n\x0ctwo\n\x0c", 3) == ["one\n", "two\n", ""]
    assert ocr.split_pages(b"only\n", 1) == ["only\n"]
    assert ocr.split_pages(b"one\x0ctwo", 3) == ["one\x0ctwo", "", ""]
