"""The PDFium reader under hostile PDFs: bounded time and memory, page-level isolation, clear errors.

PDFium is C: the per-file deadline is checked before each page and inside a page render (PDFium's
pause callback). Each hostile case is built here by hand and performed for real.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import zlib
from pathlib import Path

import pytest

from agent.extract import pdf
from agent.extract.context import Abort, Context
from agent.models import Limits
from tests.unit.extract.builders import errors, pdf_bytes, pdf_stream, raw_pdf, run, texts

REPO = Path(__file__).resolve().parents[3]
CATALOG = b"<< /Type /Catalog /Pages 2 0 R >>"
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def _page(contents: int | bytes, xobjects: bytes = b"") -> bytes:
    """A page object; ``contents``: the content stream's object number, or a reference array."""
    ref = contents if isinstance(contents, bytes) else b"%d 0 R" % contents
    return (
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> "
        + xobjects
        + b" >> /Contents "
        + ref
        + b" >>"
    )


def _text_ops(text: str, y: int = 720) -> bytes:
    return f"BT /F1 12 Tf 72 {y} Td ({text}) Tj ET\n".encode()


def test_every_page_read_in_order(tmp_path: Path) -> None:
    """A 12-page PDF: every page's text, in page order, no error."""
    p = tmp_path / "pages.pdf"
    p.write_bytes(pdf_bytes([f"page {i} text" for i in range(12)]))
    items = run(p)
    assert errors(items) == []
    body = texts(items)
    assert [body.index(f"page {i} text") for i in range(12)] == sorted(
        body.index(f"page {i} text") for i in range(12)
    )


def test_page_tree_loop_reads_the_real_page(tmp_path: Path) -> None:
    """A /Pages node listing itself as a kid: the real page is read, the loop is one malformed page."""
    p = tmp_path / "loop.pdf"
    p.write_bytes(
        raw_pdf(
            [
                CATALOG,
                b"<< /Type /Pages /Kids [2 0 R 5 0 R] /Count 2 >>",
                FONT,
                pdf_stream(_text_ops("page behind a loop")),
                _page(4),
            ]
        )
    )
    items = run(p)
    assert "page behind a loop" in texts(items)
    assert {r for _, r in errors(items)} <= {"malformed"}


def test_self_invoking_xobject_ends(tmp_path: Path) -> None:
    """A form XObject that draws itself: recursion is cut, the text around it is read."""
    xobj = pdf_stream(
        _text_ops("inside the form", 700) + b"/X1 Do",
        b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] "
        b"/Resources << /Font << /F1 3 0 R >> /XObject << /X1 5 0 R >> >>",
    )
    p = tmp_path / "xobj.pdf"
    p.write_bytes(
        raw_pdf(
            [
                CATALOG,
                b"<< /Type /Pages /Kids [6 0 R] /Count 1 >>",
                FONT,
                pdf_stream(_text_ops("before the form") + b"/X1 Do"),
                xobj,
                _page(4, b"/XObject << /X1 5 0 R >>"),
            ]
        )
    )
    items = run(p)
    assert "before the form" in texts(items) and "inside the form" in texts(items)


def test_deep_nesting_is_read(tmp_path: Path) -> None:
    """200,000 nested arrays in the catalog and 100,000 nested q/Q on the page: no crash, text read."""
    deep = b"[" * 200_000 + b"]" * 200_000
    ops = b"q " * 100_000 + _text_ops("deeply nested text") + b" Q" * 100_000
    p = tmp_path / "deep.pdf"
    p.write_bytes(
        raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R /Deep " + deep + b" >>",
                b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
                FONT,
                pdf_stream(ops),
                _page(4),
            ]
        )
    )
    items = run(p)
    assert "deeply nested text" in texts(items)


_MEMORY_PROBE = """
import json, sys
from agent.extract import Extractor
from agent.models import FileRef
items = list(Extractor().extract(FileRef(sys.argv[1])))
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the process that spawned this one (a
# pytest grown to 500 MB late in a run), while VmHWM belongs to this process's own memory
status = open("/proc/self/status").read()
peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
print(json.dumps({"peak_kb": peak, "text": "".join(getattr(i, "text", "") for i in items)}))
"""


