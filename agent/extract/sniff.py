"""Content sniffing: magic bytes first, the file name only to tell apart formats sharing a container."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

import olefile

from agent.extract.image import is_image
from agent.models import KEYSTORE_PART, TextChunk

if TYPE_CHECKING:
    from agent.extract.context import Context

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
    ".doc": ("doc", "rtf"),  # Word saves RTF under .doc ("Save as RTF" keeps the name)
    ".xls": ("xls",),
    ".ppt": ("ppt",),
    ".rtf": ("rtf",),
    ".7z": ("7z",),
    ".rar": ("rar",),
    ".cab": ("cab",),
    ".iso": ("iso",),
    ".cpio": ("cpio",),
    ".z": ("compress",),
    ".epub": ("epub", "zip"),
    ".xps": ("xps", "zip"),
    ".oxps": ("xps", "zip"),
    ".vsdx": ("vsdx", "zip"),
    ".wpd": ("wpd",),
    ".vsd": ("vsd",),
    ".chm": ("chm",),
    ".one": ("onenote",),
    ".pst": ("pst",),
    ".ost": ("pst",),
}

#: Formats that carry no text layer by design (a short explicit list): read as "no text expected".
#: Images are not in it: their text is read by OCR. Anything else unreadable is ``unsupported_format``.
NO_TEXT_FORMATS = frozenset({"audio", "video", "font", "executable"})

#: Magic numbers at offset 0, tried in order (the first match wins).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG", "image"),
    (b"\xff\xd8\xff", "image"),
    (b"GIF8", "image"),
    (b"II*\x00", "image"),
    (b"MM\x00*", "image"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"MSCF\x00\x00\x00\x00", "cab"),
    (b"\x1f\x9d", "compress"),
    (b"070701", "cpio"),
    (b"070702", "cpio"),
    (b"070707", "cpio"),
    (b"\xc7\x71", "cpio"),
    (b"\x71\xc7", "cpio"),
    (b"!BDN", "pst"),
    (b"\xffWPC", "wpd"),  # WordPerfect 5.x-X9 (and its templates, graphics)
    (b"ITSF\x03\x00\x00\x00", "chm"),
    (b"\xe4\x52\x5c\x7b\x8c\xd8\xa7\x4d\xae\xb1\x53\x78\xd0\x29\x96\xd3", "onenote"),
    (b"{\\rtf", "rtf"),
    (b"\x7fELF", "executable"),
    (b"MZ", "executable"),
    (b"\xcf\xfa\xed\xfe", "executable"),
    (b"\xce\xfa\xed\xfe", "executable"),
    (b"\xca\xfe\xba\xbe", "executable"),
    (b"\x00\x01\x00\x00\x00", "font"),
    (b"OTTO", "font"),
    (b"true\x00", "font"),
    (b"wOFF", "font"),
    (b"wOF2", "font"),
    (b"ID3", "audio"),
    (b"fLaC", "audio"),
    (b"OggS", "audio"),
    (b"\xff\xfb", "audio"),
    (b"\xff\xf3", "audio"),
    (b"\xff\xf2", "audio"),
    (b"\x1aE\xdf\xa3", "video"),
    (b"\x00\x00\x01\xba", "video"),
    (b"\x00\x00\x01\xb3", "video"),
    (b"FLV\x01", "video"),
    (b"RIFF", "riff"),
)
_RIFF = {b"WAVE": "audio", b"AVI ": "video", b"WEBP": "image"}
_FTYP_AUDIO = (b"M4A ", b"M4B ", b"M4P ")
_FTYP_IMAGE = (b"heic", b"heix", b"mif1", b"avif")
_ISO_OFFSETS = (0x8001, 0x8801, 0x9001)
#: OLE compound files: the stream that tells what the document is.
_OLE_STREAMS: tuple[tuple[str, str], ...] = (
    ("EncryptedPackage", "ooxml_encrypted"),
    ("WordDocument", "doc"),
    ("Workbook", "xls"),
    ("Book", "xls"),
    ("PowerPoint Document", "ppt"),
    ("VisioDocument", "vsd"),
    ("Quill/QuillSub/CONTENTS", "pub"),
    ("__properties_version1.0", "msg"),
)

_TEXTISH_CONTROL = set(range(0, 32)) - {9, 10, 12, 13, 27}
#: Every byte but those: deleting them leaves only the control bytes (counted by a bytes translation).
_NOT_CONTROL = bytes(b for b in range(256) if b not in _TEXTISH_CONTROL)


def _ext(name: str) -> str:
    base = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1].lower()
    return "." + base.rsplit(".", 1)[-1] if "." in base else ""


def sniff_format(head: bytes, name: str) -> str:
    """Name the format of a file from its first bytes (>= 512 recommended) and its name.

    Returns one of: text, csv, tsv, pdf, docx, xlsx, pptx, odt, ods, zip, tar, gzip, bz2, xz,
    eml, emlx, mbox, msg, ole, rtf, 7z, rar, cab, cpio, compress, pst, epub, image, audio, video, font,
    executable, keystore, empty, binary; from the zip directory: xps, vsdx, iwork. :func:`refine` then
    looks inside zip, OLE and binary files.
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
    if (magic := _magic(head)) is not None:
        return magic
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return _text_kind(ext, head)
    if _looks_binary(head):
        return "binary"
    return _text_kind(ext, head)


