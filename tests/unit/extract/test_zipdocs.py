"""EPUB, XPS/OpenXPS, Visio .vsdx and iWork read as documents, not as generic zips.

Where a real writer exists here, it writes the file: LibreOffice exports the EPUB, and the Visio
.vsdx is the Microsoft-Visio-written template that the ``vsdx`` package ships, edited with that
package. Nothing here writes XPS text (Ghostscript's xpswrite draws glyphs as outlines, LibreOffice
has no XPS export), so the XPS is built per ECMA-388 with an embedded DejaVu font and, when
Debian's libgxps-utils is installed, checked by an independent reader (xpstopdf + pdftotext) before
ours reads it. No tool writes iWork: its package is laid out as Pages writes it (``Index/*.iwa``,
``preview.jpg``/``QuickLook/Preview.pdf``, ``Data/``) around a real PDF preview.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from agent.extract.sniff import refine, sniff_format
from agent.models import ExtractError, Limits, TextChunk
from tests.unit.extract.builders import errors, pdf_bytes, run, soffice_convert, texts

CARD = "4532 0151 1283 0366"
MARKING = "STRICTLY CONFIDENTIAL"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _need(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} not installed")


def _fmt(p: Path) -> str:
    with p.open("rb") as f:
        return refine(sniff_format(f.read(4096), p.name), f)


@pytest.mark.slow
def test_libreoffice_epub_text_in_spine_order(tmp_path: Path) -> None:
    """LibreOffice's EPUB export of a three-chapter document: sniffed as epub, text in reading order,
    no markup, the package metadata read."""
    _need("soffice")
    import docx

    d = docx.Document()
    d.core_properties.title = "Quarterly customer review"
    for i, body in enumerate(("Opening remarks.", f"Classification: {MARKING}", f"Card {CARD} on file."), 1):
        d.add_heading(f"Chapter {i}", 1)
        d.add_paragraph(body)
        d.add_page_break()
    d.save(tmp_path / "book.docx")
    epub = soffice_convert(tmp_path / "book.docx", "epub", tmp_path)
    assert _fmt(epub) == "epub"
    items = run(epub)
    assert not errors(items)
    body = "".join(i.text for i in items if isinstance(i, TextChunk) and i.part == "body")
    assert body.index("Opening remarks") < body.index(MARKING) < body.index(CARD)
    assert "<" not in body and "xmlns" not in body
    meta = "".join(i.text for i in items if isinstance(i, TextChunk) and i.part == "metadata")
    assert "Quarterly customer review" in meta


def _epub(tmp_path: Path, encrypted: bool = False) -> Path:
    """An EPUB 3 whose spine order differs from the manifest order (per the OPF spec)."""
    p = tmp_path / "order.epub"
    opf = (
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>T</dc:title>'
        "<dc:rights>Internal use</dc:rights></metadata><manifest>"
        '<item id="b" href="text/b.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="a" href="text/a.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="c" href="text/c.xhtml" media-type="application/xhtml+xml"/>'
        '<item id="img" href="img/scan.png" media-type="image/png"/>'
        '</manifest><spine><itemref idref="a"/><itemref idref="b"/></spine></package>'
    )
    page = '<html xmlns="http://www.w3.org/1999/xhtml"><body><p>{}</p></body></html>'
    with zipfile.ZipFile(p, "w") as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        z.writestr(
            "META-INF/container.xml",
            '<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>",
        )
        z.writestr("OEBPS/content.opf", opf)
        z.writestr("OEBPS/text/a.xhtml", page.format("first in the spine"))
        z.writestr("OEBPS/text/b.xhtml", page.format("second in the spine"))
        z.writestr("OEBPS/text/c.xhtml", page.format(f"not in the spine {MARKING}"))
        z.writestr("OEBPS/img/scan.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
        if encrypted:
            z.writestr(
                "META-INF/encryption.xml",
                '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" '
                'xmlns:enc="http://www.w3.org/2001/04/xmlenc#"><enc:EncryptedData><enc:CipherData>'
                '<enc:CipherReference URI="OEBPS/img/scan.png"/></enc:CipherData></enc:EncryptedData>'
                "</encryption>",
            )
    return p


def test_epub_spine_order_and_documents_outside_it(tmp_path: Path) -> None:
    """Spine order wins over manifest order; a content document left out of the spine is read too;
    the picture goes to the image reader as a member; DRM-encrypted resources are reported."""
    items = run(_epub(tmp_path))
    body = texts(items)
    assert body.index("first in the spine") < body.index("second in the spine") < body.index(MARKING)
    assert "OEBPS/img/scan.png" in {i.member for i in items}
    locked = run(_epub(tmp_path, encrypted=True))
    assert (None, "encrypted") in errors(locked)
    assert "OEBPS/img/scan.png" not in {i.member for i in locked}


def _vsdx(tmp_path: Path) -> Path:
    vsdx = pytest.importorskip("vsdx")
    template = Path(vsdx.__file__).parent / "media" / "media.vsdx"
    out = tmp_path / "diagram.vsdx"
    with vsdx.VisioFile(str(template)) as vis:
        shapes = vis.pages[0].child_shapes
        shapes[0].text = f"{MARKING} network plan"
        shapes[1].text = f"Card {CARD}"
        vis.save_vsdx(str(out))
    return out


def test_visio_vsdx_shape_text_and_data(tmp_path: Path) -> None:
    """Shape text of a Visio-written diagram and its shape data (custom properties) are read; the
    card and marking are found; no XML markup or style names come through."""
    out = _vsdx(tmp_path)
    assert _fmt(out) == "vsdx"
    items = run(out)
    assert not errors(items)
    text = texts(items)
    assert f"{MARKING} network plan" in text and f"Card {CARD}" in text
    assert "my_property_label\tproperty value" in text  # shape data: label and value
    assert "<" not in text and "PinX" not in text
    assert {i.part for i in items if isinstance(i, TextChunk)} >= {"metadata", "page:1"}


def _glyphs(text: str, x: float, y: float) -> str:
    return (
        f'<Glyphs FontUri="/Resources/font.ttf" FontRenderingEmSize="14" OriginX="{x}" OriginY="{y}" '
        f'Fill="#FF000000" UnicodeString="{text}"/>'
    )


def _xps(tmp_path: Path, pages: list[list[tuple[str, float, float]]], order: list[int]) -> Path:
    """An XPS 1.0 package (ECMA-388): sequence -> document -> pages in ``order``, DejaVu embedded."""
    if not FONT.exists():
        pytest.skip("fonts-dejavu-core not installed")
    p = tmp_path / "doc.xps"
    ns = "http://schemas.microsoft.com/xps/2005/06"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="fdseq" '
            'ContentType="application/vnd.ms-package.xps-fixeddocumentsequence+xml"/>'
            '<Default Extension="fdoc" ContentType="application/vnd.ms-package.xps-fixeddocument+xml"/>'
            '<Default Extension="fpage" ContentType="application/vnd.ms-package.xps-fixedpage+xml"/>'
            '<Default Extension="ttf" ContentType="application/vnd.ms-opentype"/></Types>',
        )
        z.writestr(
            "_rels/.rels",
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            '<Relationship Id="R0" Type="http://schemas.microsoft.com/xps/2005/06/fixedrepresentation" '
            'Target="/FixedDocSeq.fdseq"/></Relationships>',
        )
        z.writestr(
            "FixedDocSeq.fdseq",
            f'<FixedDocumentSequence xmlns="{ns}"><DocumentReference Source="Documents/1/FixedDoc.fdoc"/>'
            "</FixedDocumentSequence>",
        )
        refs = "".join(f'<PageContent Source="Pages/{i}.fpage"/>' for i in order)
        z.writestr("Documents/1/FixedDoc.fdoc", f'<FixedDocument xmlns="{ns}">{refs}</FixedDocument>')
        for i, runs in enumerate(pages, start=1):
            body = "".join(_glyphs(t, x, y) for t, x, y in runs)
            z.writestr(
                f"Documents/1/Pages/{i}.fpage",
                f'<FixedPage xmlns="{ns}" Width="816" Height="1056" xml:lang="en-US">{body}</FixedPage>',
            )
            z.writestr(
                f"Documents/1/Pages/_rels/{i}.fpage.rels",
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="F" Type="http://schemas.microsoft.com/xps/2005/06/required-resource" '
                'Target="/Resources/font.ttf"/></Relationships>',
            )
        z.write(FONT, "Resources/font.ttf")
    return p


def test_xps_glyph_text_in_document_order(tmp_path: Path) -> None:
    """Glyph runs on one baseline form a line (a card number split over two runs stays whole), pages
    come in the FixedDocument's order, not the part names' order; an independent reader (libgxps)
    renders the same words when it is installed."""
    pages = [
        [("second page", 96, 100)],
        [(MARKING, 96, 100), ("4532 0151", 96, 130), ("1283 0366", 190, 130)],
    ]
    p = _xps(tmp_path, pages, order=[2, 1])
    assert _fmt(p) == "xps"
    items = run(p)
    assert not errors(items)
    text = texts(items)
    assert f"{MARKING}\n{CARD}" in text
    assert text.index(MARKING) < text.index("second page")
    if shutil.which("xpstopdf") and shutil.which("pdftotext"):
        subprocess.run(
            ["xpstopdf", str(p), str(tmp_path / "x.pdf")], check=True, capture_output=True, timeout=60
        )
        seen = subprocess.run(
            ["pdftotext", str(tmp_path / "x.pdf"), "-"], capture_output=True, text=True
        ).stdout
        assert MARKING in seen and "second page" in seen


def _iwork(tmp_path: Path, with_preview: bool = True) -> Path:
    p = tmp_path / "report.pages"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("Index/Document.iwa", b"\x00\x1d\x00\x00" + b"\x08\x01" * 20)
        z.writestr("Index/DocumentStylesheet.iwa", b"\x00\x10\x00\x00" + b"\x08\x02" * 8)
        z.writestr("Metadata/Properties.plist", b"bplist00\xd0\x08\x00\x00\x00\x00\x00\x00\x01\x01")
        z.writestr("Metadata/DocumentIdentifier", "5B0C5C1E-3C1A-4B7B-9F7E-2D8F2B7A9C11")
        if with_preview:
            z.writestr("QuickLook/Preview.pdf", pdf_bytes([f"{MARKING} board pack", f"Card {CARD}"]))
        z.writestr("Data/attachment-12.pdf", pdf_bytes(["Pasted statement IBAN page"]))
    return p


def test_iwork_preview_and_data_read_iwa_reported_once(tmp_path: Path) -> None:
    """An iWork package: the preview PDF and the pasted PDF in Data/ are read; the .iwa text is one
    unsupported_format error for the document (not one per part), no noise per member."""
    p = _iwork(tmp_path)
    assert _fmt(p) == "iwork"
    items = run(p)
    text = texts(items)
    assert MARKING in text and CARD in text and "Pasted statement" in text
    errs = [i for i in items if isinstance(i, ExtractError)]
    assert [(e.member, e.reason) for e in errs] == [(None, "unsupported_format")]
    assert "2 .iwa parts" in errs[0].detail
    bare = run(_iwork(tmp_path, with_preview=False))
    assert [(m, r) for m, r in errors(bare)] == [(None, "unsupported_format")]


def test_zip_document_bomb_is_refused(tmp_path: Path) -> None:
    """An EPUB with a 40 MB chapter of one repeated byte is refused by the package ratio check."""
    p = tmp_path / "bomb.epub"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        z.writestr("OEBPS/huge.xhtml", b"a" * (40 * 1024 * 1024))
    assert errors(run(p, Limits(max_ratio=100))) == [(None, "limit_ratio")]


_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
    '<!ENTITY a "aaaaaaaaaa">'
    + "".join(f'<!ENTITY {c} "{("&" + p + ";") * 10}">' for p, c in zip("abcdefgh", "bcdefghi", strict=True))
    + "]>"
)


def test_entity_bombs_and_external_entities_are_not_expanded(tmp_path: Path) -> None:
    """A billion-laughs DTD and an external entity in an XPS page and a Visio page (libxml2 expands
    internal entities in attribute values even with resolve_entities=False): the document is refused
    as malformed, within the time limit, with no 'a' run and no /etc/passwd in any text."""
    ns = "http://schemas.microsoft.com/xps/2005/06"
    xps = tmp_path / "bomb.xps"
    with zipfile.ZipFile(xps, "w") as z:
        z.writestr("FixedDocumentSequence.fdseq", f'<FixedDocumentSequence xmlns="{ns}"/>')
        z.writestr(
            "Documents/1/Pages/1.fpage",
            _LAUGHS + f'<FixedPage xmlns="{ns}"><Glyphs OriginY="1" UnicodeString="{MARKING} &i; &xxe;"/>'
            "</FixedPage>",
        )
    vsdx = tmp_path / "bomb.vsdx"
    with zipfile.ZipFile(vsdx, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("visio/document.xml", "<VisioDocument/>")
        z.writestr(
            "visio/pages/page1.xml",
            _LAUGHS + f"<PageContents><Shapes><Shape><Text>{MARKING} &i; &xxe;</Text></Shape></Shapes>"
            "</PageContents>",
        )
    for p in (xps, vsdx):
        items = run(p, Limits(timeout_seconds=20))
        assert errors(items) == [(None, "malformed")], p.name
        assert "aaaaaaaaaa" not in texts(items) and "root:" not in texts(items), p.name
