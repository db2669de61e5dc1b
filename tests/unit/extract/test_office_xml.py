"""DOCX and XLSX text read from the XML (office.py) equals what the libraries' object models give.

The references below are the readers office.py had before it read the XML itself: python-docx's
``Paragraph.text`` / ``_Row.cells`` / comments, and openpyxl's read-only ``iter_rows(values_only=True)``
fed 1000 rows at a time. Generated documents exercise the corners (breaks of every type, hyperlinks,
runs wrapped in w:ins or w:sdt, merged and nested table cells, rich and shared strings, dates, sparse
and out-of-order rows, a declared <dimension> smaller than the data). If a library upgrade changes
its text rules, these tests say so.
"""

from __future__ import annotations

import io
import random
import zipfile
from collections.abc import Callable, Iterator
from typing import IO, Any

import pytest

from agent.extract import office, xlsx
from agent.extract.context import Context, Item
from agent.models import ExtractError, Limits, TextChunk

# --- reference readers (python-docx and openpyxl object models) -------------------------------


def _ref_docx_blocks(container: Any, ctx: Context, member: str | None, part: str) -> Iterator[Item]:
    from docx.table import Table

    paras: list[str] = []
    for block in container.iter_inner_content():
        if isinstance(block, Table):
            if paras:
                yield from ctx.chunk_text(member, "\n".join(paras), part)
                paras = []
            rows = ([c.text for c in r.cells] for r in block.rows)
            yield from ctx.chunk_text(member, office._rows_text(rows), part, tabular=True)
        else:
            paras.append(block.text)
    if any(paras):
        yield from ctx.chunk_text(member, "\n".join(paras), part)


def _ref_docx(f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Any) -> Iterator[Item]:
    import docx

    doc = docx.Document(f)
    yield from ctx.chunk_text(member, office.metadata_text(doc.core_properties), "metadata")
    yield from _ref_docx_blocks(doc, ctx, member, "body")
    for part, hf in office._headers_footers(doc):  # which parts: python-docx's answer, shared
        yield from _ref_docx_blocks(hf, ctx, member, part)
    texts = [c.text for c in doc.comments]
    yield from ctx.chunk_text(member, "\n".join(t for t in texts if t), "comments")


def _ref_xlsx(f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Any) -> Iterator[Item]:
    import openpyxl

    wb = openpyxl.load_workbook(f, read_only=True, data_only=True, keep_links=False)
    try:
        yield from ctx.chunk_text(member, office.metadata_text(wb.properties), "metadata")
        for ws in wb.worksheets:
            ws.reset_dimensions()  # office.py ignores <dimension>: it can hide cells
            ch = ctx.chunker(member, f"sheet:{ws.title}", tabular=True)
            batch: list[tuple[Any, ...]] = []
            for row in ws.iter_rows(values_only=True):
                batch.append(row)
                if len(batch) >= 1000:
                    yield from ch.feed(office._rows_text(batch) + "\n")
                    batch = []
            yield from ch.feed(office._rows_text(batch))
            yield from ch.close()
    finally:
        wb.close()


def _items(reader: Callable[..., Iterator[Item]], data: bytes, name: str) -> list[tuple[Any, ...]]:
    ctx = Context(path=name, limits=Limits(chunk_chars=3000, chunk_overlap=64))
    out: list[tuple[Any, ...]] = []
    try:
        for i in reader(io.BytesIO(data), ctx, None, 0, lambda *a: iter(())):
            if isinstance(i, TextChunk):
                out.append((i.part, i.offset, i.line, i.tabular, i.text))
            else:
                assert isinstance(i, ExtractError)
                out.append((i.reason,))
    except Exception as e:  # the reference and the reader must fail alike
        out.append(("raised", type(e).__name__))
    return out


# --- generated DOCX ----------------------------------------------------------------------------

_WORDS = ["alpha", "b&amp;c", " sp ", "é", "", "x<!--c-->y", "IBAN DE89"]