@pytest.mark.slow
def test_huge_flate_page_stays_bounded(tmp_path: Path) -> None:
    """A 68 KB PDF whose one page inflates to 70 MB: read in a child process whose peak RSS stays
    within a few times the inflated stream (no copy per operator, no text blow-up)."""
    content = _text_ops("text before 70 MB of blanks") + b" " * (70 * 1024 * 1024)
    p = tmp_path / "flate.pdf"
    p.write_bytes(
        raw_pdf(
            [
                CATALOG,
                b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
                FONT,
                pdf_stream(zlib.compress(content, 9), b"/Filter /FlateDecode"),
                _page(4),
            ]
        )
    )
    assert p.stat().st_size < 100_000
    out = subprocess.run(
        [sys.executable, "-c", _MEMORY_PROBE, str(p)], cwd=REPO, capture_output=True, check=True, timeout=120
    )
    result = json.loads(out.stdout)
    assert "text before 70 MB of blanks" in result["text"]
    assert result["peak_kb"] < 400 * 1024


def _openings() -> dict[str, bytes]:
    """PDFs that exercise opening: plain pages, a truncated one PDFium rebuilds, an encrypted one."""
    pages = pdf_bytes(["first page text", "second page text"])
    return {
        "pages.pdf": pages,
        "truncated.pdf": pages[: pages.rindex(b"startxref") + 12],
        "locked.pdf": pdf_bytes(["hidden"], encrypt_with="s3cret"),
    }


def _refuse_memory_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, a PDF handed to PDFium in memory fails the test."""
    import pypdfium2.raw as c

    def refuse(*_: object) -> None:
        raise AssertionError("PDF loaded into memory")

    monkeypatch.setattr(c, "FPDF_LoadMemDocument64", refuse)


def test_on_demand_reading_gives_what_reading_in_memory_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PDF up to SPOOL_MEMORY is handed to PDFium in memory, a larger one is read block by block
    through a callback: the same text and errors either way."""
    for name, data in _openings().items():
        (tmp_path / name).write_bytes(data)
    in_memory = {name: run(tmp_path / name) for name in _openings()}
    monkeypatch.setattr(pdf, "SPOOL_MEMORY", 0)
    _refuse_memory_loading(monkeypatch)
    on_demand = {name: run(tmp_path / name) for name in _openings()}
    assert on_demand == in_memory
    assert "second page text" in texts(in_memory["pages.pdf"])
    assert "second page text" in texts(in_memory["truncated.pdf"])
    assert errors(in_memory["locked.pdf"]) == [(None, "encrypted")]


