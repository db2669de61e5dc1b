"""PDF through PDFium (pypdfium2): text layer page by page, form values, metadata, attachments, and
OCR of the pages that have no text layer.

Why PDFium: it is the PDF engine of Chromium, fuzzed continuously (OSS-Fuzz), and ~3x faster
than pypdf at extracting text (CPU time, bench/bench_pdf.py). Its guards against hostile structure
are its own: page-tree loops and self-invoking XObjects end in a bounded recursion, a truncated
file has its cross-reference table rebuilt. What it cannot bound is a single C call: the per-file
deadline is checked before every page and every PDFium call that can be long (a page's text, a
render), and a page rendered for OCR is drawn progressively with a pause callback that stops it
at the deadline. A single page that takes longer than the whole per-file budget inside PDFium is
stopped by the daemon's hard kill of the worker (agent.daemon.workers), like any other stuck parser.

Each page is isolated: a page PDFium cannot load is one ``malformed`` error (the first few are
reported), the next page is read. Files attached to the PDF are handed to the dispatcher as
members, like archive members (a DOCX attached to a PDF is read as a DOCX).
"""

from __future__ import annotations

import ctypes
import itertools
import math
import tempfile
import time
from collections.abc import Iterator
from typing import IO, Any

from agent.extract import image, ocr
from agent.extract.archive import SPOOL_MEMORY, depth_error, join_member
from agent.extract.context import Abort, Context, Item, MemberLimit, Recurse

#: Page errors reported per file; more are counted in the last one's detail.
MAX_PAGE_ERRORS = 3
#: A page with fewer visible characters than this and an image on it is read by OCR as well.
SCANNED_PAGE_CHARS = 20
#: Page objects looked at for an image (a hostile page holds millions of paths and no text).
MAX_OBJECTS_LOOKED_AT = 10_000
#: Form field types whose value is an export name (check box, radio button, push button), not text.
_CHOICE_FIELDS = frozenset({1, 2, 3})
_PASSWORD_ERRORS = {
    4: "password-protected PDF (empty user password refused)",
    6: "unsupported security handler",
}


