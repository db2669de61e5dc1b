"""Legacy Office, RTF, libarchive archives and mailboxes, written by real tools, scanned for real.

One session fixture builds DOCX/XLSX/PPTX with the Python libraries, converts them with Debian's
LibreOffice to .doc/.xls/.ppt/.rtf, packs them with 7-Zip, bsdtar and gcab (7z, cpio, ISO 9660, .tar.Z, CAB),
and scans the folder once with ``dropwarden scan``: every file must raise the planted card and
marking. Hostile variants (truncated and cyclic OLE, 7z bombs, nesting, deep RTF) end as errors.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from agent.extract.legacy import biff_headers, ppt_texts
from agent.extract.rtf import RtfText
from agent.extract.sniff import refine, sniff_format
from agent.models import ExtractError, Limits, TextChunk
from tests.unit.extract.builders import errors, run, soffice_convert, texts

# A Luhn-valid generated card number (no issuer's test number: those are filtered as samples).
CARD = "4532 0151 1283 0366"
MARKING = "STRICTLY CONFIDENTIAL"
CONVERSIONS = {"doc": "src.docx", "rtf": "src.docx", "xls": "src.xlsx", "ppt": "src.pptx"}


def _need(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} not installed")


def _sources(d: Path) -> None:
    """DOCX/XLSX/PPTX whose card and marking sit where legacy readers used to miss them."""
    import docx
    import openpyxl
    import pptx
    from openpyxl.comments import Comment

    doc = docx.Document()
    doc.sections[0].header.paragraphs[0].text = f"{MARKING} header"
    doc.add_paragraph(f"Customer card {CARD}")
    doc.save(d / "src.docx")
    wb = openpyxl.Workbook()
    wb.active["A1"] = "visible"
    wb.active["A2"].comment = Comment(f"{MARKING} note", "x")
    wb.active.oddFooter.center.text = "Quarterly figures RESTRICTED footer"
    hidden = wb.create_sheet("Hidden")
    hidden["A1"], hidden["B1"] = "card", CARD
    hidden.sheet_state = "hidden"
    wb.save(d / "src.xlsx")
    prs = pptx.Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Quarterly plan"
    slide.placeholders[1].text = f"{MARKING}"
    slide.notes_slide.notes_text_frame.text = f"speaker notes: card {CARD}"
    prs.save(d / "src.pptx")


_ODT_HOST = (
    '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'office:version="1.2"><office:body><office:text><text:p>Host text</text:p><text:p><draw:frame>'
    '<draw:object xlink:href="./Object 1" xlink:type="simple" xlink:show="embed"/></draw:frame></text:p>'
    "</office:text></office:body></office:document-content>"
)
_ODS_OBJECT = (
    '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2"><office:body>'
    '<office:spreadsheet><table:table table:name="S"><table:table-row><table:table-cell>'
    f"<text:p>{MARKING}</text:p></table:table-cell><table:table-cell><text:p>{CARD}</text:p>"
    "</table:table-cell></table:table-row></table:table></office:spreadsheet></office:body></office:document-content>"
)
_MANIFEST = (
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.2"><manifest:file-entry manifest:full-path="/" '
    'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    '<manifest:file-entry manifest:full-path="Object 1/" '
    'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
    '<manifest:file-entry manifest:full-path="Object 1/content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)


def _host_odt(d: Path) -> None:
    """An ODT whose only card and marking sit in an embedded spreadsheet object."""
    import zipfile

    with zipfile.ZipFile(d / "host.odt", "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        z.writestr("content.xml", _ODT_HOST)
        z.writestr("Object 1/content.xml", _ODS_OBJECT)
        z.writestr("META-INF/manifest.xml", _MANIFEST)


def _convert(d: Path, out: Path) -> None:
    for fmt, src in CONVERSIONS.items():
        subprocess.run(
            ["soffice", f"-env:UserInstallation=file://{d}/lo-profile", "--headless", "--convert-to", fmt,
             "--outdir", str(out), str(d / src)],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
        (out / f"src.{fmt}").rename(out / f"legacy.{fmt}")
    _host_odt(d)
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{d}/lo-profile", "--headless", "--convert-to", "doc",
         "--outdir", str(out), str(d / "host.odt")],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    (out / "host.doc").rename(out / "embedded.doc")
    shutil.copy(d / "host.odt", out / "embedded.odt")


#: Headers of a real mailbox export: signatures and IDs look like secrets but are not content.
_TRANSPORT = (
    "Received: from mx.example.org (mx.example.org [192.0.2.7]) by mail.example.net with ESMTPS id "
    "4Qk9ZL2cP1z9sWv for <b@example.org>; Mon, 1 Jan 2024 00:00:00 +0000\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org; s=s1; "
    "bh=9f8Jq2Lx0vT5mWc3RkYpZ1sN7uH4eD6gA2bC8iO0qE4=; "
    "b=Qm9ndXNTaWduYXR1cmVOb3RBU2VjcmV0QnV0TG9va3NSYW5kb20xMjM0NTY3ODkwYWJjZGVmZ2hpams=\n"
    "ARC-Seal: i=1; a=rsa-sha256; t=1704067200; cv=none; d=example.org; s=arc; "
    "b=Zm9vYmFyQmF6UXV4UmFuZG9tTG9va2luZ0FyY1NlYWxWYWx1ZTk4NzY1NDMyMTBaWVhXVlVUU1JR\n"
    "Message-ID: <CAF8x7=Tq9vLm2PzR4kWn6Yb0Hs3Jd5Ge1Uc@mail.example.org>\n"
)


def _mail(n: int) -> bytes:
    return (
        f"{_TRANSPORT}From: a@example.org\nTo: b@example.org\nSubject: m{n}\nMIME-Version: 1.0\n"
        f"Content-Type: text/plain\n\nClassification: {MARKING}\nCard {CARD}\n"
    ).encode()


def _archives(out: Path, work: Path) -> None:
    inner = work / "inner"
    inner.mkdir()
    (inner / "note.txt").write_text(f"{MARKING}\ncard {CARD}\n")
    shutil.copy(out / "legacy.doc", inner / "legacy.doc")
    subprocess.run(
        ["7z", "a", "-bd", "-y", str(out / "pack.7z"), "."], cwd=inner, check=True, capture_output=True
    )
    for fmt, name in (("cpio", "pack.cpio"), ("iso9660", "pack.iso")):
        subprocess.run(["bsdtar", "--format", fmt, "-cf", str(out / name), "."], cwd=inner, check=True)
    subprocess.run(["bsdtar", "-cZf", str(out / "pack.tar.Z"), "."], cwd=inner, check=True)
    subprocess.run(
        ["gcab", "-c", "-z", str(out / "pack.cab"), "note.txt", "legacy.doc"], cwd=inner, check=True
    )
    mbox = b"".join(b"From a@example.org Mon Jan  1 00:00:00 2024\n" + _mail(i) + b"\n" for i in (1, 2))
    (out / "box.mbox").write_bytes(mbox)
    msg = _mail(3)
    (out / "mail.emlx").write_bytes(str(len(msg)).encode() + b"\n" + msg + b"<?xml version='1.0'?><plist/>")


@pytest.fixture(scope="session")
def legacy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files written by LibreOffice, 7-Zip and bsdtar (built once per session)."""
    _need("soffice", "7z", "bsdtar", "gcab", "catdoc", "prlimit")
    work = tmp_path_factory.mktemp("legacy-src")
    out = tmp_path_factory.mktemp("legacy")
    _sources(work)
    _convert(work, out)
    _archives(out, work)
    return out


