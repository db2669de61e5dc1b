"""DOCX, XLSX/XLSM, PPTX (python-docx, openpyxl, python-pptx) and ODT/ODS (content.xml).

Each document part becomes its own chunk stream (body, header, footer, notes, comments,
sheet:<name>, metadata); tables become tabular text. Files embedded in the package
(``*/embeddings/*``, e.g. an Excel sheet in a slide) are handed back to the dispatcher as members.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from lxml import etree

from agent.extract.archive import depth_error, join_member, read_member
from agent.extract.context import Context, Item

# openpyxl warns about workbook features it drops (extensions, data validation): noise, no content.
warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")

Recurse = Callable[[IO[bytes], str, int], Iterator[Item]]


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


def _metadata(props: Any) -> str:
    lines = []
    for attr in ("title", "subject", "keywords", "comments", "description", "category"):
        v = getattr(props, attr, None)
        if isinstance(v, str) and v.strip():
            lines.append(f"{attr.capitalize()}: {v.strip()}")
    return "\n".join(lines)


def _docx_blocks(container: Any, ctx: Context, member: str | None, part: str) -> Iterator[Item]:
    """Paragraphs as one text stream, each table as tabular text, in document order."""
    from docx.table import Table

    paras: list[str] = []
    for block in container.iter_inner_content():
        ctx.check()
        if isinstance(block, Table):
            if paras:
                yield from ctx.chunk_text(member, "\n".join(paras), part)
                paras = []
            rows = ([c.text for c in r.cells] for r in block.rows)
            yield from ctx.chunk_text(member, _rows_text(rows), part, tabular=True)
        else:
            paras.append(block.text)
    if any(paras):
        yield from ctx.chunk_text(member, "\n".join(paras), part)


def extract_docx(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    import docx

    doc = docx.Document(f)
    yield from ctx.chunk_text(member, _metadata(doc.core_properties), "metadata")
    yield from _docx_blocks(doc, ctx, member, "body")
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
            yield from _docx_blocks(hf, ctx, member, part)
    comments = getattr(doc, "comments", None)
    if comments is not None:
        texts = [c.text for c in comments]
        yield from ctx.chunk_text(member, "\n".join(t for t in texts if t), "comments")
    yield from embedded(f, ctx, member, depth, recurse)


def extract_xlsx(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    import openpyxl

    wb = openpyxl.load_workbook(f, read_only=True, data_only=True, keep_links=False)
    try:
        yield from ctx.chunk_text(member, _metadata(wb.properties), "metadata")
        for ws in wb.worksheets:
            ch = ctx.chunker(member, f"sheet:{ws.title}", tabular=True)
            batch: list[tuple[Any, ...]] = []
            for row in ws.iter_rows(values_only=True):
                batch.append(row)
                if len(batch) >= 1000:
                    ctx.check()
                    yield from ch.feed(_rows_text(batch) + "\n")
                    batch = []
            yield from ch.feed(_rows_text(batch))
            yield from ch.close()
    finally:
        wb.close()
    yield from embedded(f, ctx, member, depth, recurse)


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
    yield from ctx.chunk_text(member, _metadata(prs.core_properties), "metadata")
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
        if infos and (err := depth_error(ctx, member, depth + 1)) is not None:
            yield err
            return
        if len(infos) > ctx.limits.max_members:
            yield ctx.error(member, "limit_members", f"more than {ctx.limits.max_members} embedded files")
        for info in infos[: ctx.limits.max_members]:
            name = join_member(member, info.filename)
            if info.file_size > ctx.limits.max_member_bytes:
                yield ctx.error(
                    name, "limit_bytes", f"member larger than {ctx.limits.max_member_bytes} bytes"
                )
                continue
            yield from read_member(ctx, name, depth, recurse, lambda i=info: zf.open(i), info.compress_size)


_ODF = "urn:oasis:names:tc:opendocument:xmlns:"
_TEXT_P = {f"{{{_ODF}text:1.0}}p", f"{{{_ODF}text:1.0}}h"}
_TABLE = f"{{{_ODF}table:1.0}}table"
_ROW = f"{{{_ODF}table:1.0}}table-row"
_CELL = f"{{{_ODF}table:1.0}}table-cell"
_NAME = f"{{{_ODF}table:1.0}}name"


def extract_odf(f: IO[bytes], ctx: Context, member: str | None, spreadsheet: bool) -> Iterator[Item]:
    """ODT paragraphs / ODS sheets from content.xml, parsed without entities or network."""
    with zipfile.ZipFile(f) as zf:
        if zf.getinfo("content.xml").file_size > ctx.limits.max_member_bytes:
            yield ctx.error(member, "limit_bytes", "content.xml larger than the member limit")
            return
        data = zf.read("content.xml")
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
