"""Builders of real test files (PDF by hand, Office via their libraries, mail via email stdlib)."""

from __future__ import annotations

import io
import subprocess
import zipfile
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from agent.extract import Extractor
from agent.models import ExtractError, FileRef, Limits, TextChunk


def raw_pdf(objs: list[bytes], version: str = "1.4") -> bytes:
    """A PDF of the given object bodies (object 1 is the catalog), xref offsets computed exactly."""
    out = bytearray(f"%PDF-{version}\n%\xe2\xe3\xcf\xd3\n".encode("latin-1"))
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def pdf_stream(data: bytes, extra: bytes = b"") -> bytes:
    """A stream object body (``extra``: more dictionary entries, e.g. ``/Filter /FlateDecode``)."""
    return b"<< /Length %d %s >>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def pdf_bytes(pages: list[str], encrypt_with: str | None = None) -> bytes:
    """A minimal valid PDF with one Helvetica text line per page."""
    objs: list[bytes] = []
    n = len(pages)
    page_ids = [4 + 2 * i for i in range(n)]
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, text in enumerate(pages):
        esc = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({esc}) Tj ET".encode("latin-1")
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        objs.append(pdf_stream(stream))
    data = raw_pdf(objs)
    if encrypt_with is not None:
        from pypdf import PdfReader, PdfWriter

        w = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
        w.encrypt(user_password=encrypt_with, owner_password="owner-" + encrypt_with, algorithm="AES-128")
        buf = io.BytesIO()
        w.write(buf)
        data = buf.getvalue()
    return data


def docx_bytes() -> bytes:
    import docx

    d = docx.Document()
    d.core_properties.title = "Quarterly payroll"
    d.add_paragraph("Body paragraph with employee Jane Roe.")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "name", "iban"
    t.cell(1, 0).text, t.cell(1, 1).text = "Jane Roe", "DE89370400440532013000"
    d.sections[0].header.paragraphs[0].text = "CONFIDENTIAL header"
    d.sections[0].footer.paragraphs[0].text = "footer page marker"
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def xlsx_bytes() -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Staff"
    ws.append(["name", "card"])
    ws.append(["John Doe", "4111111111111111"])
    ws2 = wb.create_sheet("Other")
    ws2["A1"] = "second sheet text"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def pptx_bytes() -> bytes:
    import pptx
    from pptx.util import Inches

    prs = pptx.Presentation()
    slide = prs.slides.add_slide(prs.slide_layouts[1])
    slide.shapes.title.text = "Launch plan"
    slide.placeholders[1].text = "Codename BLUEFALCON"
    tbl = slide.shapes.add_table(2, 2, Inches(1), Inches(4), Inches(4), Inches(1)).table
    tbl.cell(0, 0).text, tbl.cell(0, 1).text = "k", "v"
    tbl.cell(1, 0).text, tbl.cell(1, 1).text = "budget", "1200000"
    slide.notes_slide.notes_text_frame.text = "speaker notes mention merger"
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def odt_bytes(paragraphs: list[str]) -> bytes:
    ns = 'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" ' + (
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
    )
    body = "".join(f"<text:p>{p}</text:p>" for p in paragraphs)
    content = f'<?xml version="1.0"?><office:document-content {ns}><office:body><office:text>{body}'
    content += "</office:text></office:body></office:document-content>"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
        zf.writestr("content.xml", content)
    return buf.getvalue()


def eml_bytes() -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "Quarterly numbers"
    msg["From"] = "alice@example.com"
    msg["To"] = "bob@example.org"
    msg.set_content("Plain body: see attachments.\n", cte="quoted-printable")
    msg.add_alternative(
        "<html><body><p>HTML body with <b>bold</b> text</p><script>x()</script></body></html>",
        subtype="html",
    )
    msg.add_attachment(
        b"attached base64 text AGENT-ORANGE\n",
        maintype="text",
        subtype="plain",
        filename="notes.txt",
        cte="base64",
    )
    msg.add_attachment(
        "qp attachment caf\u00e9 BRAVO-7\n".encode(),
        maintype="application",
        subtype="octet-stream",
        filename="qp.txt",
        cte="quoted-printable",
    )
    msg.add_attachment(docx_bytes(), maintype="application", subtype="octet-stream", filename="payroll.docx")
    return bytes(msg)


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def run(
    path: Path | str, limits: Limits | None = None, root: str | None = None
) -> list[TextChunk | ExtractError]:
    """Extract one file on disk and collect everything it yields."""
    return list(Extractor(limits or Limits()).extract(FileRef(path=str(path), root=root)))