def _run(rnd: random.Random) -> str:
    parts = []
    for _ in range(rnd.randint(0, 4)):
        parts.append(
            rnd.choice(
                [
                    f'<w:t xml:space="preserve">{rnd.choice(_WORDS)}</w:t>',
                    "<w:t/>",
                    "<w:t>lead<w:x/>tail</w:t>",
                    "<w:tab/>",
                    "<w:br/>",
                    '<w:br w:type="page"/>',
                    '<w:br w:type="column"/>',
                    '<w:br w:type="textWrapping"/>',
                    "<w:cr/>",
                    "<w:noBreakHyphen/>",
                    '<w:ptab w:relativeTo="margin" w:alignment="left" w:leader="none"/>',
                    "<w:softHyphen/>",
                    "<w:delText>deleted</w:delText>",
                    "<w:rPr><w:b/></w:rPr>",
                ]
            )
        )
    return "<w:r>" + "".join(parts) + "</w:r>"


def _para(rnd: random.Random) -> str:
    kids = []
    for _ in range(rnd.randint(0, 4)):
        kids.append(
            rnd.choice(
                [
                    _run(rnd),
                    _run(rnd),
                    '<w:hyperlink w:anchor="x">' + _run(rnd) + _run(rnd) + "<w:proofErr/></w:hyperlink>",
                    '<w:ins w:id="1" w:author="a">' + _run(rnd) + "</w:ins>",
                    "<w:sdt><w:sdtContent>" + _run(rnd) + "</w:sdtContent></w:sdt>",
                    '<w:bookmarkStart w:id="0" w:name="b"/>',
                ]
            )
        )
    return "<w:p>" + "".join(kids) + "</w:p>"


def _table(rnd: random.Random, nested: bool = True) -> str:
    ncols = rnd.randint(1, 4)
    rows = []
    for ri in range(rnd.randint(1, 4)):
        cells, c = [], 0
        while c < ncols:
            span = min(rnd.choice([1, 1, 2]), ncols - c)
            pr = f'<w:gridSpan w:val="{span}"/>' if span > 1 else ""
            if ri and rnd.random() < 0.25:
                pr += "<w:vMerge/>"
            content = "".join(_para(rnd) for _ in range(rnd.randint(1, 2)))
            if nested and rnd.random() < 0.1:
                content += _table(rnd, nested=False) + "<w:p/>"
            cells.append(f"<w:tc><w:tcPr>{pr}</w:tcPr>{content}</w:tc>")
            c += span
        rows.append("<w:tr>" + "".join(cells) + "</w:tr>")
    grid = "<w:tblGrid>" + '<w:gridCol w:w="100"/>' * ncols + "</w:tblGrid>"
    return "<w:tbl><w:tblPr/>" + grid + "".join(rows) + "</w:tbl>"


def _story(rnd: random.Random) -> str:
    return "".join(
        rnd.choice(
            [_para(rnd), _para(rnd), _table(rnd), f"<w:sdt><w:sdtContent>{_para(rnd)}</w:sdtContent></w:sdt>"]
        )
        for _ in range(rnd.randint(0, 10))
    )


@pytest.fixture(scope="module")
def docx_template() -> bytes:
    import docx

    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "h"
    d.sections[0].footer.paragraphs[0].text = "f"
    d.add_comment(d.add_paragraph("c").runs, text="comment", author="a")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _docx(template: bytes, rnd: random.Random) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(template)) as zin, zipfile.ZipFile(out, "w") as z:
        for info in zin.infolist():
            name = info.filename
            if not name.startswith(("word/document", "word/header", "word/footer", "word/comments")):
                z.writestr(info, zin.read(info))
                continue
            xml = zin.read(info).decode()
            if name == "word/document.xml":
                a, b = xml.index("<w:body>") + len("<w:body>"), xml.index("<w:sectPr")
                xml = xml[:a] + _story(rnd) + xml[b:]
            elif name.startswith(("word/header", "word/footer")):
                root = "<w:hdr" if "header" in name else "<w:ftr"
                a = xml.index(">", xml.index(root)) + 1
                xml = xml[:a] + _story(rnd) + ("</w:hdr>" if "header" in name else "</w:ftr>")
            elif name == "word/comments.xml":
                a = xml.index(">", xml.index("<w:comments")) + 1
                comments = "".join(
                    f'<w:comment w:id="{k}" w:author="a">'
                    + "".join(_para(rnd) for _ in range(rnd.randint(0, 3)))
                    + (_table(rnd) if rnd.random() < 0.2 else "")
                    + "</w:comment>"
                    for k in range(rnd.randint(0, 3))
                )
                xml = xml[:a] + comments + "</w:comments>"
            z.writestr(info, xml)
    return out.getvalue()


