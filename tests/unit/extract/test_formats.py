"""Each supported format, built for real, yields its text in the right parts and members."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
from pathlib import Path

from agent.extract import sniff_format
from agent.models import TextChunk
from tests.unit.extract.builders import (
    docx_bytes,
    eml_bytes,
    errors,
    odt_bytes,
    pdf_bytes,
    pptx_bytes,
    run,
    texts,
    xlsx_bytes,
    zip_bytes,
)


def _chunks(items: list) -> list[TextChunk]:
    return [i for i in items if isinstance(i, TextChunk)]


def test_docx_parts(tmp_path: Path) -> None:
    """DOCX body, table rows (tabular), header, footer and title metadata land in their parts."""
    p = tmp_path / "payroll.docx"
    p.write_bytes(docx_bytes())
    items = run(p)
    assert errors(items) == []
    by_part = {(c.part, c.tabular): c.text for c in _chunks(items)}
    assert "Jane Roe" in by_part[("body", False)]
    assert "Jane Roe\tDE89370400440532013000" in by_part[("body", True)]
    assert by_part[("header", False)] == "CONFIDENTIAL header"
    assert by_part[("footer", False)] == "footer page marker"
    assert "Quarterly payroll" in by_part[("metadata", False)]
    offsets = [c.offset for c in _chunks(items)]
    assert offsets == sorted(set(offsets)), "parts of one member never share a position"
    assert [c.final for c in _chunks(items)] == [False] * (len(offsets) - 1) + [True]


def test_xlsx_one_tabular_chunk_per_sheet(tmp_path: Path) -> None:
    """XLSX yields one tabular chunk per sheet named sheet:<name>, cells joined by tabs."""
    p = tmp_path / "staff.xlsx"
    p.write_bytes(xlsx_bytes())
    chunks = _chunks(run(p))
    sheets = {c.part: c for c in chunks}
    assert (
        sheets["sheet:Staff"].tabular
        and sheets["sheet:Staff"].text.splitlines()[1] == "John Doe\t4111111111111111"
    )
    assert sheets["sheet:Other"].text == "second sheet text"


def test_pptx_slides_tables_notes(tmp_path: Path) -> None:
    """PPTX slide text, tables (tabular) and speaker notes (part=notes) are all extracted."""
    p = tmp_path / "plan.pptx"
    p.write_bytes(pptx_bytes())
    chunks = _chunks(run(p))
    body = "\n".join(c.text for c in chunks if c.part == "body")
    assert "Codename BLUEFALCON" in body and "budget\t1200000" in body
    assert [c.text for c in chunks if c.part == "notes"] == ["speaker notes mention merger"]


def test_odt_paragraphs(tmp_path: Path) -> None:
    """ODT paragraphs come from content.xml, one per line."""
    p = tmp_path / "memo.odt"
    p.write_bytes(odt_bytes(["first para", "second para"]))
    assert texts(run(p)) == "first para\nsecond para"


def test_pdf_text_layer_all_pages(tmp_path: Path) -> None:
    """Every page's text layer of a hand-built PDF is extracted, in order."""
    p = tmp_path / "doc.pdf"
    p.write_bytes(pdf_bytes(["Page one ALPHA", "Page two (BETA)"]))
    items = run(p)
    assert errors(items) == []
    assert texts(items) == "Page one ALPHA\nPage two (BETA)\n"


def test_pdf_with_user_password_is_encrypted_error(tmp_path: Path) -> None:
    """A PDF needing a user password yields ExtractError(encrypted) and no text."""
    p = tmp_path / "locked.pdf"
    p.write_bytes(pdf_bytes(["hidden"], encrypt_with="s3cret"))
    items = run(p)
    assert errors(items) == [(None, "encrypted")] and texts(items) == ""


def test_pdf_with_empty_user_password_is_read(tmp_path: Path) -> None:
    """A PDF encrypted with an empty user password (owner-only protection) is decrypted and read."""
    p = tmp_path / "owner-only.pdf"
    p.write_bytes(pdf_bytes(["owner protected text"], encrypt_with=""))
    items = run(p)
    assert errors(items) == [] and "owner protected text" in texts(items)


def test_eml_headers_bodies_and_attachments(tmp_path: Path) -> None:
    """EML: headers as metadata, QP plain and stripped HTML bodies, base64/QP/DOCX attachments as members."""
    p = tmp_path / "mail.eml"
    p.write_bytes(eml_bytes())
    items = run(p)
    assert errors(items) == []
    chunks = _chunks(items)
    top = [c for c in chunks if c.member is None]
    assert any(c.part == "metadata" and "Subject: Quarterly numbers" in c.text for c in top)
    bodies = "\n".join(c.text for c in top if c.part == "body")
    assert "Plain body" in bodies and "HTML body with bold text" in bodies
    assert "<b>" not in bodies and "x()" not in bodies
    for m in {c.member for c in chunks}:  # final marks only the last chunk of each member
        assert [c.final for c in chunks if c.member == m][-1] is True
        assert sum(c.final for c in chunks if c.member == m) == 1
    members = {c.member: c.text for c in chunks if c.member and c.part == "body" and not c.tabular}
    assert "AGENT-ORANGE" in members["notes.txt"]
    assert "café BRAVO-7" in members["qp.txt"]
    assert any(c.member == "payroll.docx" and "DE89370400440532013000" in c.text for c in chunks)


