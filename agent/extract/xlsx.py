"""XLSX/XLSM: the workbook's metadata, every sheet as tabular text, cell comments, embedded files.

openpyxl reads the workbook skeleton (sheet list, properties, the 1900/1904 epoch) and converts
values with its own public helpers; the stylesheet (which styles mark date cells) is read with its
public ``Stylesheet`` class. The shared strings and the sheets are streamed here with lxml:
openpyxl's read-only worksheets spend most of the time in per-cell Python (a dict and, for inline
strings, a Serialisable object per cell), and parse every sheet without a <dimension> once more
just to size it. The rows and values are exactly those of openpyxl's ``iter_rows(values_only=True)``
after ``reset_dimensions()`` (the declared <dimension> can hide data), batched as before (a feed
per 1000 rows); tests/unit/extract/test_office_xml.py compares the two on generated workbooks.
"""

from __future__ import annotations

import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from lxml import etree

from agent.extract.context import Context, Item, Recurse
from agent.extract.office import embedded, metadata_text

# openpyxl warns about workbook features it drops (extensions, data validation): noise, no content.
warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")

_S = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_S_ROW, _S_V, _S_IS, _S_SI = (_S + t for t in ("row", "v", "is", "si"))
_S_T, _S_SST, _S_SHEET_DATA = _S + "t", _S + "sst", _S + "sheetData"
_TC = "{http://schemas.microsoft.com/office/spreadsheetml/2018/threadedcomments}"
_ROWS_PER_FEED = 1000
_DIGITS = "0123456789"