def _unwrapped(data: bytes) -> bytes:
    """The same document with tracked insertions and content controls unwrapped and deleted text
    made ordinary text: what python-docx reads of it is what office.py must read of the original."""
    import re

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as z:
        for info in zin.infolist():
            raw = zin.read(info)
            if info.filename.startswith(("word/document", "word/header", "word/footer", "word/comments")):
                xml = re.sub(
                    r"<w:ins [^>]*>|</w:ins>|<w:sdt><w:sdtContent>|</w:sdtContent></w:sdt>", "", raw.decode()
                )
                raw = xml.replace("<w:delText>", "<w:t>").replace("</w:delText>", "</w:t>").encode()
            z.writestr(info, raw)
    return out.getvalue()


@pytest.mark.parametrize("seed", range(40))
def test_docx_text_equals_python_docx(docx_template: bytes, seed: int) -> None:
    """Body, header/footer and comment text, tables and merged-cell errors are python-docx's, with
    text in tracked changes and content controls read as well (python-docx skips it)."""
    data = _docx(docx_template, random.Random(seed))
    assert _items(office.extract_docx, data, "x.docx") == _items(_ref_docx, _unwrapped(data), "x.docx")


def test_docx_hidden_text_is_extracted(docx_template: bytes) -> None:
    """Text in a text box, a form field, a tracked insertion or deletion, a smart tag or a simple
    field reaches the classifier: a contractor can hide a customer list in any of them."""
    hidden = {
        "textbox": "<w:r><w:drawing><wp:inline><a:graphic><a:graphicData><wps:wsp><wps:txbx><w:txbxContent>"
        "<w:p><w:r><w:t>TEXTBOX-ONE</w:t></w:r></w:p><w:p><w:r><w:t>TEXTBOX-TWO</w:t></w:r></w:p>"
        "</w:txbxContent></wps:txbx></wps:wsp></a:graphicData></a:graphic></wp:inline></w:drawing></w:r>",
        "inserted": '<w:ins w:id="1" w:author="a"><w:r><w:t>INSERTED</w:t></w:r></w:ins>',
        "deleted": '<w:del w:id="2" w:author="a"><w:r><w:delText>DELETED</w:delText></w:r></w:del>',
        "control": "<w:sdt><w:sdtContent><w:r><w:t>FORMFIELD</w:t></w:r></w:sdtContent></w:sdt>",
        "smarttag": '<w:smartTag w:uri="u" w:element="e"><w:r><w:t>SMARTTAG</w:t></w:r></w:smartTag>',
        "field": '<w:fldSimple w:instr="AUTHOR"><w:r><w:t>FIELDTEXT</w:t></w:r></w:fldSimple>',
    }
    ns = {
        "wp": "http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing",
        "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
        "wps": "http://schemas.microsoft.com/office/word/2010/wordprocessingShape",
    }
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_template)) as zin, zipfile.ZipFile(out, "w") as z:
        for info in zin.infolist():
            raw = zin.read(info)
            if info.filename == "word/document.xml":
                xml = raw.decode()
                missing = "".join(f' xmlns:{k}="{v}"' for k, v in ns.items() if f"xmlns:{k}=" not in xml)
                xml = xml.replace("<w:document ", "<w:document" + missing + " ", 1)
                a, b = xml.index("<w:body>") + len("<w:body>"), xml.index("<w:sectPr")
                body = "".join(f"<w:p><w:r><w:t>{k}:</w:t></w:r>{v}</w:p>" for k, v in hidden.items())
                block = "<w:p><w:r><w:t>BLOCKCONTROL</w:t></w:r></w:p>"
                block = f"<w:sdt><w:sdtContent>{block}</w:sdtContent></w:sdt>"
                raw = (xml[:a] + body + block + xml[b:]).encode()
            z.writestr(info, raw)
    items = _items(office.extract_docx, out.getvalue(), "x.docx")
    text = "\n".join(str(i[-1]) for i in items)
    for word in ("TEXTBOX-ONE", "TEXTBOX-TWO", "INSERTED", "DELETED", "FORMFIELD", "SMARTTAG", "FIELDTEXT"):
        assert word in text, word
    assert "BLOCKCONTROL" in text
    assert "TEXTBOX-ONE\nTEXTBOX-TWO" in text  # text-box paragraphs stay apart, not glued together