def extract_pdf(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    import pypdfium2 as pdfium

    ctx.check()
    doc, hold, err = _open(f)
    if doc is None:
        yield ctx.error(member, *err)
        return
    try:
        yield from ctx.chunk_text(member, _metadata(doc), "metadata")
        forms = _forms(doc)
        fields: dict[str, list[str]] = {}
        yield from _pages(doc, ctx, member, forms, fields)
        yield from ctx.chunk_text(member, _form_rows(fields), "body", tabular=True)
        yield from _attachments(doc, ctx, member, depth, recurse)
        if len(doc) == 0 and not doc.count_attachments():
            yield ctx.error(member, "malformed", "no page and no attached file")
    except pdfium.PdfiumError as e:
        yield ctx.error(member, "malformed", f"PDFium: {_reason(e)}")
    finally:
        doc.close()
        del hold


def _open(f: IO[bytes]) -> tuple[Any, Any, tuple[str, str]]:
    """(document, references to keep alive while it is open, (reason, detail) when it cannot open).

    A file up to ``SPOOL_MEMORY`` is handed to PDFium in memory (~4 % less CPU than PDFium calling
    back into Python for every block it reads, bench/bench_pdf.py); a larger one is read on demand
    through that callback, so a 2 GB PDF is never loaded into memory. A PDF with no page still opens
    (its attachments are content too).
    """
    import pypdfium2 as pdfium
    import pypdfium2.internal as pdfium_i
    import pypdfium2.raw as c

    f.seek(0, 2)
    size = f.tell()
    f.seek(0)
    hold: Any
    if size <= SPOOL_MEMORY:
        hold = f.read(size)
        raw = c.FPDF_LoadMemDocument64(hold, len(hold), None)
    else:
        hold = pdfium_i.get_bufreader(f)
        raw = c.FPDF_LoadCustomDocument(hold[0], None)
    if not raw:
        code = c.FPDF_GetLastError()
        if code in _PASSWORD_ERRORS:
            return None, None, ("encrypted", _PASSWORD_ERRORS[code])
        return None, None, ("malformed", f"PDFium: {pdfium_i.ErrorToStr.get(code)}")
    return pdfium.PdfDocument(raw), hold, ("", "")


def _reason(e: Exception) -> str:
    return str(e).split("(PDFium:", 1)[-1].strip(" ).") or type(e).__name__


def _metadata(doc: Any) -> str:
    out = []
    for key in ("Title", "Subject", "Keywords"):
        v = doc.get_metadata_value(key).strip()
        if v:
            out.append(f"{key}: {v}")
    return "\n".join(out)


def _pages(
    doc: Any, ctx: Context, member: str | None, forms: Any, fields: dict[str, list[str]]
) -> Iterator[Item]:
    """Every page's text into one body, page after page; a page that fails costs that page only."""
    ch = ctx.chunker(member)
    batch = image.OcrBatch(ctx, member, ch)
    try:
        yield from _page_loop(doc, ctx, member, forms, fields, batch)
    except Abort:  # past the deadline: what was read before still gets classified
        yield from batch.abandon()
        yield from ch.close()
        raise
    yield from ch.close()


def _page_loop(
    doc: Any,
    ctx: Context,
    member: str | None,
    forms: Any,
    fields: dict[str, list[str]],
    batch: image.OcrBatch,
) -> Iterator[Item]:
    """Pages in order; those that need OCR are rendered here and read by Tesseract a batch at a time."""
    import pypdfium2 as pdfium

    failed = 0
    for i in range(len(doc)):
        ctx.check()
        try:
            page = doc[i]
        except pdfium.PdfiumError:
            failed += 1
            if failed <= MAX_PAGE_ERRORS:
                yield ctx.error(member, "malformed", f"page {i + 1}: PDFium could not load it")
            continue
        scan = None
        try:
            if forms is not None:
                _widget_values(page, forms, fields)
            text = _page_text(page, ctx)
            if not batch.stopped and _needs_ocr(page, text):
                try:
                    scan = _render_for_ocr(page, ctx, i + 1)
                except MemberLimit as e:
                    yield from batch.refuse(e)
        finally:
            page.close()
        yield from batch.add(text, scan, f"page {i + 1}")
    yield from batch.flush()


def _page_text(page: Any, ctx: Context) -> str:
    ctx.check()
    textpage = page.get_textpage()
    try:
        text: str = textpage.get_text_range()
    finally:
        textpage.close()
    # PDFium ends lines with CRLF and marks a hyphen it broke a word at with U+0002
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x02", "-").replace("\ufffe", "")


def _needs_ocr(page: Any, text: str) -> bool:
    """A page without (much) text layer but with an image on it: a scan."""
    import pypdfium2.raw as c

    if len(text) >= 8 * SCANNED_PAGE_CHARS or len("".join(text.split())) >= SCANNED_PAGE_CHARS:
        return False
    objects = itertools.islice(page.get_objects(max_depth=2), MAX_OBJECTS_LOOKED_AT)
    return any(obj.type == c.FPDF_PAGEOBJ_IMAGE for obj in objects)


def _render_for_ocr(page: Any, ctx: Context, number: int) -> Any:
    """The page drawn at ``ocr_dpi`` (refused above the pixel limit, or past the OCR page limit)."""
    width, height = page.get_size()  # points
    scale = ctx.limits.ocr_dpi / 72
    px_w, px_h = max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))
    if px_w * px_h > ctx.limits.max_image_pixels:
        raise MemberLimit(
            "limit_pixels",
            f"page {number}: {px_w}x{px_h} pixels at {ctx.limits.ocr_dpi} dpi,"
            f" above {ctx.limits.max_image_pixels}",
        )
    image.admit(ctx)  # before rendering: a page that would not be read is not drawn
    ocr.announce_heavy(ctx)  # before drawing too: a scan the OCR lane defers has drawn nothing
    return render_gray(page, ctx, scale)