def test_nested_archive_member_names(tmp_path: Path) -> None:
    """Members are named inner/path, nested ones outer!inner; path is always the file on disk."""
    inner = zip_bytes({"deeper/secret.txt": b"nested value ZULU\n"})
    outer = zip_bytes({"docs/readme.txt": b"top level text\n", "inner.zip": inner, "d/x.docx": docx_bytes()})
    p = tmp_path / "outer.zip"
    p.write_bytes(outer)
    items = run(p)
    assert errors(items) == []
    chunks = _chunks(items)
    assert {c.path for c in chunks} == {str(p)}
    names = {c.member for c in chunks}
    assert {"docs/readme.txt", "inner.zip!deeper/secret.txt", "d/x.docx"} <= names
    assert "nested value ZULU" in texts(items)


def test_tar_and_compressed_streams(tmp_path: Path) -> None:
    """tar, tar.gz/bz2/xz and single gzip/bz2/xz streams are all opened; tar members keep their names."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"tar member text KILO\n"
        ti = tarfile.TarInfo("logs/app.log")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    tar = buf.getvalue()
    cases = {
        "a.tar": tar,
        "a.tar.gz": gzip.compress(tar),
        "a.tar.bz2": bz2.compress(tar),
        "a.tar.xz": lzma.compress(tar),
        "b.txt.gz": gzip.compress(b"gz text LIMA\n"),
        "b.txt.bz2": bz2.compress(b"bz text LIMA\n"),
        "b.txt.xz": lzma.compress(b"xz text LIMA\n"),
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        items = run(p)
        assert errors(items) == [], name
        chunks = _chunks(items)
        if ".tar" in name:
            assert [(c.member, c.text) for c in chunks] == [("logs/app.log", "tar member text KILO\n")], name
        else:
            assert [(c.member, c.text[3:]) for c in chunks] == [("b.txt", "text LIMA\n")], name


def test_csv_is_tabular_tab_joined(tmp_path: Path) -> None:
    """CSV records become tab-joined lines (quoted commas and newlines kept inside one cell)."""
    p = tmp_path / "people.csv"
    p.write_bytes(b'name,note,card\n"Doe, John","two\nlines",4111111111111111\n"a\tb","c\rd",e\n,,\n')
    chunks = _chunks(run(p))
    assert len(chunks) == 1 and chunks[0].tabular
    assert chunks[0].text == ("name\tnote\tcard\nDoe, John\ttwo lines\t4111111111111111\na b\tc d\te\n\t\t\n")


def test_sniff_uses_magic_not_extension() -> None:
    """Formats are recognised from content: a PDF named .txt is a PDF, a zip with word/ is DOCX."""
    assert sniff_format(pdf_bytes(["x"])[:512], "notes.txt") == "pdf"
    assert sniff_format(b"\x1f\x8b\x08\x00", "data.bin") == "gzip"
    assert sniff_format(b"plain words\n", "x.log") == "text"
    assert sniff_format(b"a,b\n1,2\n", "x.csv") == "csv"
    assert sniff_format(b"\x00\x01\x02\x03\xff" * 50, "x.txt") == "binary"
    assert sniff_format("h\u00e9llo".encode("utf-16"), "x.txt") == "text"
    assert sniff_format(b"", "x.docx") == "empty"
    assert sniff_format(b"Received: from x\nSubject: y\nFrom: a\n\nbody", "noext") == "eml"


def test_ods_sheets(tmp_path: Path) -> None:
    """ODS tables become tabular sheet:<name> chunks from content.xml."""
    import zipfile

    ns = (
        'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    row = "<table:table-row>{}</table:table-row>"
    cell = "<table:table-cell><text:p>{}</text:p></table:table-cell>"
    rows = row.format(cell.format("name") + cell.format("iban")) + row.format(
        cell.format("Jane Roe") + cell.format("GB82WEST12345698765432")
    )
    xml = f'<office:document-content {ns}><office:body><office:spreadsheet><table:table table:name="Pay">'
    xml += rows + "</table:table></office:spreadsheet></office:body></office:document-content>"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        zf.writestr("content.xml", xml)
    p = tmp_path / "pay.ods"
    p.write_bytes(buf.getvalue())
    chunks = _chunks(run(p))
    assert [(c.part, c.tabular, c.text) for c in chunks] == [
        ("sheet:Pay", True, "name\tiban\nJane Roe\tGB82WEST12345698765432")
    ]


def test_utf16_without_bom(tmp_path: Path) -> None:
    """UTF-16 LE text without a BOM is recognised by its NUL pattern and decoded."""
    p = tmp_path / "w.txt"
    p.write_bytes("plain words from Windows\r\n".encode("utf-16-le"))
    assert texts(run(p)) == "plain words from Windows\r\n"


def test_garbage_msg_is_malformed(tmp_path: Path) -> None:
    """An OLE-looking .msg that extract-msg rejects yields malformed, never an exception."""
    p = tmp_path / "mail.msg"
    p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert errors(run(p)) == [(None, "malformed")]


def test_office_text_is_chunked_like_plain_text(tmp_path: Path) -> None:
    """A long DOCX body is split by the same chunker: bounded size, overlap, exact offsets and lines."""
    import docx

    from agent.models import Limits

    d = docx.Document()
    paras = [f"paragraph {i} with reference REF-{i:04d}" for i in range(200)]
    for t in paras:
        d.add_paragraph(t)
    p = tmp_path / "long.docx"
    d.save(str(p))
    chunks = [c for c in _chunks(run(p, Limits(chunk_chars=500, chunk_overlap=60))) if c.part == "body"]
    full = "\n".join(paras)
    assert len(chunks) > 10 and all(len(c.text) <= 500 for c in chunks)
    base = chunks[0].offset
    for c in chunks:
        assert full[c.offset - base : c.offset - base + len(c.text)] == c.text
        assert c.line - chunks[0].line == full.count("\n", 0, c.offset - base)