def test_docx_without_body_is_malformed_not_a_crash(tmp_path: Any) -> None:
    """A package python-docx opens but whose document has no w:body: a malformed error, no raise."""
    from tests.unit.extract.builders import docx_bytes, errors, run

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_bytes())) as zin, zipfile.ZipFile(out, "w") as z:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "word/document.xml":
                data = data[: data.index(b"<w:body>")] + b"</w:document>"
            z.writestr(info, data)
    p = tmp_path / "nobody.docx"
    p.write_bytes(out.getvalue())
    items = run(p)
    assert errors(items) == [(None, "malformed")]
    assert any(isinstance(i, TextChunk) and i.part == "metadata" for i in items)


# --- generated XLSX ----------------------------------------------------------------------------

_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_STYLES = (
    f'<styleSheet xmlns="{_NS}"><numFmts count="1"><numFmt numFmtId="164" formatCode="[h]:mm:ss"/>'
    '</numFmts><fonts count="1"><font/></fonts><fills count="1"><fill><patternFill patternType="none"/>'
    '</fill></fills><borders count="1"><border/></borders><cellStyleXfs count="1"><xf/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/>'
    '<xf numFmtId="164" applyNumberFormat="1"/><xf numFmtId="10" applyNumberFormat="1"/>'
    '</cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_CELL_WORDS = ["alpha", "be\tta", "x\ny", "a&amp;b", " sp ", "x005F_x", "é", ""]


def _col(n: int) -> str:
    s = ""
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s


def _xlsx_cell(rnd: random.Random, ref: str | None, n_shared: int) -> str:
    r = f' r="{ref}"' if ref else ""
    word = rnd.choice(_CELL_WORDS)
    number = rnd.choice(["1", "0", "-3", "1.5", "1E3", "2.50", "007", "44000", "0.25", "1e-5", "60", "59.5"])
    style = rnd.choice(["", ' s="0"', ' s="1"', ' s="2"', ' s="3"'])
    return rnd.choice(
        [
            f'<c{r} t="s"><v>{rnd.randrange(n_shared)}</v></c>',
            f'<c{r} t="inlineStr"><is><t>{word}</t></is></c>',
            f'<c{r} t="inlineStr"><is><r><t>{word}</t></r><r><rPr/><t> {word}</t></r></is></c>',
            f"<c{r}{style}><v>{number}</v></c>",
            f"<c{r}{style}><v>{number}</v></c>",
            f'<c{r} t="b"><v>{rnd.choice("01")}</v></c>',
            f'<c{r} t="e"><v>#N/A</v></c>',
            f'<c{r} t="str"><f>A1</f><v>{word}</v></c>',
            f"<c{r}><f>1+1</f><v>2</v></c>",
            f"<c{r}/>",
            f"<c{r}><v></v></c>",
            f'<c{r} t="d"><v>2020-0{rnd.randint(1, 9)}-1{rnd.randint(0, 9)}T10:00:00</v></c>',
        ]
    )


def _xlsx_sheet(rnd: random.Random, n_shared: int) -> str:
    rows, rnum = [], 0
    for _ in range(rnd.choice([3, 30, 1300])):
        rnum = max(
            1, rnum + rnd.choice([1, 1, 1, 1, 2, 7, 0, -1] + ([700, 1500] if rnd.random() < 0.01 else []))
        )
        cells, col = [], 0
        for _ in range(rnd.choice([0, 1, 2, 3, 6])):
            col = max(1, col + rnd.choice([1, 1, 1, 2, 5, 0, -1]))
            cells.append(_xlsx_cell(rnd, f"{_col(col)}{rnum}" if rnd.random() < 0.85 else None, n_shared))
        r = f' r="{rnum}"' if rnd.random() < 0.9 else ""
        rows.append(f"<row{r}>{''.join(cells)}</row>")
    dim = ""
    if rnd.random() < 0.5:
        dim = f'<dimension ref="A1:{_col(rnd.randint(1, 8))}{rnd.randint(1, rnum)}"/>'
    return f'<worksheet xmlns="{_NS}">{dim}<sheetData>{"".join(rows)}</sheetData></worksheet>'


def _xlsx(rnd: random.Random) -> bytes:
    n_shared = rnd.randint(1, 5)
    sis = "".join(
        rnd.choice(
            [
                f"<si><t>{rnd.choice(_CELL_WORDS)}</t></si>",
                f"<si><r><t>{rnd.choice(_CELL_WORDS)}</t></r><r><t>{rnd.choice(_CELL_WORDS)}</t></r></si>",
                "<si><t/></si>",
                f'<si><t>{rnd.choice(_CELL_WORDS)}</t><rPh sb="0" eb="1"><t>phonetic</t></rPh></si>',
            ]
        )
        for _ in range(n_shared)
    )
    n = rnd.randint(1, 3)
    pr = '<workbookPr date1904="1"/>' if rnd.random() < 0.3 else ""
    sheets = "".join(f'<sheet name="S{i}" sheetId="{i + 1}" r:id="rId{i + 1}"/>' for i in range(n))
    rels = "".join(
        f'<Relationship Id="rId{i + 1}" Type="{_REL}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
        for i in range(n)
    )
    rels += f'<Relationship Id="rIdS" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    rels += f'<Relationship Id="rIdT" Type="{_REL}/styles" Target="styles.xml"/>'
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    overrides = f'<Override PartName="/xl/workbook.xml" ContentType="{ct}.sheet.main+xml"/>'
    overrides += f'<Override PartName="/xl/sharedStrings.xml" ContentType="{ct}.sharedStrings+xml"/>'
    overrides += f'<Override PartName="/xl/styles.xml" ContentType="{ct}.styles+xml"/>'
    overrides += "".join(
        f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" ContentType="{ct}.worksheet+xml"/>'
        for i in range(n)
    )
    pkg = "http://schemas.openxmlformats.org/package/2006"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(
            "[Content_Types].xml",
            f'<Types xmlns="{pkg}/content-types"><Default Extension="rels" '
            f'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            f'<Default Extension="xml" ContentType="application/xml"/>{overrides}</Types>',
        )
        z.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{pkg}/relationships"><Relationship Id="rId1" '
            f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        z.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{_NS}" xmlns:r="{_REL}">{pr}<sheets>{sheets}</sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels", f'<Relationships xmlns="{pkg}/relationships">{rels}</Relationships>'
        )
        z.writestr("xl/styles.xml", _STYLES)
        z.writestr("xl/sharedStrings.xml", f'<sst xmlns="{_NS}">{sis}</sst>')
        for i in range(n):
            z.writestr(f"xl/worksheets/sheet{i + 1}.xml", _xlsx_sheet(rnd, n_shared))
    return buf.getvalue()