def render_gray(page: Any, ctx: Context, scale: float) -> Any:
    """The page as an 8-bit grayscale Pillow image, drawn progressively: PDFium asks the pause
    callback between steps, and the render is abandoned (timeout) once the deadline passes."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as c
    from PIL import Image

    width, height = page.get_size()
    px_w, px_h = max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))
    bitmap = pdfium.PdfBitmap.new_native(px_w, px_h, c.FPDFBitmap_Gray, rev_byteorder=False)
    try:
        bitmap.fill_rect((255, 255, 255, 255), 0, 0, px_w, px_h)
        deadline = ctx.deadline
        pause = c.IFSDK_PAUSE(version=1)
        need_pause = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(c.IFSDK_PAUSE))(
            lambda _: int(time.monotonic() > deadline)
        )
        pause.NeedToPauseNow = need_pause
        flags = c.FPDF_ANNOT
        status = c.FPDF_RenderPageBitmap_Start(bitmap, page, 0, 0, px_w, px_h, 0, flags, pause)
        while status == c.FPDF_RENDER_TOBECONTINUED and time.monotonic() <= deadline:
            status = c.FPDF_RenderPage_Continue(page, pause)
        c.FPDF_RenderPage_Close(page)
        # PDFium does not offer a pause point everywhere: a render that finished past the deadline
        # is over time all the same (the file's budget is spent; OCR of it would only add to it)
        if status == c.FPDF_RENDER_TOBECONTINUED or time.monotonic() > deadline:
            raise Abort(
                "timeout", f"time limit of {ctx.limits.timeout_seconds:g} s exceeded rendering a page"
            )
        return Image.frombuffer("L", (px_w, px_h), bytes(bitmap.buffer), "raw", "L", bitmap.stride, 1)
    finally:
        bitmap.close()


def _forms(doc: Any) -> Any:
    """The form environment of a document with an AcroForm (None without one)."""
    import pypdfium2.raw as c

    if doc.get_formtype() == c.FORMTYPE_NONE:
        return None
    doc.init_forms()
    return doc.formenv


def _widget_values(page: Any, forms: Any, fields: dict[str, list[str]]) -> None:
    """Filled-in values of the form fields on this page (not part of the page text)."""
    import pypdfium2.raw as c

    for i in range(c.FPDFPage_GetAnnotCount(page)):
        annot = c.FPDFPage_GetAnnot(page, i)
        if not annot:
            continue
        try:
            if c.FPDFAnnot_GetSubtype(annot) != c.FPDF_ANNOT_WIDGET:
                continue
            if c.FPDFAnnot_GetFormFieldType(forms, annot) in _CHOICE_FIELDS:
                continue
            name = _utf16(c.FPDFAnnot_GetFormFieldName, forms, annot)
            value = " ".join(_utf16(c.FPDFAnnot_GetFormFieldValue, forms, annot).split())
            if value and value not in fields.setdefault(name, []):
                fields[name].append(value)
        finally:
            c.FPDFPage_CloseAnnot(annot)


def _utf16(fn: Any, *args: Any) -> str:
    """A PDFium string getter: first call for the size, second to fill a UTF-16LE buffer."""
    n = fn(*args, None, 0)
    if n <= 2:
        return ""
    buf = ctypes.create_string_buffer(n)
    fn(*args, ctypes.cast(buf, ctypes.POINTER(ctypes.c_ushort)), n)
    return buf.raw[: n - 2].decode("utf-16-le", "replace")


def _form_rows(fields: dict[str, list[str]]) -> str:
    """One "name<TAB>value" row per filled-in value, by field name."""
    return "\n".join(f"{name}\t{v}" for name, values in sorted(fields.items()) for v in values)


def _attachments(doc: Any, ctx: Context, member: str | None, depth: int, recurse: Recurse) -> Iterator[Item]:
    """Files attached to the PDF (embedded files), recursed as members."""
    import pypdfium2.raw as c

    count = doc.count_attachments()
    if not count:
        return
    if (err := depth_error(ctx, member, depth + 1)) is not None:
        yield err
        return
    if count > ctx.limits.max_members:
        yield ctx.error(member, "limit_members", f"more than {ctx.limits.max_members} attached files")
    for i in range(min(count, ctx.limits.max_members)):
        ctx.check()
        att = doc.get_attachment(i)
        name = join_member(member, att.get_name() or f"attachment-{i + 1}")
        size = ctypes.c_ulong(0)
        if not c.FPDFAttachment_GetFile(att, None, 0, ctypes.byref(size)):
            yield ctx.error(name, "malformed", "attached file could not be read")
            continue
        if size.value > ctx.limits.max_member_bytes:
            yield ctx.error(name, "limit_bytes", f"member larger than {ctx.limits.max_member_bytes} bytes")
            continue
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY) as spool:
            spool.write(bytes(att.get_data()))
            spool.seek(0)
            yield from recurse(spool, name, depth + 1)