def texts(items: list[TextChunk | ExtractError]) -> str:
    return "\n".join(i.text for i in items if isinstance(i, TextChunk))


def errors(items: list[TextChunk | ExtractError]) -> list[tuple[str | None, str]]:
    return [(i.member, i.reason) for i in items if isinstance(i, ExtractError)]


def nested_zip(leaf: bytes, fanout: int = 16, levels: int = 3) -> bytes:
    """``fanout`` copies of ``leaf`` per zip, nested ``levels`` deep (16x16x16: 4,096 leaves, ~50 KB)."""
    data, name = leaf, "leaf.txt"
    for level in range(levels):
        # the middle levels are stored: copies of an already deflated zip repeat byte for byte, so the
        # outer deflate (32 KB window) folds them away
        mode = zipfile.ZIP_STORED if 0 < level < levels - 1 else zipfile.ZIP_DEFLATED
        data = zip_bytes({f"{i:02d}-{name}": data for i in range(fanout)}, compression=mode)
        name = f"level{level + 1}.zip"
    return data


FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


def render_text_image(
    lines: list[str], dpi: int = 200, font: str = "DejaVuSans.ttf", points: float = 12, skew: float = 0.0
) -> Any:
    """A white page (8.27 in wide, as A4) with ``lines`` printed in black, as a scanner would give it.

    ``skew``: degrees the sheet is rotated by. Needs Pillow and a DejaVu TTF (Debian fonts-dejavu-core).
    """
    from PIL import Image, ImageDraw, ImageFont

    px = round(points * dpi / 72)
    face = ImageFont.truetype(str(FONT_DIR / font), px)
    width = round(8.27 * dpi)
    height = round(px * 1.8 * (len(lines) + 4))
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    for i, line in enumerate(lines):
        draw.text((round(0.8 * dpi), round(px * 1.8 * (i + 2))), line, font=face, fill=0)
    if skew:
        page = page.rotate(skew, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    return page


def statement_lines(seed: int = 7) -> list[str]:
    """A fake customer statement: a marking, a Luhn-valid card, an IBAN with its holder (all generated)."""
    import random

    from agent.demo import group4, iban, luhn_complete

    rng = random.Random(seed)
    card = group4(luhn_complete("45", 16, rng))
    account = group4(iban("DE", "".join(rng.choice("0123456789") for _ in range(18))))
    return [
        "STRICTLY CONFIDENTIAL",
        "Customer statement, March 2026",
        "Account holder: Lena Brunner",
        f"IBAN: {account}",
        f"Card number: {card}",
        "Balance carried forward: 12,480.00 EUR",
    ]


def many_entry_zip(path: Path, n: int) -> None:
    """A valid zip of ``n`` empty stored members, written record by record (zipfile would hold n ZipInfo)."""
    import struct
    import zlib

    crc = zlib.crc32(b"")
    central = bytearray()
    with open(path, "wb") as out:
        for i in range(n):
            name = f"{i:07d}".encode()
            offset = out.tell()
            out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, crc, 0, 0, len(name), 0) + name)
            central += struct.pack(
                "<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 0, 0, 0, crc, 0, 0, len(name), 0, 0, 0, 0, 0, offset
            )
            central += name
        cd_at = out.tell()
        out.write(central)
        count = min(n, 0xFFFF)  # a plain end record (no zip64): the count field is 16 bits
        out.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), cd_at, 0))


def soffice_convert(src: Path, fmt: str, profile: Path) -> Path:
    """``src`` converted by Debian's LibreOffice to ``fmt`` beside it (private profile under ``profile``)."""
    subprocess.run(
        ["soffice", f"-env:UserInstallation=file://{profile}/lo", "--headless", "--convert-to", fmt,
         "--outdir", str(src.parent), str(src)],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    return src.with_suffix("." + fmt)