def test_pdf_above_the_memory_bound_is_read_on_demand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PDF past SPOOL_MEMORY (an incompressible 9 MB stream beside its text page): read through
    the callback, its text found."""
    import random

    filler = pdf_stream(random.Random(19).randbytes(9 * 1024 * 1024))
    p = tmp_path / "big.pdf"
    p.write_bytes(
        raw_pdf(
            [
                CATALOG,
                b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
                FONT,
                pdf_stream(_text_ops("text beside nine megabytes")),
                _page(4),
                filler,
            ]
        )
    )
    assert p.stat().st_size > pdf.SPOOL_MEMORY
    _refuse_memory_loading(monkeypatch)
    items = run(p)
    assert errors(items) == []
    assert "text beside nine megabytes" in texts(items)


def test_truncated_pdf_with_its_trailer_is_rebuilt(tmp_path: Path) -> None:
    """A PDF cut inside its startxref line: PDFium rebuilds the cross-references, every page is read."""
    data = pdf_bytes(["first page text", "second page text", "third page text"])
    p = tmp_path / "cut.pdf"
    p.write_bytes(data[: data.index(b"startxref") + 12])
    items = run(p)
    assert errors(items) == []
    assert all(f"{n} page text" in texts(items) for n in ("first", "second", "third"))


def test_truncated_pdf_without_trailer_is_malformed(tmp_path: Path) -> None:
    """Cut inside the second page (no trailer, no catalog reference left): one malformed error."""
    data = pdf_bytes(["first page text", "second page text", "third page text"])
    p = tmp_path / "cut.pdf"
    p.write_bytes(data[: data.index(b"6 0 obj") + 60])
    assert errors(run(p)) == [(None, "malformed")]


def test_page_tree_without_pages_is_malformed(tmp_path: Path) -> None:
    """A catalog whose page tree holds no page (and no attachment): malformed, never "clean"."""
    p = tmp_path / "nopages.pdf"
    p.write_bytes(raw_pdf([CATALOG, b"<< /Type /Pages /Kids [] /Count 0 >>"]))
    assert errors(run(p)) == [(None, "malformed")]


def test_many_slow_pages_stop_at_the_deadline_between_pages(tmp_path: Path) -> None:
    """Pages that each cost PDFium ~0.4 s (150,000 operators, Flate-compressed: the file stays
    small) stop with timeout at the deadline, the earlier pages read."""
    ops = b"".join(_text_ops(f"w{i % 10}") for i in range(150_000))
    shared = pdf_stream(zlib.compress(ops, 9), b"/Filter /FlateDecode")
    n = 30
    objs = [CATALOG, b"", FONT, shared]
    kids = []
    for i in range(n):
        kids.append(f"{len(objs) + 2} 0 R")
        objs.append(pdf_stream(_text_ops(f"page marker {i}")))
        objs.append(_page(b"[4 0 R %d 0 R]" % len(objs)))
    objs[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {n} >>".encode()
    p = tmp_path / "slow.pdf"
    p.write_bytes(raw_pdf(objs))
    items = run(p, Limits(timeout_seconds=1.0))
    assert (None, "timeout") in errors(items)
    assert "page marker 0" in texts(items)
    assert f"page marker {n - 1}" not in texts(items)


def test_render_stops_at_the_deadline() -> None:
    """A page that takes PDFium long to draw: the progressive render ends in a timeout at the
    deadline (inside PDFium through its pause callback, or at the latest when it returns)."""
    import pypdfium2 as pdfium

    ops = b"".join(b"%d %d 5 5 re f\n" % (i % 600, (i * 7) % 780) for i in range(300_000))
    data = raw_pdf([CATALOG, b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>", FONT, pdf_stream(ops), _page(4)])
    doc = pdfium.PdfDocument(data)
    try:
        page = doc[0]
        ctx = Context(path="x", limits=Limits(timeout_seconds=0.2))
        # a deadline 1 ms away: the 300,000 shapes take far longer to draw, whatever the machine's
        # load, so the render is abandoned at a pause point or refused once it returns past it
        ctx.deadline = time.monotonic() + 0.001
        with pytest.raises(Abort) as exc:
            pdf.render_gray(page, ctx, 300 / 72)
        assert exc.value.reason == "timeout"
        page.close()
    finally:
        doc.close()


def test_looking_for_a_scan_image_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page without text: PDFium's objects are looked at up to a bound for an image (the sign of a
    scan). An image behind 150 paths is seen with the default bound (and, without Tesseract, the
    page is reported ocr_unavailable) and not behind a bound of 100."""
    from agent.extract import ocr

    monkeypatch.setattr(ocr, "tesseract_path", lambda: None)
    ops = (
        b"".join(b"%d 10 5 5 re f\n" % i for i in range(150))
        + b"q 100 0 0 100 50 50 cm BI /W 1 /H 1 /CS /G /BPC 8 ID \x80 EI Q"
    )
    p = tmp_path / "paths.pdf"
    p.write_bytes(
        raw_pdf([CATALOG, b"<< /Type /Pages /Kids [5 0 R] /Count 1 >>", FONT, pdf_stream(ops), _page(4)])
    )
    assert errors(run(p)) == [(None, "ocr_unavailable")]
    monkeypatch.setattr(pdf, "MAX_OBJECTS_LOOKED_AT", 100)
    assert errors(run(p)) == []
