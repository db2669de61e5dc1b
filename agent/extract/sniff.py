"""Content sniffing: magic bytes first, the file name only to tell apart formats sharing a container."""

from __future__ import annotations

import zipfile
from typing import IO

from agent.extract.image import is_image

#: Formats whose content must match their extension: a ``.docx`` that is not a zip is "malformed".
EXPECTED_BY_EXTENSION: dict[str, tuple[str, ...]] = {
    ".pdf": ("pdf",),
    ".docx": ("docx", "zip"),
    ".docm": ("docx", "zip"),
    ".xlsx": ("xlsx", "zip"),
    ".xlsm": ("xlsx", "zip"),
    ".pptx": ("pptx", "zip"),
    ".pptm": ("pptx", "zip"),
    ".odt": ("odt", "zip"),
    ".ods": ("ods", "zip"),
    ".zip": ("zip",),
    ".gz": ("gzip",),
    ".tgz": ("gzip",),
    ".bz2": ("bz2",),
    ".xz": ("xz",),
    ".msg": ("msg",),
}

_TEXTISH_CONTROL = set(range(0, 32)) - {9, 10, 12, 13, 27}


def _ext(name: str) -> str:
    base = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1].lower()
    return "." + base.rsplit(".", 1)[-1] if "." in base else ""


def sniff_format(head: bytes, name: str) -> str:
    """Name the format of a file from its first bytes (>= 512 recommended) and its name.

    Returns one of: text, csv, tsv, pdf, docx, xlsx, pptx, odt, ods, zip, tar, gzip, bz2, xz,
    eml, msg, ole, image, empty, binary.
    """
    ext = _ext(name)
    if not head:
        return "empty"
    if head.startswith(b"%PDF-") or (b"%PDF-" in head[:1024] and ext == ".pdf"):
        return "pdf"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(head, ext)
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"BZh") and len(head) > 3 and head[3:4].isdigit():
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "msg" if ext == ".msg" else "ole"
    if is_image(head):
        return "image"
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return _text_kind(ext, head)
    if _looks_binary(head):
        return "binary"
    return _text_kind(ext, head)


def _text_kind(ext: str, head: bytes) -> str:
    if ext == ".csv":
        return "csv"
    if ext == ".tsv":
        return "tsv"
    if ext == ".eml" or _looks_like_mail(head):
        return "eml"
    return "text"


def _looks_like_mail(head: bytes) -> bool:
    lines = head[:2048].replace(b"\r\n", b"\n").split(b"\n")[:30]
    names = {ln.split(b":", 1)[0].strip().lower() for ln in lines if b":" in ln and not ln[:1].isspace()}
    return b"received" in names or (
        b"mime-version" in names and (b"from" in names or b"content-type" in names) and b"subject" in names
    )


def _looks_binary(head: bytes) -> bool:
    sample = head[:4096]
    if b"\x00" in sample:
        # UTF-16 text without a BOM has a NUL in every other byte; anything else is binary.
        even, odd = sample[0::2], sample[1::2]
        return not (odd.count(0) > 0.9 * len(odd) or even.count(0) > 0.9 * len(even))
    bad = sum(1 for b in sample if b in _TEXTISH_CONTROL)
    return bad > max(2, len(sample) // 10)


def _zip_kind(head: bytes, ext: str) -> str:
    """OOXML and ODF are zips: the name of the first entries and the extension tell them apart."""
    if b"mimetypeapplication/vnd.oasis.opendocument.text" in head[:200]:
        return "odt"
    if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head[:200]:
        return "ods"
    for fmt, exts, marker in (
        ("docx", (".docx", ".docm", ".dotx"), b"word/"),
        ("xlsx", (".xlsx", ".xlsm", ".xltx"), b"xl/"),
        ("pptx", (".pptx", ".pptm", ".potx"), b"ppt/"),
    ):
        if ext in exts or marker in head:
            return fmt
    return "zip"


def refine_zip(fmt: str, f: IO[bytes]) -> str:
    """A zip whose head did not reveal it: look at its central directory for OOXML/ODF parts."""
    if fmt != "zip":
        return fmt
    try:
        with zipfile.ZipFile(f) as zf:
            names = set(zf.namelist()[:2000])
    except Exception:
        return fmt
    finally:
        f.seek(0)
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return "docx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "ppt/presentation.xml" in names:
            return "pptx"
    return fmt