def extract_xlsx(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    from openpyxl.reader.excel import ExcelReader
    from openpyxl.xml.constants import SHARED_STRINGS

    # load_workbook(read_only=True, data_only=True, keep_links=False) up to its worksheets
    reader = ExcelReader(f, read_only=True, data_only=True, keep_links=False)
    try:
        reader.read_manifest()
        sst = reader.package.find(SHARED_STRINGS)
        shared = _shared_strings(reader.archive, None if sst is None else sst.PartName[1:], ctx)
        reader.read_workbook()
        reader.read_properties()
        wb = reader.wb
        cells = _CellReader(shared, *_date_styles(reader.archive), epoch=wb.epoch)
        yield from ctx.chunk_text(member, metadata_text(wb.properties), "metadata")
        for sheet, rel in reader.parser.find_sheets():
            if rel.target not in reader.valid_files or "chartsheet" in rel.Type:
                continue
            ch = ctx.chunker(member, f"sheet:{sheet.name}", tabular=True)
            with reader.archive.open(rel.target) as src:
                for text in _sheet_feeds(src, cells, ctx):
                    yield from ch.feed(text)
            yield from ch.close()
        yield from _xlsx_comments(reader.archive, ctx, member)
    finally:
        reader.archive.close()
    yield from embedded(f, ctx, member, depth, recurse)


def _date_styles(archive: zipfile.ZipFile) -> tuple[frozenset[int], frozenset[int]]:
    """(style ids that format dates, those that format durations), as openpyxl's apply_stylesheet
    gives the workbook: none without a stylesheet or without cell styles."""
    from openpyxl.styles.stylesheet import Stylesheet
    from openpyxl.xml.constants import ARC_STYLE
    from openpyxl.xml.functions import fromstring

    try:
        src = archive.read(ARC_STYLE)
    except KeyError:
        return frozenset(), frozenset()
    styles = Stylesheet.from_tree(fromstring(src))
    if not styles.cell_styles:
        return frozenset(), frozenset()
    return frozenset(styles.date_formats), frozenset(styles.timedelta_formats)


# -- streaming XML ------------------------------------------------------------------------------
def _xml_ends(src: IO[bytes], *tags: str) -> Iterator[Any]:
    """Elements with these tags as they end. Entities are expanded as openpyxl's expat parser does
    (internal ones only, within libxml2's amplification limits); nothing is fetched."""
    for _, el in etree.iterparse(
        src,
        events=("end",),
        tag=tags,
        resolve_entities="internal",
        no_network=True,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    ):
        yield el


def _release(el: Any, container: str) -> None:
    """Free an element that has been read, and its read siblings when it sits in ``container``."""
    el.clear()
    parent = el.getparent()
    if parent is not None and parent.tag == container:
        while el.getprevious() is not None:
            del parent[0]


def _local(el: Any) -> str:
    return str(el.tag).rpartition("}")[2]


# -- strings ------------------------------------------------------------------------------------
def _string_item(node: Any) -> str:
    """openpyxl's ``Text.from_tree(node).content`` of an <si>/<is>: the text of its (last) <t>, then
    that of each rich-text run <r> (the run's last <t>); phonetic guides (<rPh>) are not the value."""
    if len(node) == 1 and (t := node[0]).tag == _S_T:  # the usual <si><t>..</t></si>
        return t.text or ""
    plain = None
    runs = []
    for el in node.iterchildren(etree.Element):
        name = _local(el)
        if name == "t":
            plain = el.text
        elif name == "r":
            t = None
            for sub in el.iterchildren(etree.Element):
                if _local(sub) == "t":
                    t = sub.text
            if t is not None:
                runs.append(t)
    return "".join(runs) if plain is None else plain + "".join(runs)


def _shared_strings(archive: zipfile.ZipFile, path: str | None, ctx: Context) -> list[str]:
    """The shared-string table, as openpyxl's ``read_string_table``."""
    strings: list[str] = []
    if path is None:
        return strings
    with archive.open(path) as src:
        for si in _xml_ends(src, _S_SI):
            strings.append(_string_item(si).replace("x005F_", ""))
            _release(si, _S_SST)
            if len(strings) % 10_000 == 0:
                ctx.check()
    return strings


# -- cells --------------------------------------------------------------------------------------
@dataclass
class _CellReader:
    """One cell's value and text, as WorkSheetParser.parse_cell (data_only) gives it."""

    shared: list[str]
    date_formats: frozenset[int]
    timedelta_formats: frozenset[int]
    epoch: Any
    columns: dict[str, int] = field(default_factory=dict)  # "AB" -> 28, cached per workbook

    def __post_init__(self) -> None:
        from openpyxl.utils.datetime import from_excel, from_ISO8601

        self.from_excel, self.from_iso8601 = from_excel, from_ISO8601

    def column(self, coordinate: str) -> int:
        """The column of "AB12" (openpyxl's coordinate_to_tuple)."""
        letters = coordinate.rstrip(_DIGITS)
        if (column := self.columns.get(letters)) is None:
            from openpyxl.utils.cell import coordinate_to_tuple

            column = self.columns[letters] = coordinate_to_tuple(coordinate)[1]
        return column

    def text(self, c: Any) -> str:
        """The cell's text as _cell() writes a value: None is empty, tabs and newlines are spaces.
        Runs once per cell: the common shapes (<c><v>, shared strings, numbers) take no extra call."""
        data_type = c.get("t", "n")
        if data_type == "inlineStr":
            value = next((_string_item(child) for child in c if child.tag == _S_IS), None)
        else:
            if len(c) == 1 and (sub := c[0]).tag == _S_V:  # the usual <c><v>..</v></c>
                raw = sub.text or None
            else:  # findtext(<v>) or None
                raw = next(((sub.text or None) for sub in c if sub.tag == _S_V), None)
            if raw is None:
                return ""
            value = self.shared[int(raw)] if data_type == "s" else self._cast(raw, data_type, c)
        if value is None:
            return ""
        text = value if value.__class__ is str else str(value)
        if "\t" in text or "\r" in text or "\n" in text:
            text = text.replace("\t", " ").replace("\r", " ").replace("\n", " ")
        return text

    def _cast(self, raw: str, data_type: str, c: Any) -> Any:
        """openpyxl's _cast_number, then a date or duration when the cell's style says so; booleans,
        ISO dates; any other type is its raw text."""
        if data_type == "n":
            value = float(raw) if "." in raw or "E" in raw or "e" in raw else int(raw)
            style_id: Any = c.get("s", 0)
            if style_id:
                style_id = int(style_id)
            if style_id not in self.date_formats:
                return value
            try:
                return self.from_excel(value, self.epoch, timedelta=style_id in self.timedelta_formats)
            except (OverflowError, ValueError):
                return "#VALUE!"
        if data_type == "b":
            return bool(int(raw))
        if data_type == "d":
            return self.from_iso8601(raw)
        return raw


# -- rows ---------------------------------------------------------------------------------------
def _row_number(r: str) -> int:
    """openpyxl's reading of <row r="...">."""
    try:
        return int(r)
    except ValueError:
        val = float(r)
        if val.is_integer():
            return int(val)
        raise ValueError(f"{r} is not a valid row number") from None


def _row_line(row: Any, cells: _CellReader) -> str:
    """A <row>'s cells as one tab-separated line (trailing empty cells dropped), as
    ReadOnlyWorksheet._get_row places them: by their column, the last one wins, and a cell right of
    the row's last cell drops."""
    texts: list[str] = []  # cell texts in document order ...
    cols: list[int] = []  # ... and their columns, while they are not simply 1, 2, 3...
    col = 0
    known, text_of = cells.columns, cells.text
    for c in row.iterchildren(etree.Element):
        if coordinate := c.get("r"):  # the cached column of its letters, else computed and cached
            col = known.get(coordinate.rstrip(_DIGITS)) or cells.column(coordinate)
        else:
            col += 1
        text = text_of(c)
        if cols or col != len(texts) + 1:
            if not cols:
                cols = list(range(1, len(texts) + 1))
            cols.append(col)
        texts.append(text)
    if cols:  # columns out of order, repeated or skipped: place each cell
        placed = {k: text for k, text in zip(cols, texts, strict=True) if k <= col}
        filled = [k for k, text in placed.items() if text]
        texts = [""] * max(filled, default=0)
        for k in filled:
            texts[k - 1] = placed[k]
    elif len(texts) > col:
        del texts[col:]
    while texts and not texts[-1]:
        texts.pop()
    return "\t".join(texts)


@dataclass
class _Feeds:
    """Rows into feeds as the openpyxl loop fed them: after every 1000 rows of ``iter_rows`` (empty
    rows count) their non-empty lines and a newline, then the rest without one."""

    ctx: Context
    lines: list[str] = field(default_factory=list)  # non-empty rows of the current feed
    n: int = 0  # rows of the current feed, empty ones included

    def empty_rows(self, gap: int) -> Iterator[str]:
        while self.n + gap >= _ROWS_PER_FEED:
            gap -= _ROWS_PER_FEED - self.n
            yield self.feed()
        self.n += gap

    def row(self, line: str) -> Iterator[str]:
        if line:
            self.lines.append(line)
        self.n += 1
        if self.n >= _ROWS_PER_FEED:
            yield self.feed()

    def feed(self) -> str:
        text = "\n".join(self.lines) + "\n"
        self.lines, self.n = [], 0
        self.ctx.check()
        return text

    def rest(self) -> str:
        return "\n".join(self.lines)


def _sheet_feeds(src: IO[bytes], cells: _CellReader, ctx: Context) -> Iterator[str]:
    """A worksheet's text, fed as openpyxl's read-only ``iter_rows(values_only=True)`` loop fed it.
    Mirrors WorkSheetParser.parse_row/parse_cell (data_only) and ReadOnlyWorksheet._cells_by_row/
    _get_row, except that a malformed style id or coordinate that openpyxl would reject (failing the
    whole workbook) is not checked where it changes no text. The sheet's <dimension> is ignored
    (openpyxl's read-only sheets trust it unless ``reset_dimensions`` is called): writers that always
    declare "A1", or a crafted file, would otherwise hide every cell beyond it."""
    feeds = _Feeds(ctx)
    counter = 1  # next row number iter_rows yields
    row_counter = 0
    for el in _xml_ends(src, _S_ROW):
        row_counter = _row_number(r) if (r := el.get("r")) is not None else row_counter + 1
        line = _row_line(el, cells)
        _release(el, _S_SHEET_DATA)
        if row_counter < counter:  # a row number that goes backwards is skipped
            continue
        yield from feeds.empty_rows(row_counter - counter)  # rows missing from the XML: empty
        counter = row_counter + 1
        yield from feeds.row(line)
    yield feeds.rest()


def _xlsx_comments(archive: zipfile.ZipFile, ctx: Context, member: str | None) -> Iterator[Item]:
    """Cell comments and threaded comments (openpyxl's read-only mode loads neither): each note's
    text, one line each, in a "comments" chunk. Read with the same streaming, entity-safe parser."""
    names = sorted(
        n
        for n in archive.namelist()
        if n.startswith(("xl/comments", "xl/threadedComments/")) and n.endswith(".xml")
    )
    lines: list[str] = []
    for name in names:
        with archive.open(name) as src:
            for el in _xml_ends(src, _S + "comment", _TC + "threadedComment"):
                text = "".join(t.text or "" for t in el.iter(_S + "t", _TC + "text"))
                if text.strip():
                    lines.append(" ".join(text.split()))
                el.clear()
        ctx.check()
    yield from ctx.chunk_text(member, "\n".join(lines), "comments")
