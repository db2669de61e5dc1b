"""File writers for the held-out-style evaluation set: one document model, many container formats.

A :class:`Doc` is rendered into text, CSV, Markdown, logs, Office (docx/xlsx/pptx), OpenDocument
(odt/ods, written by hand: three XML parts in a zip), a one-page PDF (written by hand, WinAnsi text),
and wrapped in mail (eml with attachments), tar.gz and nested zip. Deterministic for a given input.
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from xml.sax.saxutils import escape

#: A fixed timestamp for archive members and document metadata (the set is deterministic).
EPOCH = (2024, 5, 6, 7, 8, 10)


@dataclass
class Doc:
    """A business document: optional page header/footer, a title, body lines and one table per sheet."""

    title: str
    lines: list[str] = field(default_factory=list)
    sheets: dict[str, list[list[str]]] = field(default_factory=dict)
    header: str = ""
    footer: str = ""
    sep: str = " | "  # table cell separator in text renderings

    def text(self) -> str:
        out = [self.header, self.title, ""] if self.header else [self.title, ""]
        out += self.lines
        for name, rows in self.sheets.items():
            if len(self.sheets) > 1:
                out += ["", name]
            out += [self.sep.join(r) for r in rows]
        if self.footer:
            out += ["", self.footer]
        return "\n".join(out).strip() + "\n"


def _csv(doc: Doc) -> bytes:
    rows = max(doc.sheets.values(), key=len)  # a CSV holds one sheet: the data, not the cover
    delim = ";" if any("," in c for r in rows for c in r) else ","
    return ("\n".join(delim.join(r) for r in rows) + "\n").encode("utf-8")


def _md(doc: Doc) -> bytes:
    out = [f"_{doc.header}_", ""] if doc.header else []
    out += [f"# {doc.title}", "", *doc.lines]
    for name, rows in doc.sheets.items():
        out += ["", f"## {name}", "", "| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        out += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    if doc.footer:
        out += ["", "---", doc.footer]
    return ("\n".join(out) + "\n").encode("utf-8")


def _docx(doc: Doc) -> bytes:
    import docx

    d = docx.Document()
    d.core_properties.title = doc.title
    sec = d.sections[0]
    if doc.header:
        sec.header.paragraphs[0].text = doc.header
    if doc.footer:
        sec.footer.paragraphs[0].text = doc.footer
    d.add_heading(doc.title, level=1)
    for line in doc.lines:
        d.add_paragraph(line)
    for rows in doc.sheets.values():
        t = d.add_table(rows=len(rows), cols=len(rows[0]))
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                t.cell(i, j).text = cell
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _xlsx(doc: Doc) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    cover = wb.create_sheet("Info")
    for line in ([doc.header] if doc.header else []) + [doc.title] + doc.lines[:6]:
        cover.append([line])
    for name, rows in doc.sheets.items():
        ws = wb.create_sheet(name[:31])
        for row in rows:
            ws.append(row)
    wb.properties.title = doc.title
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _pptx(doc: Doc) -> bytes:
    import pptx
    from pptx.util import Inches

    prs = pptx.Presentation()
    s = prs.slides.add_slide(prs.slide_layouts[0])
    s.shapes.title.text = doc.header or doc.title
    s.placeholders[1].text = doc.title if doc.header else (doc.lines[0] if doc.lines else "")
    s = prs.slides.add_slide(prs.slide_layouts[1])
    s.shapes.title.text = doc.title
    s.placeholders[1].text = "\n".join(doc.lines) or "-"
    for rows in doc.sheets.values():
        s = prs.slides.add_slide(prs.slide_layouts[5])
        s.shapes.title.text = doc.title
        shape = s.shapes.add_table(len(rows), len(rows[0]), Inches(0.3), Inches(1.5), Inches(9), Inches(4))
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                shape.table.cell(i, j).text = cell
    if doc.footer:
        s.notes_slide.notes_text_frame.text = doc.footer
        box = s.shapes.add_textbox(Inches(0.3), Inches(6.8), Inches(9), Inches(0.4))
        box.text_frame.text = doc.footer
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" office:version="1.2"'
)


def _odf(body: str, spreadsheet: bool) -> bytes:
    mime = "application/vnd.oasis.opendocument." + ("spreadsheet" if spreadsheet else "text")
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODF_NS}><office:body>'
        f"<office:{'spreadsheet' if spreadsheet else 'text'}>{body}"
        f"</office:{'spreadsheet' if spreadsheet else 'text'}></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{mime}"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype", EPOCH), mime, compress_type=zipfile.ZIP_STORED)
        zf.writestr(zipfile.ZipInfo("META-INF/manifest.xml", EPOCH), manifest, zipfile.ZIP_DEFLATED)
        zf.writestr(zipfile.ZipInfo("content.xml", EPOCH), content, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _odt(doc: Doc) -> bytes:
    lines = doc.text().splitlines()
    return _odf("".join(f"<text:p>{escape(line)}</text:p>" for line in lines), spreadsheet=False)


def _ods(doc: Doc) -> bytes:
    sheets = doc.sheets or {"Sheet1": [[line] for line in doc.text().splitlines()]}
    body = ""
    for name, rows in sheets.items():
        body += f'<table:table table:name="{escape(name)}">'
        for row in rows:
            cell = '<table:table-cell office:value-type="string"><text:p>{}</text:p></table:table-cell>'
            cells = "".join(cell.format(escape(c)) for c in row)
            body += f"<table:table-row>{cells}</table:table-row>"
        body += "</table:table>"
    return _odf(body, spreadsheet=True)


_PDF_SUBST = str.maketrans({"–": "-", "—": "-", "’": "'", "“": '"', "”": '"', "…": "...", "€": "EUR"})


def _pdf(doc: Doc) -> bytes:
    """A one-page PDF (Helvetica, WinAnsi) whose text layer is the document text, one line per row."""
    lines = doc.text().translate(_PDF_SUBST).splitlines()[:60]
    ops = ["BT", "/F1 9 Tf", "11 TL", "40 800 Td"]
    for line in lines:
        raw = (
            line.encode("cp1252", "replace")
            .replace(b"\\", b"\\\\")
            .replace(b"(", b"\\(")
            .replace(b")", b"\\)")
        )
        ops.append("(" + raw.decode("latin-1") + ") Tj T*")
    ops.append("ET")
    stream = "\n".join(ops).encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _log(doc: Doc) -> bytes:
    stamp = "2025-03-14T09:{:02d}:{:02d}Z INFO  "
    lines = doc.text().splitlines()
    return (
        "\n".join(stamp.format(i // 60 % 60, i % 60) + line for i, line in enumerate(lines) if line) + "\n"
    ).encode()


#: Renderers of a Doc by file extension.
RENDER: dict[str, Callable[[Doc], bytes]] = {
    "txt": lambda d: d.text().encode("utf-8"),
    "md": _md,
    "log": _log,
    "csv": _csv,
    "docx": _docx,
    "xlsx": _xlsx,
    "pptx": _pptx,
    "odt": _odt,
    "ods": _ods,
    "pdf": _pdf,
}
#: Formats that need a table (sheets) to carry the content.
TABLE_ONLY = frozenset({"csv"})


def eml(subject: str, body: str, attachments: list[tuple[str, bytes]], lang: str = "en") -> bytes:
    """A multipart mail with a text body and the given attachments."""
    msg = EmailMessage()
    msg["From"] = "Back Office <backoffice@example-bank.test>"
    msg["To"] = "Contractor <ext.partner@example-partner.test>"
    msg["Subject"] = subject
    msg["Date"] = "Tue, 11 Mar 2025 10:15:00 +0100"
    msg["Content-Language"] = lang
    msg.set_content(body)
    for name, data in attachments:
        maintype, subtype = (
            ("text", "plain") if name.endswith((".txt", ".csv")) else ("application", "octet-stream")
        )
        if maintype == "text":
            msg.add_attachment(data.decode("utf-8"), subtype=subtype, filename=name)
        else:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(zipfile.ZipInfo(name, EPOCH), data, zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def tar_gz_bytes(members: list[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tf:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 1714979290, 0o644
            tf.addfile(info, io.BytesIO(data))
    import gzip

    return gzip.compress(raw.getvalue(), mtime=0)


def write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
