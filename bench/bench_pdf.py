"""DOCX, XLSX and PDF text throughput against the same words as .txt (issue 19: each >= 0.3),
start-up excluded.

The same business prose (bench/corpus.py, ~1 % planted values) is written as .txt, as a DOCX (a
paragraph a line), an XLSX (a row a line) and a multi-page PDF (50 lines a page, Flate-compressed).
One pipeline is built once; each file is then
scanned (extract + classify + policy, as `dropwarden scan` does per file) ``--repeat`` times and
the median CPU time is reported, in MB of text per CPU second. The PDF's extraction alone is timed too, with
PDFium (the reader) and with pypdf (the reader before, a test dependency now) for the before/after.

The PDF above is the cheapest kind to read: base-14 Helvetica, one text object a line. ``pdfweb``
(not in the default formats) is the same words as a browser prints them (headless Chromium: embedded
subset fonts, text placed glyph run by glyph run, as web applications generate invoices and
statements); PDFium reads that kind about four times slower per MB of text (issue 19).

Beside Dropwarden's extraction, the same pages are read with PDFium's own calls alone (load the
page, lay its text out, read it; no Dropwarden code): the least any reader built on PDFium can spend,
and the pdf/txt ratio the scan would have if extraction cost only that. On the PDF above PDFium
spends ~2,650 instructions per character of text (valgrind), ~97 % of the extraction, in its text
layout (FPDFText_LoadPage: a CharInfo, char box and Unicode lookup per glyph, bidi per line); the
browser-printed PDF costs ~15,000 per character (one text object per glyph run).

    .venv/bin/python bench/bench_pdf.py            # 8 MB of text
    .venv/bin/python bench/bench_pdf.py --mb 2     # quicker
    .venv/bin/python bench/bench_pdf.py --mb 1 --formats pdf,pdfweb
"""

from __future__ import annotations

import argparse
import ctypes
import html
import io
import logging
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.extract import Extractor  # noqa: E402
from agent.models import FileRef, TextChunk  # noqa: E402
from agent.pipeline import build_pipeline  # noqa: E402
from bench.corpus import text_body, write_docx, write_pdf, write_xlsx  # noqa: E402
from bench.figures import add_json_option, write_json  # noqa: E402


def write_browser_pdf(path: Path, text: str) -> None:
    """The words printed to PDF by headless Chromium (a paragraph a line); nothing without Chromium."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        return
    page = path.with_suffix(".html")
    body = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines())
    page.write_text(
        "<html><head><meta charset='utf-8'><style>body{font-family:'DejaVu Serif';font-size:10pt}"
        f"p{{margin:0 0 4pt 0}}</style></head><body>{body}</body></html>",
        encoding="utf-8",
    )
    argv = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer"]
    subprocess.run(
        [*argv, f"--print-to-pdf={path}", page.as_uri()], capture_output=True, timeout=600, check=False
    )


#: Each format's writer (bench/corpus.py); txt is the reference.
WRITERS: dict[str, Callable[[Path, str], None]] = {
    "txt": lambda p, t: p.write_text(t, encoding="utf-8"),
    "docx": write_docx,
    "xlsx": write_xlsx,
    "pdf": write_pdf,
    "pdfweb": write_browser_pdf,
}
TARGET = 0.3


def median_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Median CPU seconds of this process (wall time is at the mercy of other jobs on a shared
    machine; the scan is single-threaded, so its CPU time is its wall time on an idle one)."""
    times = []
    for _ in range(repeat):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return statistics.median(times)


def extracted_chars(path: Path) -> int:
    return sum(len(i.text) for i in Extractor().extract(FileRef(str(path))) if isinstance(i, TextChunk))


def pdfium_own(path: Path) -> int:
    """Characters of text read with PDFium's calls alone, page by page (no Dropwarden code)."""
    import pypdfium2.raw as c

    data = path.read_bytes()
    doc = c.FPDF_LoadMemDocument64(data, len(data), None)
    chars = 0
    try:
        for i in range(c.FPDF_GetPageCount(doc)):
            page = c.FPDF_LoadPage(doc, i)
            textpage = c.FPDFText_LoadPage(page)
            n = c.FPDFText_CountChars(textpage)
            chars += c.FPDFText_GetText(textpage, 0, n, (ctypes.c_ushort * (n + 1))())
            c.FPDFText_ClosePage(textpage)
            c.FPDF_ClosePage(page)
    finally:
        c.FPDF_CloseDocument(doc)
    return chars