#: Short magics that text may start with ("MZ Holding", "BMW"): only taken when the head is binary.
_WEAK_MAGIC = frozenset({b"MZ", b"BM", b"070701", b"070702", b"070707"})


def _magic(head: bytes) -> str | None:
    if is_image(head):  # first: its BMP check is strict, where a bare "BM" prefix is not
        return "image"
    if keystore_kind(head) is not None:
        return "keystore"
    if _is_biff(head):
        return "xls"
    for magic, fmt in _MAGIC:
        if head.startswith(magic):
            if magic in _WEAK_MAGIC and not _looks_binary(head):
                return None
            return _RIFF.get(head[8:12], "binary") if fmt == "riff" else fmt
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "audio" if brand in _FTYP_AUDIO else "image" if brand in _FTYP_IMAGE else "video"
    return None


def _is_biff(head: bytes) -> bool:
    """A bare BIFF2-BIFF5 worksheet stream (Excel 2-5 saved outside an OLE file): BOF record first."""
    return (
        len(head) >= 8
        and head[1] in (0, 2, 4, 8)
        and head[0] == 9
        and head[2:4] in (b"\x04\x00", b"\x06\x00", b"\x08\x00", b"\x10\x00")
    )


#: An mbox envelope line: "From sender@example.org Mon Jan  1 00:00:00 2024" (asctime date), then a header.
_MBOX_FROM = re.compile(
    rb"From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d [\d:]{8} [^\n]*\n[\w-]+:"
)