@pytest.mark.parametrize("seed", range(40))
def test_xlsx_text_equals_openpyxl(seed: int) -> None:
    """Cell values, row layout (gaps, repeats, <dimension> cut-off) and 1000-row feeds are openpyxl's."""
    data = _xlsx(random.Random(seed))
    assert _items(xlsx.extract_xlsx, data, "x.xlsx") == _items(_ref_xlsx, data, "x.xlsx")


def _one_sheet_xlsx(sheet_xml: str) -> bytes:
    """The generated workbook's package with one given sheet."""
    data = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(_xlsx(random.Random(0))), "r") as zin, zipfile.ZipFile(data, "w") as z:
        for info in zin.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                z.writestr(info, f'<worksheet xmlns="{_NS}">{sheet_xml}</worksheet>')
            elif info.filename.startswith("xl/worksheets/"):
                z.writestr(info, f'<worksheet xmlns="{_NS}"><sheetData/></worksheet>')
            else:
                z.writestr(info, zin.read(info))
    return data.getvalue()


@pytest.mark.parametrize(
    "sheet",
    [
        # empty rows between data count towards the 1000-row feeds (an all-empty feed is a newline)
        '<sheetData><row r="1"><c t="inlineStr"><is><t>a</t></is></c></row>'
        '<row r="2500"><c><v>1</v></c></row>'
        '<row r="2999"><c><v>2</v></c></row><row r="4001"><c><v>3</v></c></row></sheetData>',
        # rows and columns beyond the declared dimension are not read (openpyxl's read-only layout)
        '<dimension ref="A1:B2"/><sheetData><row r="1"><c r="A1"><v>1</v></c><c r="C1"><v>9</v></c></row>'
        '<row r="2"><c r="B2"><v>2</v></c></row><row r="3"><c r="A3"><v>9</v></c></row></sheetData>',
        '<dimension ref="A1:A1500"/><sheetData><row r="1"><c><v>1</v></c></row>'
        '<row r="1700"><c><v>9</v></c></row></sheetData>',
        # a row number going backwards is skipped; a row without r follows the previous one
        '<sheetData><row r="5"><c><v>5</v></c></row><row r="3"><c><v>3</v></c></row>'
        '<row><c><v>6</v></c></row><row r="6"><c><v>66</v></c></row></sheetData>',
    ],
)
def test_xlsx_row_layout_equals_openpyxl(sheet: str) -> None:
    data = _one_sheet_xlsx(sheet)
    assert _items(xlsx.extract_xlsx, data, "x.xlsx") == _items(_ref_xlsx, data, "x.xlsx")


