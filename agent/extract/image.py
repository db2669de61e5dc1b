"""Images are content too: every page image is read by OCR, wherever it comes from.

One reader for image bytes from anywhere: a standalone PNG/JPEG/TIFF/BMP/GIF/WebP file, a mail
attachment or archive member (the dispatcher sends every member it sniffs as an image here), the
media of a DOCX/PPTX/XLSX/ODF package (:func:`package_images`), and PDF pages without a text layer
(agent.extract.pdf renders them and hands them to an :class:`OcrBatch`). The pages of a file go to
Tesseract a batch at a time (:data:`BATCH_PAGES`): one run per page spent 0.3 CPU s of each 0.4
loading the four default language models (bench/bench_ocr.py).

Bounds, each past its limit an error with a precise reason, never silence:
- pixels per page image, read from the header *before* decoding (``limit_pixels``; Pillow's own
  ``MAX_IMAGE_PIXELS`` guard is set to the same limit as a second line);
- page images per top-level file (``limit_pages``), counted across members;
- seconds per file: the OCR child gets the file's remaining deadline (``timeout``);
- no Tesseract: ``ocr_unavailable``.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from typing import IO, Any

from agent.extract import ocr
from agent.extract.archive import zip_members
from agent.extract.context import Abort, Chunker, Context, Item, MemberLimit, Recurse

#: The Pillow plugins allowed to open a file (no EPS, no PSD, nothing that runs Ghostscript).
FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP")
#: Formats whose frames are pages; the frames of a GIF or WebP are an animation: the first is read.
PAGED = frozenset({"TIFF"})
#: Smaller than this (either side, in pixels) an image cannot hold a legible line of text.
MIN_SIDE = 10
#: Reasons after which no further page of the file is sent to OCR.
STOP_REASONS = frozenset({"limit_pages", "ocr_unavailable"})
#: Where OOXML and ODF packages keep their pictures.
MEDIA_DIRS = ("word/media/", "ppt/media/", "xl/media/", "Pictures/")
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"II*\x00", b"MM\x00*")
#: Page images read by one Tesseract run ...
BATCH_PAGES = 8
#: ... and the pixels held for it at most (8-bit gray: bytes; one page above it is a batch alone).
BATCH_PIXELS = 32_000_000


def is_image(head: bytes) -> bool:
    """Magic bytes of the formats read here (PNG, JPEG, GIF, TIFF, WebP, BMP)."""
    if head.startswith(IMAGE_MAGIC):
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    # BMP: "BM", reserved words zero, a known DIB header size (a text file starting "BM" is not one)
    return (
        head[:2] == b"BM"
        and head[6:10] == b"\0\0\0\0"
        and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124)
    )


def _pillow(ctx: Context) -> Any:
    import warnings

    from PIL import Image

    # Pillow refuses (DecompressionBombError) above twice this at open: the header check in
    # claim already refuses anything above the limit itself; this is the second line (its
    # warning between 1x and 2x says what claim reports anyway).
    Image.MAX_IMAGE_PIXELS = ctx.limits.max_image_pixels
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    return Image


def extract_image(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """A standalone image (file or member): each page OCRed into the member's body text."""
    Image = _pillow(ctx)
    try:
        img = Image.open(f, formats=FORMATS)
    except Image.DecompressionBombError:
        yield ctx.error(member, "limit_pixels", f"image above {ctx.limits.max_image_pixels} pixels")
        return
    except Image.UnidentifiedImageError:
        yield ctx.error(member, "malformed", "not a readable PNG, JPEG, TIFF, BMP, GIF or WebP image")
        return
    with img:
        ch = ctx.chunker(member)
        batch = OcrBatch(ctx, member, ch)
        try:
            yield from _pages(img, ctx, member, batch)
        except Abort:  # past the deadline: the pages read before it are still classified
            yield from batch.abandon()
            yield from ch.close()
            raise
        yield from ch.close()


def _pages(img: Any, ctx: Context, member: str | None, batch: OcrBatch) -> Iterator[Item]:
    for page, frame in enumerate(_frames(img, ctx), 1):
        try:
            yield from batch.add("", frame, f"page {page}")
        except OSError as e:  # truncated or corrupt image data: this page is lost, not the rest
            yield ctx.error(member, "malformed", f"page {page}: {type(e).__name__} decoding the image")
        if batch.stopped:
            break
    yield from batch.flush()


def _frames(img: Any, ctx: Context) -> Iterator[Any]:
    """The pages of a TIFF (one past the page limit at most, so it is reported); else the first frame."""
    yield img
    if img.format not in PAGED:
        return
    for i in range(1, ctx.limits.max_ocr_pages + 1):
        try:
            img.seek(i)
        except (EOFError, ValueError):
            return
        yield img


