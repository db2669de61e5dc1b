"""DOCX, PPTX (python-docx, python-pptx) and ODT/ODS (content.xml); XLSX lives in agent.extract.xlsx.

Each document part becomes its own chunk stream (body, header, footer, notes, comments,
sheet:<name>, metadata); tables become tabular text. Files embedded in the package
(``*/embeddings/*``, e.g. an Excel sheet in a slide) are handed back to the dispatcher as members.

For DOCX the library opens the package and define what the text is, but the text itself
is read from the XML with lxml: their per-paragraph and per-cell object models were most of the
extraction time. The output is the libraries' own (see the comments at each reader).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from lxml import etree

from agent.extract.archive import join_member, zip_members
from agent.extract.context import Context, Item, Recurse


def _cell(v: Any) -> str:
    return "" if v is None else str(v).replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _rows_text(rows: Iterable[Iterable[Any]]) -> str:
    out = []
    for row in rows:
        cells = [_cell(v) for v in row]
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            out.append("\t".join(cells))
    return "\n".join(out)


def metadata_text(props: Any) -> str:
    """The document properties that hold free text (title, subject, keywords...), one line each."""
    lines = []
    for attr in ("title", "subject", "keywords", "comments", "description", "category"):
        v = getattr(props, attr, None)
        if isinstance(v, str) and v.strip():
            lines.append(f"{attr.capitalize()}: {v.strip()}")
    return "\n".join(lines)


# WordprocessingML text, read straight from the XML python-docx has already parsed. python-docx's
# ``Paragraph.text`` evaluates two XPaths per paragraph and one per run, which made DOCX extraction
# several times slower than the parse itself; one compiled XPath per container returns all of it.
# A run is its w:t text (the leading text node) plus tab, line-break, carriage-return and hyphen
# chars, as in python-docx. Unlike python-docx, which reads only a paragraph's direct runs, every
# run inside a paragraph counts: runs wrapped in tracked insertions, content controls (w:sdt),
# smart tags, simple fields and custom XML, the w:delText of tracked deletions, and the paragraphs
# of text boxes (a line each). A leak hidden in a form field, a text box or a tracked change is
# still a leak. Block-level content controls around paragraphs and tables count as blocks.
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_W_P, _W_TBL, _W_COMMENT, _W_BR, _W_TYPE = (_W + t for t in ("p", "tbl", "comment", "br", "type"))
_W_SDT_CONTENT = _W + "sdtContent"
_RUN_CHARS = {_W + "tab": "\t", _W + "ptab": "\t", _W + "cr": "\n", _W + "noBreakHyphen": "-"}
_W_R, _W_SDT = _W + "r", _W + "sdt"
#: Run children that carry text (their first text node) or stand for a character (_RUN_CHARS, w:br).
_RUN_TEXT = frozenset(_W + t for t in ("t", "delText"))
_RUN_PARTS = (*_RUN_TEXT, _W_BR, *_RUN_CHARS)


def _direct_blocks(element: Any) -> Iterator[Any]:
    """The w:p and w:tbl children of ``element``, and those of its block-level content controls."""
    for child in element:
        if child.tag == _W_SDT:
            for content in child.iterchildren(_W_SDT_CONTENT):
                yield from (c for c in content if c.tag in (_W_P, _W_TBL))
        elif child.tag in (_W_P, _W_TBL):
            yield child


def _block_nodes(element: Any) -> Iterator[Any]:
    """In document order: each block of ``element`` (w:p, w:tbl); inside a block paragraph, the
    paragraphs nested in it (text boxes) and its runs' content (a w:t's or w:delText's first text
    node as a str, the w:br, w:cr, w:tab... elements). One walk of the tree: the XPath union of
    these paths it replaces merged its node sets in quadratic time (14 s for a DOCX of 4 MB of text)."""
    for block in _direct_blocks(element):
        yield block
        if block.tag != _W_P:
            continue
        for node in block.iterdescendants(_W_P, *_RUN_PARTS):
            if node.tag == _W_P:
                yield node
            elif node.getparent().tag == _W_R:
                if node.tag not in _RUN_TEXT:
                    yield node
                elif node.text:  # the first child node, when it is text
                    yield node.text


def _is_block(node: Any, element: Any) -> bool:
    """Whether a w:p or w:tbl is a block of ``element``: its child, or inside a child content control."""
    parent = node.getparent()
    if parent is element:
        return True
    return parent is not None and parent.tag == _W_SDT_CONTENT and parent.getparent().getparent() is element


def _blocks(element: Any) -> Iterator[Any]:
    """The paragraphs of ``element`` as their text (str) and its tables as elements, in document
    order (direct children, or inside a block-level content control)."""
    parts: list[str] = []
    in_para = False
    for node in _block_nodes(element):
        if isinstance(node, str):  # text of a w:t; it always follows its w:p in document order
            parts.append(node)
            continue
        tag = node.tag
        if tag in (_W_P, _W_TBL) and _is_block(node, element):
            if in_para:
                yield "".join(parts)
                parts = []
            in_para = tag == _W_P
            if not in_para:
                yield node
        elif tag == _W_P:  # a paragraph inside a text box of the current paragraph
            parts.append("\n")
        elif tag == _W_BR:  # a line break; page and column breaks have no text
            if node.get(_W_TYPE, "textWrapping") == "textWrapping":
                parts.append("\n")
        else:
            parts.append(_RUN_CHARS[tag])
    if in_para:
        yield "".join(parts)


def _paras_text(parent: Any) -> str:
    """Direct w:p children of a cell or comment, one line each (python-docx's ``.text``)."""
    return "\n".join(b for b in _blocks(parent) if isinstance(b, str))


def _table_rows(tbl: Any, container: Any) -> Iterator[list[str]]:
    """Cell texts per row. Spans and vertical merges resolve through python-docx's ``_Row.cells``
    (a merged cell repeats its text in every grid cell it covers); each cell's text is read once."""
    from docx.table import Table

    texts: dict[Any, str] = {}
    for row in Table(tbl, container).rows:
        cells = []
        for cell in row.cells:
            tc = cell._tc
            if (text := texts.get(tc)) is None:
                text = texts[tc] = _paras_text(tc)
            cells.append(text)
        yield cells


def _docx_blocks(element: Any, container: Any, ctx: Context, member: str | None, part: str) -> Iterator[Item]:
    """Paragraphs of a body/header/footer element as one text stream, each table as tabular text,
    in document order (only direct w:p / w:tbl children, as python-docx's iter_inner_content)."""
    paras: list[str] = []
    for block in _blocks(element):
        ctx.check()
        if isinstance(block, str):
            paras.append(block)
            continue
        if paras:
            yield from ctx.chunk_text(member, "\n".join(paras), part)
            paras = []
        yield from ctx.chunk_text(member, _rows_text(_table_rows(block, container)), part, tabular=True)
    if any(paras):
        yield from ctx.chunk_text(member, "\n".join(paras), part)


def _open_docx(f: IO[bytes]) -> Any:
    """``docx.Document(f)``, except that the styles, numbering and settings parts are kept as
    unparsed bytes: no text comes from them, and styles.xml alone often takes longer to parse than
    the whole body."""
    from docx.opc.constants import CONTENT_TYPE as CT
    from docx.opc.package import Unmarshaller
    from docx.opc.part import Part, PartFactory
    from docx.opc.pkgreader import PackageReader
    from docx.package import Package

    unparsed = {CT.WML_STYLES, CT.WML_NUMBERING, CT.WML_SETTINGS}

    def load_part(partname: Any, content_type: str, reltype: str, blob: bytes, package: Any) -> Any:
        if content_type in unparsed:
            return Part.load(partname, content_type, blob, package)
        return PartFactory(partname, content_type, reltype, blob, package)

    package = Package()
    Unmarshaller.unmarshal(PackageReader.from_file(f), package, load_part)
    document_part = package.main_document_part
    if document_part.content_type != CT.WML_DOCUMENT_MAIN:
        raise ValueError(f"file '{f}' is not a Word file, content type is '{document_part.content_type}'")
    return document_part.document


def _headers_footers(doc: Any) -> Iterator[tuple[str, Any]]:
    """("header" | "footer", python-docx header/footer) of every section, each part once."""
    seen: set[int] = set()
    for section in doc.sections:
        for part, hf in (
            ("header", section.header),
            ("header", section.first_page_header),
            ("header", section.even_page_header),
            ("footer", section.footer),
            ("footer", section.first_page_footer),
            ("footer", section.even_page_footer),
        ):
            if hf.is_linked_to_previous or id(hf.part) in seen:
                continue
            seen.add(id(hf.part))
            yield part, hf


def extract_docx(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    from docx.opc.constants import RELATIONSHIP_TYPE

    doc = _open_docx(f)
    yield from ctx.chunk_text(member, metadata_text(doc.core_properties), "metadata")
    body = doc.element.body
    if body is None:
        raise ValueError("document.xml has no w:body")
    yield from _docx_blocks(body, doc, ctx, member, "body")
    for part, hf in _headers_footers(doc):
        yield from _docx_blocks(hf.part.element, hf, ctx, member, part)
    try:  # looked up directly: ``doc.comments`` would create (and parse) an empty part when absent
        comments = doc.part.part_related_by(RELATIONSHIP_TYPE.COMMENTS).element
    except KeyError:
        comments = None
    if comments is not None:
        texts = [_paras_text(c) for c in comments.iterchildren(_W_COMMENT)]
        yield from ctx.chunk_text(member, "\n".join(t for t in texts if t), "comments")
    yield from _docx_notes(doc, ctx, member)
    yield from embedded(f, ctx, member, depth, recurse)


def _docx_notes(doc: Any, ctx: Context, member: str | None) -> Iterator[Item]:
    """Footnotes and endnotes (python-docx does not read them): legal text and account details
    often sit there. Separator notes have no text and drop out."""
    from docx.opc.constants import RELATIONSHIP_TYPE
    from docx.oxml.parser import parse_xml

    for reltype, tag in ((RELATIONSHIP_TYPE.FOOTNOTES, "footnote"), (RELATIONSHIP_TYPE.ENDNOTES, "endnote")):
        try:
            part = doc.part.part_related_by(reltype)
        except KeyError:
            continue
        root = getattr(part, "element", None)
        if root is None:  # a plain Part: python-docx has no class for it (its parser resolves no entities)
            root = parse_xml(part.blob)
        texts = [_paras_text(n) for n in root.iterchildren(_W + tag)]
        yield from ctx.chunk_text(member, "\n".join(t for t in texts if t), "notes")


def _shape_texts(shapes: Iterable[Any], ctx: Context, member: str | None) -> Iterator[Item | str]:
    for shape in shapes:
        if getattr(shape, "shape_type", None) == 6 or hasattr(shape, "shapes"):  # group
            yield from _shape_texts(shape.shapes, ctx, member)
            continue
        if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield shape.text_frame.text
        if getattr(shape, "has_table", False) and shape.has_table:
            rows = ([c.text for c in r.cells] for r in shape.table.rows)
            yield from ctx.chunk_text(member, _rows_text(rows), "body", tabular=True)


def extract_pptx(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    import pptx

    prs = pptx.Presentation(f)
    yield from ctx.chunk_text(member, metadata_text(prs.core_properties), "metadata")
    for slide in prs.slides:
        ctx.check()
        texts: list[str] = []
        for item in _shape_texts(slide.shapes, ctx, member):
            if isinstance(item, str):
                texts.append(item)
            else:
                yield item
        yield from ctx.chunk_text(member, "\n".join(t for t in texts if t), "body")
        if slide.has_notes_slide:
            tf = slide.notes_slide.notes_text_frame
            if tf is not None:
                yield from ctx.chunk_text(member, tf.text, "notes")
    yield from embedded(f, ctx, member, depth, recurse)


def embedded(f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse) -> Iterator[Item]:
    """Files embedded in an OOXML package (OLE workbooks, chart data), recursed as members."""
    f.seek(0)
    with zipfile.ZipFile(f) as zf:
        infos = [i for i in zf.infolist() if "/embeddings/" in i.filename and not i.is_dir()]
        if len(infos) > ctx.limits.max_members:
            yield ctx.error(member, "limit_members", f"more than {ctx.limits.max_members} embedded files")
        yield from zip_members(zf, infos[: ctx.limits.max_members], ctx, member, depth, recurse)


_ODF = "urn:oasis:names:tc:opendocument:xmlns:"
_TEXT_P = {f"{{{_ODF}text:1.0}}p", f"{{{_ODF}text:1.0}}h"}
_TABLE = f"{{{_ODF}table:1.0}}table"
_ROW = f"{{{_ODF}table:1.0}}table-row"
_CELL = f"{{{_ODF}table:1.0}}table-cell"
_NAME = f"{{{_ODF}table:1.0}}name"


def extract_odf(f: IO[bytes], ctx: Context, member: str | None, spreadsheet: bool) -> Iterator[Item]:
    """ODT paragraphs / ODS sheets from content.xml, parsed without entities or network; then the
    objects embedded in the package (``Object 1/content.xml``: a chart's table, a spreadsheet in a
    text), each as a member named after its folder."""
    with zipfile.ZipFile(f) as zf:
        objects = [n for n in zf.namelist() if n.count("/") == 1 and n.endswith("/content.xml")]
        if (err := _odf_part_error(zf, "content.xml", ctx, member)) is not None:
            yield err
            return
        yield from _odf_text(zf.read("content.xml"), ctx, member, spreadsheet)
        for part in objects[: ctx.limits.max_members]:
            ctx.check()
            name = join_member(member, part.split("/", 1)[0])
            if (err := _odf_part_error(zf, part, ctx, name)) is not None:
                yield err
                continue
            data = zf.read(part)
            tables = _TABLE_TAG in data
            ctx.formats[name] = "ods" if tables else "odt"
            yield from _odf_text(data, ctx, name, tables)


_TABLE_TAG = b"<table:table "


def _odf_part_error(zf: zipfile.ZipFile, part: str, ctx: Context, member: str | None) -> Item | None:
    if zf.getinfo(part).file_size > ctx.limits.max_member_bytes:
        return ctx.error(member, "limit_bytes", f"{part.rsplit('/', 1)[-1]} larger than the member limit")
    return None


def _odf_text(data: bytes, ctx: Context, member: str | None, spreadsheet: bool) -> Iterator[Item]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    root = etree.fromstring(data, parser)
    if not spreadsheet:
        paras = ["".join(p.itertext()) for p in root.iter(*_TEXT_P)]
        yield from ctx.chunk_text(member, "\n".join(paras), "body")
        return
    for table in root.iter(_TABLE):
        ctx.check()
        rows = (["".join(c.itertext()) for c in r.iter(_CELL)] for r in table.iter(_ROW))
        yield from ctx.chunk_text(member, _rows_text(rows), f"sheet:{table.get(_NAME, '')}", tabular=True)