@pytest.fixture(scope="session")
def scanned(legacy_dir: Path) -> list[dict[str, object]]:
    """One real ``dropwarden scan --format jsonl`` of the whole folder."""
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "scan", "--format", "jsonl", "--inventory", str(legacy_dir)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


FILES = ["legacy.doc", "legacy.xls", "legacy.ppt", "legacy.rtf", "pack.7z", "pack.cpio", "pack.iso",
         "pack.tar.Z", "box.mbox", "mail.emlx", "embedded.doc", "pack.cab", "embedded.odt"]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("name", FILES)
def test_planted_card_and_marking_are_found(
    legacy_dir: Path, scanned: list[dict[str, object]], name: str
) -> None:
    """Each format written by a real tool raises the card and the marking, with no read error."""
    path = str(legacy_dir / name)
    mine = [r for r in scanned if r.get("path") == path]
    entities = {r.get("entity") for r in mine if r.get("kind") == "finding"}
    assert {"CREDIT_CARD", "CONFIDENTIAL_MARKING"} <= entities, (name, mine)
    assert not [r for r in mine if r.get("kind") == "error"], (name, mine)
    assert not [r for r in mine if "SECRET" in str(r.get("entity"))], (name, mine)  # mail headers


@pytest.mark.slow
def test_inventory_names_every_file_and_member(legacy_dir: Path, scanned: list[dict[str, object]]) -> None:
    """``scan --inventory``: one record per file and member, with its sniffed format and its text."""
    records = {(r["path"], r["member"]): r for r in scanned if r.get("kind") == "file"}
    for name in FILES:
        top = records[(str(legacy_dir / name), None)]
        assert top["status"] == "read", top
    fmt = {name: records[(str(legacy_dir / name), None)]["format"] for name in FILES}
    assert fmt["legacy.doc"] == "doc" and fmt["legacy.xls"] == "xls" and fmt["legacy.ppt"] == "ppt"
    assert fmt["pack.7z"] == "7z" and fmt["pack.iso"] == "iso" and fmt["box.mbox"] == "mbox"
    inner = records[(str(legacy_dir / "pack.7z"), "legacy.doc")]
    assert inner["format"] == "doc" and inner["chars"] > 0 and inner["status"] == "read"
    assert records[(str(legacy_dir / "box.mbox"), "message-2")]["chars"] > 0