class OcrBatch:
    """The pages of one file in reading order, each with its text (a PDF's text layer) and maybe an
    image to OCR. The images go to Tesseract a batch at a time; a page's text goes on to the chunker
    once every image up to it has been read, so the body keeps page order."""

    def __init__(self, ctx: Context, member: str | None, ch: Chunker) -> None:
        self.ctx, self.member, self.ch = ctx, member, ch
        self.pages: list[tuple[str, Any, str]] = []  # (text, gray image to OCR or None, "page N")
        self.pixels = 0  # of the queued images
        self.images = 0  # queued images
        self.stopped = False  # a STOP_REASONS limit was hit: no further page goes to OCR

    def add(self, text: str, img: Any, where: str) -> Iterator[Item]:
        """One page. ``img``: its image to OCR, or None. Limit errors are yielded here; an image that
        cannot be decoded raises OSError before anything is queued."""
        gray = None
        if img is not None and not self.stopped:
            try:
                gray = claim(img, self.ctx, where)
            except MemberLimit as e:
                yield from self.refuse(e)
        if gray is not None and self.pixels and self.pixels + gray.width * gray.height > BATCH_PIXELS:
            yield from self.flush()
        self.pages.append((text, gray, where))
        if gray is not None:
            self.pixels += gray.width * gray.height
            self.images += 1
        if not self.images or self.images >= BATCH_PAGES:
            yield from self.flush()

    def refuse(self, e: MemberLimit) -> Iterator[Item]:
        """A page refused before OCR (pixels, pages, no Tesseract): its error; OCR stops at a stop reason."""
        self.stopped = self.stopped or e.reason in STOP_REASONS
        yield self.ctx.error(self.member, e.reason, e.detail)

    def flush(self) -> Iterator[Item]:
        """OCR the images queued, then pass every queued page's text on, in order."""
        pages, self.pages, self.pixels, self.images = self.pages, [], 0, 0
        images = [(img, where) for _, img, where in pages if img is not None]
        read: list[str] = []
        if images:
            try:
                read = ocr.recognize([img for img, _ in images], self.ctx, self.ctx.limits.ocr_languages)
            except ocr.OcrUnavailable as e:
                yield from self.refuse(MemberLimit("ocr_unavailable", str(e)))
            except MemberLimit as e:
                pages_read = images[0][1] if len(images) == 1 else f"{images[0][1]} to {images[-1][1]}"
                yield from self.refuse(MemberLimit(e.reason, f"{pages_read}: {e.detail}"))
            except Abort:
                yield from self._feed([text for text, _, _ in pages])
                raise
        texts = iter(read)
        yield from self._feed([t + ("\n" + next(texts, "") if g is not None else "") for t, g, _ in pages])

    def abandon(self) -> Iterator[Item]:
        """Past the deadline: the queued pages' own text still goes on, their images are not read."""
        pages, self.pages, self.pixels, self.images = self.pages, [], 0, 0
        yield from self._feed([text for text, _, _ in pages])

    def _feed(self, texts: list[str]) -> Iterator[Item]:
        for text in texts:
            if text.strip():
                yield from self.ch.feed(text.rstrip("\n") + "\n")


def claim(img: Any, ctx: Context, where: str) -> Any:
    """Admit one page image to OCR, enforcing the pixel and page limits before decoding it; the image
    in 8-bit gray on white, or None when it is too small to hold text.

    ``where`` names the page in error details ("page 3"). Raises :class:`MemberLimit` with
    ``limit_pixels``, ``limit_pages`` or ``ocr_unavailable``, OSError when the image cannot be decoded.
    """
    width, height = img.size
    if width * height > ctx.limits.max_image_pixels:
        raise MemberLimit(
            "limit_pixels", f"{where}: {width}x{height} pixels, above {ctx.limits.max_image_pixels}"
        )
    if min(width, height) < MIN_SIDE:
        return None
    admit(ctx)
    ocr.announce_heavy(ctx)  # once per file (a PDF page announced it before it was drawn)
    gray = _flatten(img)
    ctx.ocr_pages += 1
    return gray


def admit(ctx: Context) -> str:
    """May one more page of this file go to OCR? The Tesseract languages to use if so.

    Raises :class:`MemberLimit` with ``limit_pages`` or ``ocr_unavailable`` (checked before a PDF
    page is rendered, so no render is wasted).
    """
    if ctx.ocr_pages >= ctx.limits.max_ocr_pages:
        raise MemberLimit("limit_pages", f"more than {ctx.limits.max_ocr_pages} page images to OCR per file")
    try:
        return ocr.usable_languages(ctx.limits.ocr_languages)
    except ocr.OcrUnavailable as e:
        raise MemberLimit("ocr_unavailable", str(e)) from None


def _flatten(img: Any) -> Any:
    """Grayscale on a white background: transparent pixels are not black ink."""
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        from PIL import Image

        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    return img.convert("L")


def package_images(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Pictures inside an OOXML/ODF package (a scan pasted into a DOCX), each read as a member."""
    f.seek(0)
    with zipfile.ZipFile(f) as zf:
        infos = [i for i in zf.infolist() if i.filename.startswith(MEDIA_DIRS) and not i.is_dir()]
        infos = [i for i in infos[: ctx.limits.max_members] if _member_is_image(zf, i)]
        yield from zip_members(zf, infos, ctx, member, depth, recurse)


def _member_is_image(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Only raster images are read as pictures (EMF/WMF/SVG logos are drawings, not scans)."""
    try:
        with zf.open(info) as src:
            return is_image(src.read(32))
    except Exception:
        return True  # unreadable: let read_member report why