def _text_kind(ext: str, head: bytes) -> str:
    if ext == ".csv":
        return "csv"
    if ext == ".tsv":
        return "tsv"
    if ext == ".eml":  # one message, perhaps with an mbox "From " envelope line (the parser skips it)
        return "eml"
    if head.startswith(b"From ") and (_MBOX_FROM.match(head) or _looks_like_mail(head.split(b"\n", 1)[-1])):
        return "mbox"
    first, _, rest = head.partition(b"\n")
    if first.strip().isdigit() and _looks_like_mail(rest):
        return "emlx"
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
        # Both halves NUL (a zero-filled header: ISO 9660, disk images) is binary too.
        even, odd = sample[0::2], sample[1::2]
        return (odd.count(0) > 0.9 * len(odd)) == (even.count(0) > 0.9 * len(even))
    bad = len(sample.translate(None, _NOT_CONTROL))  # a byte loop in Python: 0.15 ms per file
    return bad > max(2, len(sample) // 10)


def _zip_kind(head: bytes, ext: str) -> str:
    """OOXML and ODF are zips: the name of the first entries and the extension tell them apart."""
    if b"mimetypeapplication/vnd.oasis.opendocument.text" in head[:200]:
        return "odt"
    if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head[:200]:
        return "ods"
    if b"mimetypeapplication/epub+zip" in head[:200]:
        return "epub"
    for fmt, exts, marker in (
        ("docx", (".docx", ".docm", ".dotx"), b"word/"),
        ("xlsx", (".xlsx", ".xlsm", ".xltx"), b"xl/"),
        ("pptx", (".pptx", ".pptm", ".potx"), b"ppt/"),
    ):
        if ext in exts or marker in head:
            return fmt
    return "zip"


def refine(fmt: str, f: IO[bytes]) -> str:
    """Look past the first bytes: zip directories, OLE stream names, ISO 9660 volume descriptors."""
    if fmt == "zip":
        return refine_zip(fmt, f)
    if fmt in ("ole", "msg"):
        return refine_ole(f)
    if fmt == "binary":
        return _refine_iso(f)
    return fmt


def refine_ole(f: IO[bytes]) -> str:
    """Word, Excel, PowerPoint, Outlook or another OLE compound file, by its directory's streams."""
    try:
        with olefile.OleFileIO(f) as ole:
            names = {"/".join(e) for e in ole.listdir(streams=True, storages=False)}
    except Exception:
        return "ole"
    finally:
        f.seek(0)
    for stream, fmt in _OLE_STREAMS:
        if stream in names:
            return fmt
    return "ole"


def _refine_iso(f: IO[bytes]) -> str:
    for off in _ISO_OFFSETS:
        f.seek(off)
        if f.read(5) == b"CD001":
            f.seek(0)
            return "iso"
    f.seek(0)
    return "binary"


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
        if "visio/document.xml" in names:
            return "vsdx"
    return _zip_document(names) or fmt


def _zip_document(names: set[str]) -> str | None:
    """XPS/OpenXPS (a FixedDocumentSequence), EPUB without its mimetype first, iWork packages."""
    if any(n.lower().endswith((".fdseq", ".fpage")) for n in names):
        return "xps"
    if "META-INF/container.xml" in names and any(n.endswith(".opf") for n in names):
        return "epub"
    if ("buildVersionHistory.plist" in names and "index.xml" in names) or any(
        n == "Index.zip"
        or (n.startswith("Index/") and n.endswith(".iwa"))
        or n in ("index.apxl", "index.xml.gz")
        for n in names
    ):
        return "iwork"  # Pages/Numbers/Keynote '13+ (.iwa parts) or '09 (XML)
    return None


# -- binary keystores: recognised here by their header, judged in agent/classify/keystore.py ---------

#: How much of a keystore the marker carries (keystores are a few KB; the JDK's cacerts ~200 KB).
KEYSTORE_MAX_BYTES = 1 << 20
#: ContentInfo OID of a PFX's authSafe: PKCS#7 data (1.2.840.113549.1.7.1) or signedData (.7.2).
_PFX_AUTHSAFE_OID = b"\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x07"


def keystore_kind(head: bytes) -> str | None:
    """``pkcs12``, ``jks``, ``jceks`` or ``keytab`` when the head has that format's header, else None.

    Strict enough that other binaries are not taken for keystores: JKS/JCEKS magic and version,
    the PFX outer SEQUENCE with version 3 and a PKCS#7 authSafe (RFC 7292), a keytab's version 0x0502
    and a plausible first entry (MIT krb5 keytab format).
    """
    if head[:4] == b"\xfe\xed\xfe\xed" and head[4:8] in (b"\x00\x00\x00\x01", b"\x00\x00\x00\x02"):
        return "jks"
    if head[:8] == b"\xce\xce\xce\xce\x00\x00\x00\x02":
        return "jceks"
    if _is_pfx(head):
        return "pkcs12"
    if _is_keytab(head):
        return "keytab"
    return None


def _der_header(buf: bytes, pos: int) -> int | None:
    """Length of the one-byte tag and the length octets at ``pos`` (definite or BER indefinite)."""
    if pos + 2 > len(buf):
        return None
    first = buf[pos + 1]
    if first <= 0x80:
        return 2
    n = first & 0x7F
    return 2 + n if n <= 4 and pos + 2 + n <= len(buf) else None


def _is_pfx(head: bytes) -> bool:
    if (
        head[:1] != b"\x30"
        or (pos := _der_header(head, 0)) is None
        or head[pos : pos + 4] != b"\x02\x01\x03\x30"
    ):
        return False
    if (inner := _der_header(head, pos + 3)) is None:
        return False
    oid_at = pos + 3 + inner
    oid_end = oid_at + len(_PFX_AUTHSAFE_OID)
    return head[oid_at:oid_end] == _PFX_AUTHSAFE_OID and head[oid_end : oid_end + 1] in (b"\x01", b"\x02")


def _is_keytab(head: bytes) -> bool:
    """Version 0x0502, then the first entry: size, component count, realm (printable ASCII)."""
    if head[:2] != b"\x05\x02" or len(head) < 12:
        return False
    size = int.from_bytes(head[2:6], "big", signed=True)
    components = int.from_bytes(head[6:8], "big")
    realm_len = int.from_bytes(head[8:10], "big")
    realm = head[10 : 10 + realm_len]
    return (
        12 < size < 1 << 16
        and 1 <= components <= 32
        and 0 < realm_len <= 255
        and len(realm) == realm_len
        and all(0x21 <= b < 0x7F for b in realm)
    )


def extract_keystore(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: object
) -> Iterator[TextChunk]:
    """One typed marker chunk: part ``keystore:<kind>``, the raw bytes as latin-1 (lossless), so the
    classifier can parse the entries (a private key, or certificates only) without extract judging."""
    data = f.read(KEYSTORE_MAX_BYTES)
    kind = keystore_kind(data) or "unknown"
    yield TextChunk(ctx.path, member, data.decode("latin-1"), part=KEYSTORE_PART + kind)