def extraction(fmt: str, path: Path, mb: float, secs: dict[str, float], repeat: int) -> dict[str, float]:
    """Print and return the extraction figures of one PDF: ours, PDFium's calls alone, and the
    pdf/txt ratio the scan would reach if our extraction cost no more than PDFium's calls."""
    ours = median_seconds(lambda: extracted_chars(path), repeat)
    own = median_seconds(lambda: pdfium_own(path), repeat)
    ceiling = secs["txt"] / max(secs[fmt] - ours + own, 1e-9)
    label = "PDF" if fmt == "pdf" else "browser-printed PDF"
    print(
        f"  {label} extraction only: PDFium {mb / ours:.1f} MB/s; PDFium's own calls alone {mb / own:.1f} MB/s"
        f" ({own / ours:.0%} of it), so at best {fmt}/txt {ceiling:.2f} with PDFium"
    )
    return {f"{fmt}_extract_mbs": mb / ours, f"{fmt}_pdfium_mbs": mb / own, f"{fmt}_ceiling_ratio": ceiling}


def pypdf_extract(path: Path) -> int:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return sum(len(p.extract_text() or "") for p in reader.pages)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=8.0, help="MB of text (default 8)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--formats", default="txt,docx,xlsx,pdf", help="txt is always measured (the reference)")
    add_json_option(ap)
    args = ap.parse_args()
    formats = ["txt", *(f for f in args.formats.split(",") if f in WRITERS and f != "txt")]
    text, _ = text_body(random.Random(20261204), int(args.mb * 1e6), plant=True, fmt="txt")
    mb = len(text.encode()) / 1e6
    figures: dict[str, float] = {"mb": mb}
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as d:
        paths = {fmt: Path(d) / ("words-web.pdf" if fmt == "pdfweb" else f"words.{fmt}") for fmt in formats}
        for fmt, path in paths.items():
            WRITERS[fmt](path, text)
            if not path.exists():
                print(f"  {fmt}: not written (no Chromium?), left out")
        paths = {fmt: path for fmt, path in paths.items() if path.exists()}
        pipeline = build_pipeline(None, b"k" * 32)
        secs = {
            fmt: median_seconds(lambda p=path: pipeline.scan(FileRef(str(p))), args.repeat)
            for fmt, path in paths.items()
        }
        found = {fmt: len(pipeline.scan(FileRef(str(p))).findings) for fmt, p in paths.items()}
        print(f"{mb:.1f} MB of text, the same words in each format; CPU seconds, median of {args.repeat}")
        for fmt, path in paths.items():
            ratio = secs["txt"] / secs[fmt]
            figures[f"{fmt}_mbs"], figures[f"{fmt}_ratio"] = mb / secs[fmt], ratio
            verdict = "" if fmt == "txt" else f"  {fmt}/txt {ratio:.2f} (target >= {TARGET})"
            verdict += "" if fmt == "txt" else ("  OK" if ratio >= TARGET else "  BELOW TARGET")
            same = "same findings" if found[fmt] == found["txt"] else f"FINDINGS DIFFER ({found[fmt]})"
            print(
                f"  scan {fmt:<4} {mb / secs[fmt]:6.1f} MB/s of text ({secs[fmt]:.2f} s; file "
                f"{path.stat().st_size / 1e6:.1f} MB; {same}){verdict}"
            )
        for fmt in ("pdf", "pdfweb"):
            if fmt in paths:
                figures.update(extraction(fmt, paths[fmt], mb, secs, args.repeat))
        if "pdf" in paths:
            ext_pypdf = median_seconds(lambda: pypdf_extract(paths["pdf"]), max(1, args.repeat // 2))
            print(f"  PDF extraction only with pypdf (the reader before): {mb / ext_pypdf:.1f} MB/s")
    write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