@pytest.mark.slow
def test_hidden_sheet_comments_notes_and_headers_are_read(legacy_dir: Path) -> None:
    """Text hidden in places plain readers skip: an .xls hidden sheet, note and page footer, .ppt notes,
    the .doc and .rtf page header."""
    xls = run(legacy_dir / "legacy.xls")
    assert any(i.part == "sheet:Hidden" and CARD in i.text for i in xls if hasattr(i, "part"))
    assert any(i.part == "comments" and MARKING in i.text for i in xls if hasattr(i, "part"))
    assert any(i.part == "header" and "RESTRICTED footer" in i.text for i in xls if hasattr(i, "part"))
    assert f"speaker notes: card {CARD}" in texts(run(legacy_dir / "legacy.ppt"))
    assert f"{MARKING} header" in texts(run(legacy_dir / "legacy.doc"))
    assert f"{MARKING} header" in texts(run(legacy_dir / "legacy.rtf"))


@pytest.mark.slow
def test_object_embedded_in_a_doc_is_read_as_a_member(legacy_dir: Path) -> None:
    """The spreadsheet object LibreOffice stores in a .doc's ObjectPool is read as a workbook member."""
    items = run(legacy_dir / "embedded.doc")
    assert not errors(items)
    inner = [i for i in items if hasattr(i, "text") and i.member and i.member.startswith("ObjectPool/")]
    assert inner and CARD in texts(inner) and inner[0].part == "sheet:S"


@pytest.mark.slow
def test_ole_object_in_a_ppt_is_inflated_and_dispatched(shared_dir: Path, tmp_path: Path) -> None:
    """A slide's embedded workbook (python-pptx's sample, converted by LibreOffice to .ppt) is inflated
    from its ExOleObjStg record and dispatched; LibreOffice keeps only the object's preview picture,
    so it is reported as an OLE file of no known kind, never passed over."""
    _need("soffice")
    src = shared_dir / "external" / "documents" / "python-pptx__shp-access-ole-object.pptx"
    if not src.exists():
        pytest.skip("absent")
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{tmp_path}/lo", "--headless", "--convert-to", "ppt",
         "--outdir", str(tmp_path), str(src)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    items = run(tmp_path / src.with_suffix(".ppt").name)
    assert ("object-1", "unsupported_format") in errors(items)


