"""PDF text throughput against the same words as .txt (issue 19 target 3: >= 0.3), start-up excluded.

The same business prose (bench/corpus.py, ~1 % planted values) is written as .txt and as a
multi-page PDF (50 lines a page, Flate-compressed). One pipeline is built once; each file is then
scanned (extract + classify + policy, as `dropwarden scan` does per file) ``--repeat`` times and
the median CPU time is reported, in MB of text per CPU second. The PDF's extraction alone is timed too, with
PDFium (the reader) and with pypdf (the reader before, a test dependency now) for the before/after.

    .venv/bin/python bench/bench_pdf.py            # 8 MB of text
    .venv/bin/python bench/bench_pdf.py --mb 2     # quicker
"""

from __future__ import annotations

import argparse
import io
import logging
import random
import statistics
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
from bench.corpus import text_body, write_pdf  # noqa: E402


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


def pypdf_extract(path: Path) -> int:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = PdfReader(io.BytesIO(path.read_bytes()))
    return sum(len(p.extract_text() or "") for p in reader.pages)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=8.0, help="MB of text (default 8)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    text, _ = text_body(random.Random(20261204), int(args.mb * 1e6), plant=True, fmt="txt")
    mb = len(text.encode()) / 1e6
    with tempfile.TemporaryDirectory(prefix="bench-pdf-") as d:
        txt, pdf = Path(d) / "words.txt", Path(d) / "words.pdf"
        txt.write_text(text)
        write_pdf(pdf, text)
        pipeline = build_pipeline(None, b"k" * 32)
        rows = []
        for label, path in (("txt", txt), ("pdf", pdf)):
            secs = median_seconds(lambda p=path: pipeline.scan(FileRef(str(p))), args.repeat)
            rows.append((label, secs))
        found = len(pipeline.scan(FileRef(str(pdf))).findings), len(pipeline.scan(FileRef(str(txt))).findings)
        ext_pdfium = median_seconds(lambda: extracted_chars(pdf), args.repeat)
        ext_pypdf = median_seconds(lambda: pypdf_extract(pdf), max(1, args.repeat // 2))
        print(
            f"{mb:.1f} MB of text; PDF file {pdf.stat().st_size / 1e6:.1f} MB, {len(text.splitlines()) // 50 + 1} pages"
        )
        for label, secs in rows:
            print(
                f"  scan {label}: {mb / secs:6.1f} MB/s of text ({secs:.2f} CPU s, median of {args.repeat})"
            )
        ratio = rows[0][1] / rows[1][1]
        print(f"  pdf / txt: {ratio:.2f}  (target >= 0.3)  {'OK' if ratio >= 0.3 else 'BELOW TARGET'}")
        print(f"  findings pdf {found[0]} / txt {found[1]}  {'OK' if found[0] == found[1] else 'DIFFER'}")
        print(f"  extraction only: PDFium {mb / ext_pdfium:.1f} MB/s, pypdf {mb / ext_pypdf:.1f} MB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
