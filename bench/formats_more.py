"""The formats of issue #18's second round, written by real tools where one exists, each scanned once:
what the inventory says of it (format, characters, status, reasons) and whether the planted card and
marking came out.

    python bench/formats_more.py [--out DIR]

Builds into DIR (default: a temporary directory): an EPUB (LibreOffice), a .vsdx (the Visio-written
template of the ``vsdx`` package, edited), a CHM (Free Pascal's chmcmd), an XPS (built per ECMA-388),
an iWork package (laid out as Pages writes it, real PDF preview), a Cyrillic RTF in a cp1252 document
(hand-written per the RTF 1.9 font table), a 7z with a flipped byte (7-Zip) and a OneNote header.
Then prints one line per file: run it on main and on a branch to compare.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.extract import Extractor
from agent.models import ExtractError, FileRecord, FileRef, Limits, TextChunk

CARD = "4532 0151 1283 0366"
MARKING = "STRICTLY CONFIDENTIAL"
RU_MARKING = "СТРОГО КОНФИДЕНЦИАЛЬНО"  # the RTF's marking, in a Cyrillic font of a cp1252 document


def _pdf(text: str) -> bytes:
    from tests.unit.extract.builders import pdf_bytes

    return pdf_bytes([text])


def _epub(d: Path) -> None:
    import docx

    from tests.unit.extract.builders import soffice_convert

    doc = docx.Document()
    doc.add_paragraph(f"{MARKING}: customer card {CARD}")
    doc.save(d / "book.docx")
    with tempfile.TemporaryDirectory() as profile:
        soffice_convert(d / "book.docx", "epub", Path(profile))
    (d / "book.docx").unlink()


def _vsdx(d: Path) -> None:
    import vsdx

    with vsdx.VisioFile(str(Path(vsdx.__file__).parent / "media" / "media.vsdx")) as vis:
        vis.pages[0].child_shapes[0].text = f"{MARKING} card {CARD}"
        vis.save_vsdx(str(d / "diagram.vsdx"))


def _chm(d: Path) -> None:
    src = d / "chm-src"
    src.mkdir()
    (src / "a.html").write_text(f"<html><body><h1>{MARKING}</h1><p>Card {CARD}</p></body></html>")
    (src / "p.hhp").write_text("[OPTIONS]\nCompiled file=help.chm\nDefault topic=a.html\n\n[FILES]\na.html\n")
    subprocess.run(["chmcmd", "p.hhp"], cwd=src, check=True, capture_output=True, timeout=60)
    shutil.move(src / "help.chm", d / "help.chm")
    shutil.rmtree(src)


def _xps(d: Path) -> None:
    ns = "http://schemas.microsoft.com/xps/2005/06"
    glyphs = "".join(
        f'<Glyphs FontUri="/f.ttf" FontRenderingEmSize="12" OriginX="96" OriginY="{y}" UnicodeString="{t}"/>'
        for t, y in ((MARKING, 100), (f"Card {CARD}", 120))
    )
    with zipfile.ZipFile(d / "print.xps", "w") as z:
        z.writestr("FixedDocSeq.fdseq", f'<FixedDocumentSequence xmlns="{ns}"><DocumentReference Source="d.fdoc"/>'
                   "</FixedDocumentSequence>")  # fmt: skip
        z.writestr("d.fdoc", f'<FixedDocument xmlns="{ns}"><PageContent Source="1.fpage"/></FixedDocument>')
        z.writestr("1.fpage", f'<FixedPage xmlns="{ns}" Width="816" Height="1056">{glyphs}</FixedPage>')


def _iwork(d: Path) -> None:
    with zipfile.ZipFile(d / "report.pages", "w") as z:
        z.writestr("Index/Document.iwa", b"\x00\x1d\x00\x00" + b"\x08\x01" * 20)
        z.writestr("Index/Metadata.iwa", b"\x00\x10\x00\x00" + b"\x08\x02" * 8)
        z.writestr("QuickLook/Preview.pdf", _pdf(f"{MARKING} card {CARD}"))


def _rtf(d: Path) -> None:
    body = RU_MARKING.encode("cp1251")
    hexed = "".join(f"\\'{b:02x}" if b > 127 else chr(b) for b in body)
    (d / "letter.rtf").write_text(
        "{\\rtf1\\ansi\\ansicpg1252{\\fonttbl{\\f0 Arial;}{\\f1\\fcharset204 Arial CYR;}}"
        f"{{\\f1 {hexed}}}\\par Card {CARD}}}"
    )


def _seven_zip(d: Path) -> None:
    src = d / "7z-src"
    src.mkdir()
    (src / "a.txt").write_text(f"{MARKING} {CARD}\n" * 20)
    subprocess.run(
        ["7z", "a", "-bd", "-mx0", str(d / "pack.7z"), "a.txt"], cwd=src, check=True, capture_output=True
    )
    shutil.rmtree(src)
    data = (d / "pack.7z").read_bytes()
    at = data.index(CARD.encode())
    (d / "pack.7z").write_bytes(data[:at] + b"5" + data[at + 1 :])


def _onenote(d: Path) -> None:
    (d / "notes.one").write_bytes(bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + bytes(4000))


BUILDERS = [_epub, _vsdx, _chm, _xps, _iwork, _rtf, _seven_zip, _onenote]


def build(d: Path) -> None:
    for b in BUILDERS:
        try:
            b(d)
        except (OSError, subprocess.CalledProcessError, ImportError) as e:
            print(f"skipped {b.__name__[1:]}: {type(e).__name__} {e}", file=sys.stderr)


def report(d: Path) -> None:
    print(f"{'file':14} {'format':8} {'chars':>6} {'status':10} {'card':5} {'mark':5} reasons")
    for p in sorted(d.iterdir()):
        records: list[FileRecord] = []
        items = list(Extractor(Limits(timeout_seconds=60)).extract(FileRef(str(p)), records))
        text = "".join(i.text for i in items if isinstance(i, TextChunk))
        reasons = sorted({f"{i.reason}" for i in items if isinstance(i, ExtractError)})
        top = records[0]
        chars = sum(r.chars for r in records)
        status = "unscanned" if reasons else ("read" if chars else "no text")
        print(f"{p.name:14} {top.format:8} {chars:>6} {status:10} {CARD in text!s:5} {(MARKING in text or RU_MARKING in text)!s:5} "
              f"{','.join(reasons)}")  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", help="build into this folder (kept) instead of a temporary one")
    args = ap.parse_args()
    if args.out:
        d = Path(args.out)
        d.mkdir(parents=True, exist_ok=True)
        if not any(d.iterdir()):
            build(d)
        report(d)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        report(Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