@pytest.mark.slow
def test_members_of_each_archive_are_named(legacy_dir: Path) -> None:
    """7z and ISO members come back under their names; the .doc inside a 7z is read as Word."""
    items = run(legacy_dir / "pack.7z")
    members = {i.member for i in items if hasattr(i, "text")}
    assert {"note.txt", "legacy.doc"} <= members
    assert CARD in texts([i for i in items if getattr(i, "member", None) == "legacy.doc"])
    assert {"note.txt", "legacy.doc"} <= {
        i.member for i in run(legacy_dir / "pack.iso") if hasattr(i, "text")
    }


# --- hostile variants -------------------------------------------------------------------------


@pytest.mark.slow
def test_truncated_ole_documents_are_error_records(legacy_dir: Path, tmp_path: Path) -> None:
    """A .doc/.xls/.ppt cut in half ends as an error record, never as clean text-less output."""
    for name in ("legacy.doc", "legacy.xls", "legacy.ppt"):
        data = (legacy_dir / name).read_bytes()
        cut = tmp_path / name
        cut.write_bytes(data[: len(data) // 2])
        items = run(cut, Limits(timeout_seconds=20))
        assert errors(items), name
        assert all(r in ("malformed", "unsupported_format") for _m, r in errors(items)), (name, errors(items))


def _cyclic_fat(data: bytes) -> bytes:
    """Point every end-of-chain FAT entry of an OLE file at itself: each stream's chain loops."""
    buf = bytearray(data)
    shift = struct.unpack_from("<H", buf, 0x1E)[0]
    size = 1 << shift
    nfat = struct.unpack_from("<I", buf, 0x2C)[0]
    for k in range(min(nfat, 109)):
        sect = struct.unpack_from("<I", buf, 0x4C + 4 * k)[0]
        base = size * (sect + 1)
        for i in range(size // 4):
            if struct.unpack_from("<I", buf, base + 4 * i)[0] == 0xFFFFFFFE:
                struct.pack_into("<I", buf, base + 4 * i, k * (size // 4) + i)
    return bytes(buf)


@pytest.mark.slow
def test_cyclic_fat_chains_end_as_errors(legacy_dir: Path, tmp_path: Path) -> None:
    """OLE files whose sector chains loop end: olefile reads no more than a stream's declared size,
    catdoc and xlrd reject the loop; the outcome is text or an error record, never a hang or a bug."""
    for name in ("legacy.doc", "legacy.xls", "legacy.ppt"):
        bad = tmp_path / name
        bad.write_bytes(_cyclic_fat((legacy_dir / name).read_bytes()))
        items = run(bad, Limits(timeout_seconds=20))
        assert errors(items) or CARD in texts(items), name
        assert all(r in ("malformed", "unsupported_format") for _m, r in errors(items)), (name, errors(items))


def _seven_zip(tmp_path: Path, name: str, files: dict[str, bytes]) -> Path:
    src = tmp_path / (name + ".d")
    src.mkdir()
    for n, data in files.items():
        (src / n).write_bytes(data)
    out = tmp_path / name
    subprocess.run(["7z", "a", "-bd", "-y", str(out), "."], cwd=src, check=True, capture_output=True)
    return out


def test_7z_bomb_stops_at_the_ratio_limit(tmp_path: Path) -> None:
    """20 MB of zeros in a few kB of 7z: the member is reported as limit_ratio, not inflated."""
    _need("7z")
    bomb = _seven_zip(
        tmp_path, "bomb.7z", {"zeros.txt": b"\0" * (20 * 1024 * 1024), "ok.txt": MARKING.encode()}
    )
    items = run(bomb, Limits(max_ratio=100))
    assert ("zeros.txt", "limit_ratio") in errors(items)
    assert MARKING in texts(items)


def test_nested_7z_counts_unpacked_bytes_across_levels(tmp_path: Path) -> None:
    """Archives inside archives: depth and the total unpacked size are limited across all levels."""
    _need("7z")
    inner = _seven_zip(tmp_path, "l0.7z", {"a.txt": b"x" * 300_000})
    for level in range(1, 4):
        inner = _seven_zip(
            tmp_path, f"l{level}.7z", {inner.name: inner.read_bytes(), "b.txt": b"y" * 300_000}
        )
    assert ("l2.7z!l1.7z", "limit_depth") in errors(run(inner, Limits(max_depth=2)))
    total = errors(run(inner, Limits(max_unpacked_bytes=700_000)))
    assert total and total[-1][1] == "limit_bytes"


def test_encrypted_7z_is_reported(tmp_path: Path) -> None:
    """A password-protected 7z member (and an archive with encrypted names) is ``encrypted``."""
    _need("7z")
    src = tmp_path / "s"
    src.mkdir()
    (src / "secret.txt").write_text(MARKING)
    for name, flags in (("enc.7z", []), ("hdr.7z", ["-mhe=on"])):
        subprocess.run(["7z", "a", "-bd", "-pS3cret", *flags, str(tmp_path / name), "."], cwd=src, check=True,
                       capture_output=True)  # fmt: skip
        assert [r for _m, r in errors(run(tmp_path / name))] == ["encrypted"], name


def test_corrupt_7z_member_is_malformed_not_clean(tmp_path: Path) -> None:
    """A stored 7z member with one flipped byte (bad CRC) and a 7z cut short each end as a ``malformed``
    error naming the member and libarchive's reason; the intact member beside it is still read."""
    _need("7z")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_bytes((MARKING + " " + CARD + "\n").encode() * 40)
    (src / "b.txt").write_bytes(b"Quarterly plan, " + MARKING.encode())
    stored = tmp_path / "stored.7z"
    subprocess.run(["7z", "a", "-bd", "-y", "-mx0", str(stored), "a.txt", "b.txt"], cwd=src, check=True,
                   capture_output=True)  # fmt: skip
    data = stored.read_bytes()
    at = data.index(CARD.encode())
    flipped = tmp_path / "crc.7z"
    flipped.write_bytes(data[:at] + b"5" + data[at + 1 :])
    items = run(flipped)
    bad = [(i.member, i.reason, i.detail) for i in items if isinstance(i, ExtractError)]
    assert ("a.txt", "malformed") in [(m, r) for m, r, _d in bad], bad
    assert any("CRC" in d for _m, _r, d in bad), bad
    assert "Quarterly plan" in texts(items)  # the intact member is read
    damaged = [i for i in items if isinstance(i, TextChunk) and i.member == "a.txt"]
    assert damaged and MARKING in damaged[0].text  # and what the damaged one held before the failure
    cut = tmp_path / "cut.7z"
    cut.write_bytes(data[: len(data) // 2])
    errs = errors(run(cut))
    assert errs and all(r == "malformed" for _m, r in errs), errs


def test_corrupt_7z_from_py7zr_suite(shared_dir: Path) -> None:
    """py7zr's own corrupted test archives: every damaged member is an error, never a silent binary."""
    d = shared_dir / "external" / "documents"
    if not (d / "py7zr__crc_corrupted.7z").exists():
        pytest.skip("external documents absent")
    for name in ("py7zr__crc_corrupted.7z", "py7zr__data_corrupted.7z"):
        errs = errors(run(d / name))
        assert errs and all(r == "malformed" for _m, r in errs), (name, errs)
        assert any(m is not None for m, _r in errs), name


def test_mail_transport_headers_are_not_extracted(tmp_path: Path) -> None:
    """DKIM/ARC signatures, Received IDs and Message-IDs stay out of the text; subject and body do not."""
    p = tmp_path / "box"
    p.write_bytes(b"From a@example.org Mon Jan  1 00:00:00 2024\n" + _mail(1))
    text = texts(run(p))
    assert "Subject: m1" in text and CARD in text
    for secretish in ("9f8Jq2Lx0vT5", "Qm9ndXNT", "Zm9vYmFy", "4Qk9ZL2cP1z9sWv", "CAF8x7"):
        assert secretish not in text


def test_rtf_grammar() -> None:
    """Unicode escapes with fallbacks, code-page bytes, \\bin data and skipped destinations."""
    from agent.extract.context import Context

    rtf = (
        rb"{\rtf1\ansi\ansicpg1252\uc1{\fonttbl{\f0 Arial;}}{\*\generator Secret-writer;}"
        rb"STRICTLY \u67\'43ONFIDENTIAL\par {\info{\title Caf\'e9 plan}}\bin4 {}\\x end\par"
        rb"{\header Head\~text}card 4532\-0151}"
    )
    out = RtfText(Context("x", Limits())).read(rtf)
    assert "STRICTLY CONFIDENTIAL" in out
    assert "Café plan" in out
    assert "Secret-writer" not in out and "Arial" not in out
    assert "{}\\x" not in out and " end" in out
    assert "Head\u00a0text" in out and "card 45320151" in out


#: A WordPad/Word 97-style RTF (RTF 1.9 font table): no \\u escapes, every letter a \\'xx byte in its
#: font's code page; the document code page is cp1252 throughout.
_RTF_FONTS = (
    rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss\fcharset0 Arial;}"
    rb"{\f1\froman\fcharset204{\*\panose 02020603050405020304}Times New Roman CYR;}"
    rb"{\f2\fswiss\fcharset161 Arial Greek;}{\f3\fswiss\fcharset238 Arial CE;}{\f4\fnil\cpg1251 X;}"
    rb"{\f5\fnil\fcharset128 MS Mincho;}}"
    rb"\f0 Caf\'e9 {\f1 \'d1\'d2\'d0\'ce\'c3\'ce "
    rb"\'ca\'ce\'cd\'d4\'c8\'c4\'c5\'cd\'d6\'c8\'c0\'cb\'dc\'cd\'ce} \'e9\par"
    rb"\f2 \'c1\'d1\'d7\'c5\'c9\'cf\plain\'e9\par\f3 P\'f8\'edsn\'ec d\'f9v\'ecrn\'e9\par"
    rb"\f4 \'c4\'e0\par\f5 \'8b\'40\'96\'a7}"
)


def test_rtf_bytes_decode_in_their_fonts_code_page() -> None:
    """\\'xx bytes in a Cyrillic, Greek, Central European (\\fcharset), \\cpg and Shift-JIS font decode
    in that font's code page; a group ending or \\plain returns to the document's cp1252."""
    from agent.extract.context import Context

    out = RtfText(Context("x", Limits())).read(_RTF_FONTS)
    assert "Café СТРОГО КОНФИДЕНЦИАЛЬНО é" in out
    assert "ΑΡΧΕΙΟé" in out
    assert "Přísně důvěrné" in out
    assert "Да" in out and "機密" in out


@pytest.mark.slow
def test_libreoffice_rtf_with_cyrillic_and_greek(tmp_path: Path) -> None:
    """An RTF LibreOffice writes from a DOCX in Russian, Greek and Czech reads back as the same words."""
    _need("soffice")
    import docx

    words = "СТРОГО КОНФИДЕНЦИАЛЬНО ΑΠΟΡΡΗΤΟ Přísně důvěrné"
    d = docx.Document()
    d.add_paragraph(words)
    d.save(tmp_path / "w.docx")
    assert words in texts(run(soffice_convert(tmp_path / "w.docx", "rtf", tmp_path)))


def test_deeply_nested_rtf_is_an_error_record(tmp_path: Path) -> None:
    """100k opening braces: an error record, not a stack overflow or a silent pass."""
    p = tmp_path / "deep.rtf"
    p.write_bytes(b"{\\rtf1 " + b"{" * 100_000 + b"x")
    assert errors(run(p)) == [(None, "malformed")]


def test_ppt_record_walk_ends_on_hostile_lengths() -> None:
    """Atoms with huge or zero lengths and endless containers cannot make the walk loop."""
    from agent.extract.context import Context

    ctx = Context("x", Limits())
    text = "card".encode("utf-16-le")
    stream = (
        struct.pack("<HHI", 0x000F, 0x03E8, 0xFFFFFFFF) + struct.pack("<HHI", 0, 0x0FA0, len(text)) + text
    )
    stream += struct.pack("<HHI", 0, 0x0FA8, 0xFFFFFFF0) + b"tail"
    assert list(ppt_texts(stream, ctx)) == ["card", "tail"]


def test_biff_header_walk_reads_codes_out_and_ends_on_hostile_lengths() -> None:
    """HEADER/FOOTER records lose their layout codes; a record claiming 65535 bytes ends the walk."""
    good = struct.pack("<HH", 0x0014, 3 + 14) + struct.pack("<HB", 14, 0) + b'&L&"Arial"&CHi'
    footer = "&CSTRICTLY CONFIDENTIAL &P".encode("utf-16-le")
    wide = struct.pack("<HH", 0x0015, 3 + len(footer)) + struct.pack("<HB", len(footer) // 2, 1) + footer
    hostile = struct.pack("<HH", 0x0014, 0xFFFF) + b"\x05\x00\x00abc"
    assert list(biff_headers(good + wide + hostile)) == ["Hi", "STRICTLY CONFIDENTIAL"]


@pytest.mark.parametrize(
    ("head", "name", "fmt"),
    [
        (b"7z\xbc\xaf\x27\x1c\x00\x04", "x.bin", "7z"),
        (b"Rar!\x1a\x07\x01\x00", "x", "rar"),
        (b"MSCF\x00\x00\x00\x00", "x", "cab"),
        (b"\x1f\x9d\x90", "x", "compress"),
        (b"{\\rtf1\\ansi hello}", "x.doc", "rtf"),
        (b"!BDN\x00\x00", "x.pst", "pst"),
        (b"\x7fELF\x02\x01", "x", "executable"),
        (b"ID3\x03\x00", "x.txt", "audio"),
        (b"\x00\x00\x00\x18ftypmp42", "x", "video"),
        (b"wOF2\x00\x01", "x", "font"),
        (b"MZ Holding annual report\n", "x.txt", "text"),  # weak magic in text is text
        (b"From a@b Mon Jan  1 00:00:00 2024\nFrom: a@b\nSubject: s\nReceived: x\n\nbody", "x", "mbox"),
    ],
)
def test_sniffing_by_content(head: bytes, name: str, fmt: str) -> None:
    """Formats are named from their bytes; a text file starting with a short magic stays text."""
    assert sniff_format(head, name) == fmt


def test_inventory_of_unread_and_no_text_files(tmp_path: Path) -> None:
    """Unknown bytes are ``unscanned``, an executable ``no_text_expected``, a text ``read`` with its size."""
    from agent.extract import Extractor
    from agent.models import FileRef

    files = {
        "blob.dat": bytes(range(256)) * 8,
        "tool": b"\x7fELF\x02\x01\x01" + bytes(200),
        "a.txt": b"hello",
    }
    got = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        inv: list = []
        list(Extractor().extract(FileRef(str(tmp_path / name)), inv))
        got[name] = [(r.member, r.format, r.chars, r.status) for r in inv]
    assert got == {
        "blob.dat": [(None, "binary", 0, "unscanned")],
        "tool": [(None, "executable", 0, "no_text_expected")],
        "a.txt": [(None, "text", 5, "read")],
    }


def test_unknown_binary_is_unsupported_and_iso_is_found_past_the_head(tmp_path: Path) -> None:
    """Random bytes are ``unsupported_format`` (never silent); an ISO is recognised at offset 32769."""
    blob = tmp_path / "blob.dat"
    blob.write_bytes(bytes(range(256)) * 64)
    assert errors(run(blob)) == [(None, "unsupported_format")]
    iso = io.BytesIO(b"\0" * 0x8001 + b"CD001" + b"\0" * 100)
    assert refine(sniff_format(iso.read(4096), "x"), iso) == "iso"
