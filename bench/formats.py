"""Per-format extraction throughput, the Debian tools weighed against the readers chosen, and the
"nothing passes unread" count over a folder of real documents.

    python bench/formats.py [--docs ../shared/external/documents] [--repeat 5]

1. Builds (once, under bench/corpus/formats/) a DOCX/XLSX/PPTX of ~2,000 lines of business text with
   python-docx/openpyxl/python-pptx and converts them with LibreOffice to .doc/.xls/.ppt/.rtf; packs the
   text into 7z/ISO/cpio/.tar.Z (7-Zip, bsdtar) and an mbox of 500 messages.
2. Extracts each file ``--repeat`` times in this process (the Extractor as the scan runs it) and prints
   MB/s of file bytes, characters of text per second, and the characters found.
3. For .doc/.xls/.ppt also times the Debian alternatives (antiword, catdoc/xls2csv, catppt) on the same
   file as subprocesses, and says whether the planted header/notes/hidden-sheet text came out.
4. ``--docs DIR``: every top-level file, with its inventory record: how many gave text (chars > 0),
   how many an error with a reason, how many neither (read, but no text: blank documents, image-only
   PDFs waiting for OCR).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.extract import Extractor
from agent.models import ExtractError, FileRecord, FileRef, Limits, TextChunk

OUT = Path(__file__).resolve().parent / "corpus" / "formats"
LINES = 2000
HEADER = "HEADER-PLANT STRICTLY CONFIDENTIAL"
NOTES = "NOTES-PLANT speaker notes"
HIDDEN = "HIDDEN-PLANT hidden sheet"


def _line(i: int) -> str:
    return f"Line {i}: invoice {100000 + i} for client account {i * 7919 % 100000:05d}, amount {i * 13 % 9999}.00 EUR"


def _build_sources(d: Path) -> None:
    import docx
    import openpyxl
    import pptx

    doc = docx.Document()
    doc.sections[0].header.paragraphs[0].text = HEADER
    for i in range(LINES):
        doc.add_paragraph(_line(i))
    doc.save(d / "src.docx")
    wb = openpyxl.Workbook()
    for i in range(LINES):
        wb.active.append([f"client {i}", 100000 + i, _line(i)])
    hidden = wb.create_sheet("Hidden")
    hidden["A1"] = HIDDEN
    hidden.sheet_state = "hidden"
    wb.save(d / "src.xlsx")
    prs = pptx.Presentation()
    for s in range(LINES // 20):
        slide = prs.slides.add_slide(prs.slide_layouts[1])
        slide.shapes.title.text = f"Slide {s}"
        slide.placeholders[1].text = "\n".join(_line(s * 20 + k) for k in range(20))
        slide.notes_slide.notes_text_frame.text = NOTES
    prs.save(d / "src.pptx")


def build(d: Path) -> dict[str, Path]:
    files = {fmt: d / f"bench.{fmt}" for fmt in ("docx", "xlsx", "pptx", "doc", "xls", "ppt", "rtf", "7z", "iso",
                                                "cpio", "tar.Z", "mbox")}  # fmt: skip
    if all(p.exists() for p in files.values()):
        return files
    d.mkdir(parents=True, exist_ok=True)
    _build_sources(d)
    for fmt in ("docx", "xlsx", "pptx"):
        shutil.copy(d / f"src.{fmt}", files[fmt])
    for fmt, src in (("doc", "docx"), ("rtf", "docx"), ("xls", "xlsx"), ("ppt", "pptx")):
        subprocess.run(["soffice", "--headless", "--convert-to", fmt, "--outdir", str(d), str(d / f"src.{src}")],
                       check=True, capture_output=True)  # fmt: skip
        (d / f"src.{fmt}").rename(files[fmt])
    text = d / "text"
    text.mkdir(exist_ok=True)
    (text / "lines.txt").write_text("\n".join(_line(i) for i in range(LINES * 5)))
    shutil.copy(files["doc"], text / "inner.doc")
    subprocess.run(["7z", "a", "-bd", "-y", str(files["7z"]), "."], cwd=text, check=True, capture_output=True)
    subprocess.run(["bsdtar", "--format", "iso9660", "-cf", str(files["iso"]), "."], cwd=text, check=True)
    subprocess.run(["bsdtar", "--format", "cpio", "-cf", str(files["cpio"]), "."], cwd=text, check=True)
    subprocess.run(["bsdtar", "-cZf", str(files["tar.Z"]), "."], cwd=text, check=True)
    with files["mbox"].open("w") as f:
        for m in range(500):
            f.write(f"From a@example.org Mon Jan  1 00:00:00 2024\nFrom: a@example.org\nTo: b@example.org\n"
                    f"Subject: message {m}\n\n" + "\n".join(_line(m * 4 + k) for k in range(4)) + "\n\n")  # fmt: skip
    return files


def extract_once(path: Path, limits: Limits) -> tuple[int, list[FileRecord], list[ExtractError]]:
    inv: list[FileRecord] = []
    chars, errors = 0, []
    for item in Extractor(limits).extract(FileRef(str(path)), inv):
        if isinstance(item, TextChunk):
            chars += len(item.text)
        else:
            errors.append(item)
    return chars, inv, errors


def throughput(files: dict[str, Path], repeat: int) -> None:
    print(f"{'format':8} {'bytes':>10} {'chars':>9} {'MB/s':>8} {'Mchar/s':>8} {'ms/file':>8}  errors")
    for fmt, p in files.items():
        size = p.stat().st_size
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            chars, _inv, errors = extract_once(p, Limits())
            best = min(best, time.perf_counter() - t)
        print(f"{fmt:8} {size:>10} {chars:>9} {size / best / 1e6:>8.2f} {chars / best / 1e6:>8.2f} "
              f"{best * 1000:>8.1f}  {[e.reason for e in errors]}")  # fmt: skip


def _tool(argv: list[str], path: Path, repeat: int) -> tuple[float, str]:
    best, out = float("inf"), ""
    for _ in range(repeat):
        t = time.perf_counter()
        proc = subprocess.run([*argv, str(path)], capture_output=True, check=False)
        best = min(best, time.perf_counter() - t)
        out = proc.stdout.decode("utf-8", "replace")
    return best, out


def alternatives(files: dict[str, Path], repeat: int) -> None:
    """The same legacy files through the Debian command-line readers, for fidelity and speed."""
    plants = {"doc": HEADER, "xls": HIDDEN, "ppt": NOTES}
    candidates = {
        "doc": (["antiword", "-m", "UTF-8.txt"], ["catdoc", "-w", "-d", "utf-8"]),
        "xls": (["xls2csv", "-d", "utf-8"],),
        "ppt": (["catppt", "-d", "utf-8"],),
    }
    print(f"\n{'format':6} {'reader':28} {'ms':>8} {'chars':>9}  planted text found")
    for fmt, tools in candidates.items():
        t = time.perf_counter()
        chars, _inv, _errors = extract_once(files[fmt], Limits())
        ms = (time.perf_counter() - t) * 1000
        text = "".join(
            i.text for i in Extractor().extract(FileRef(str(files[fmt]))) if isinstance(i, TextChunk)
        )
        print(f"{fmt:6} {'dropwarden (chosen)':28} {ms:>8.1f} {chars:>9}  {plants[fmt] in text}")
        for argv in tools:
            if shutil.which(argv[0]) is None:
                continue
            secs, out = _tool(argv, files[fmt], repeat)
            print(f"{fmt:6} {' '.join(argv):28} {secs * 1000:>8.1f} {len(out):>9}  {plants[fmt] in out}")


def documents(d: Path) -> None:
    """Every top-level file of a folder: text, an error with a reason, or neither."""
    counts: Counter[str] = Counter()
    neither = []
    for p in sorted(d.iterdir()):
        if not p.is_file() or p.name == "manifest.jsonl":
            continue
        chars, inv, errors = extract_once(p, Limits(timeout_seconds=30))
        if chars > 0:
            counts["text"] += 1
        elif errors:
            counts["reason"] += 1
        else:
            counts["neither"] += 1
            neither.append(f"{p.name} ({inv[0].format if inv else '?'})")
    total = sum(counts.values())
    print(f"\n{d}: {total} files; chars > 0: {counts['text']}; no text but an error with a reason: "
          f"{counts['reason']}; neither: {counts['neither']}")  # fmt: skip
    for n in neither:
        print(f"  neither: {n}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--docs", help="folder of real documents to count (e.g. ../shared/external/documents)")
    args = ap.parse_args()
    files = build(OUT)
    throughput(files, args.repeat)
    alternatives(files, args.repeat)
    if args.docs:
        documents(Path(args.docs))
    return 0


if __name__ == "__main__":
    os.environ.setdefault("LANG", "C.UTF-8")
    sys.exit(main())