def test_xlsx_cells_beyond_a_wrong_dimension_are_read() -> None:
    """A sheet declaring <dimension ref="A1"/> (some writers always do) still gives every cell:
    openpyxl's read-only mode would stop at A1 and hide the customer table below it."""
    import re

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for r in range(1, 6):
        ws.append([f"name{r}", f"CH93 0076 2011 6238 5295 {r}", r * 10])
    buf = io.BytesIO()
    wb.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as zin, zipfile.ZipFile(out, "w") as z:
        for info in zin.infolist():
            raw = zin.read(info)
            if info.filename.startswith("xl/worksheets/sheet"):
                raw = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1"/>', raw)
            z.writestr(info, raw)
    text = "\n".join(str(i[-1]) for i in _items(xlsx.extract_xlsx, out.getvalue(), "x.xlsx"))
    for r in range(1, 6):
        assert f"name{r}\tCH93 0076 2011 6238 5295 {r}\t{r * 10}" in text


def test_docx_footnotes_and_endnotes_are_extracted(docx_template: bytes) -> None:
    """Footnote and endnote text (python-docx reads neither) is a chunk of its own ("notes")."""
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    notes = {
        "footnotes": f'<w:footnotes {w}><w:footnote w:type="separator" w:id="-1">'
        "<w:p><w:r><w:separator/></w:r></w:p></w:footnote>"
        '<w:footnote w:id="1"><w:p><w:r><w:t>FOOTNOTE-TEXT</w:t></w:r></w:p></w:footnote></w:footnotes>',
        "endnotes": f'<w:endnotes {w}><w:endnote w:id="1"><w:p><w:r><w:t>ENDNOTE-TEXT</w:t></w:r></w:p>'
        "</w:endnote></w:endnotes>",
    }
    rel = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    ct = "application/vnd.openxmlformats-officedocument.wordprocessingml."
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx_template)) as zin, zipfile.ZipFile(out, "w") as z:
        for info in zin.infolist():
            raw = zin.read(info)
            if info.filename == "word/_rels/document.xml.rels":
                extra = "".join(
                    f'<Relationship Id="rIdN{k}" Type="{rel}{k}" Target="{k}.xml"/>' for k in notes
                )
                raw = raw.replace(b"</Relationships>", extra.encode() + b"</Relationships>")
            elif info.filename == "[Content_Types].xml":
                extra = "".join(
                    f'<Override PartName="/word/{k}.xml" ContentType="{ct}{k}+xml"/>' for k in notes
                )
                raw = raw.replace(b"</Types>", extra.encode() + b"</Types>")
            z.writestr(info, raw)
        for k, xml in notes.items():
            z.writestr(f"word/{k}.xml", xml)
    items = _items(office.extract_docx, out.getvalue(), "x.docx")
    assert [i[-1] for i in items if i[0] == "notes"] == ["FOOTNOTE-TEXT", "ENDNOTE-TEXT"]


def test_xlsx_cell_comments_are_extracted() -> None:
    """A cell comment (openpyxl's read-only reader ignores them) is read into a "comments" chunk."""
    import openpyxl
    from openpyxl.comments import Comment

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["A1"] = "client"
    ws["A1"].comment = Comment("account holder Anna Muster\nIBAN CH93 0076 2011 6238 5295 7", "reviewer")
    buf = io.BytesIO()
    wb.save(buf)
    items = _items(xlsx.extract_xlsx, buf.getvalue(), "x.xlsx")
    assert [i[-1] for i in items if i[0] == "comments"] == [
        "account holder Anna Muster IBAN CH93 0076 2011 6238 5295 7"
    ]
