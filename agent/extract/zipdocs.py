"""Documents that are zips of XML: EPUB, XPS/OpenXPS, Visio .vsdx, and Apple iWork.

Read as what they are, not as generic zips (whose XML members gave markup and whose fonts and
styles gave noise):

* **EPUB** (OCF/OPF 2 and 3): the text of the XHTML content documents in spine order, then any
  content document left out of the spine; the package metadata (title, rights, description...).
  Pictures go to the dispatcher (OCR); resources the package lists as encrypted (DRM) are one
  ``encrypted`` error.
* **XPS / OpenXPS**: every FixedPage in the order of its FixedDocumentSequence, the ``UnicodeString``
  of each ``Glyphs`` run (runs on one baseline joined into a line); pictures go to OCR.
* **Visio .vsdx**: shape text on every page and master, shape data (custom properties, labels and
  values), comments, page names; pictures and embedded objects as members.
* **iWork** (Pages, Numbers, Keynote): the text lives in ``.iwa`` parts (Snappy-framed protobuf
  with no published schema and no maintained reader); the preview (``QuickLook/Preview.pdf``,
  ``preview.jpg``) and the user's files in ``Data/`` are read, and the unread ``.iwa`` text is
  reported once per document as ``unsupported_format``, never as clean.

Parts are parsed with lxml without entities or network; the package was checked against the zip
limits (members, sizes, ratio) before any part is inflated.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator
from typing import IO, Any

from lxml import etree

from agent.extract.archive import zip_members
from agent.extract.context import Context, Item, Recurse
from agent.extract.mail import html_to_text

#: No DTD loading, no network, no huge trees, no recovery: a part that does not parse is an error
#: record for the document, never a page silently dropped.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)
_PICTURE = re.compile(r"\.(png|jpe?g|gif|tiff?|bmp|webp|jxr|wdp)$", re.IGNORECASE)


class EntityDeclared(ValueError):
    """An XML part declares entities: libxml2 expands internal ones inside attribute values even with
    ``resolve_entities=False`` (a billion-laughs in a Glyphs ``UnicodeString``). OPC packages (XPS,
    .vsdx) forbid DTDs and EPUB package documents have no use for them, so the document is refused."""


def _xml(zf: zipfile.ZipFile, name: str) -> Any | None:
    try:
        data = zf.read(name)
    except KeyError:
        return None
    if b"<!ENTITY" in data:
        raise EntityDeclared(f"XML part {posixpath.basename(name)[:40]} declares entities")
    return etree.fromstring(data, _PARSER) if data.strip() else None


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _resolve(base: str, href: str) -> str:
    """A part name from a reference relative to ``base`` (a part name), without any leading slash."""
    href = href.split("#", 1)[0]
    joined = href if href.startswith("/") else posixpath.join(posixpath.dirname(base), href)
    return posixpath.normpath(joined).lstrip("/")


def _pictures(
    zf: zipfile.ZipFile, names: Iterable[str], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    infos = [zf.getinfo(n) for n in names if _PICTURE.search(n)]
    yield from zip_members(zf, infos[: ctx.limits.max_members], ctx, member, depth, recurse)


# --- EPUB ------------------------------------------------------------------------------------------

_HTML_TYPES = ("application/xhtml+xml", "text/html", "application/x-dtbook+xml")


def extract_epub(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """The spine's content documents in reading order, the package metadata, pictures as members."""
    with zipfile.ZipFile(f) as zf:
        names = set(zf.namelist())
        container = _xml(zf, "META-INF/container.xml")
        opf_name = next(
            (
                str(e.get("full-path"))
                for e in _iter(container)
                if _local(e.tag) == "rootfile" and e.get("full-path")
            ),
            None,
        )
        opf = _xml(zf, opf_name) if opf_name and opf_name in names else None
        if opf is None or opf_name is None:
            yield ctx.error(member, "malformed", "EPUB without a readable package document")
            return
        yield from ctx.chunk_text(member, _opf_metadata(opf), "metadata")
        documents, pictures = _opf_items(opf, opf_name, names)
        for name in documents:
            ctx.check()
            text = html_to_text(zf.read(name).decode("utf-8", "replace"))
            yield from ctx.chunk_text(member, text, "body")
        locked = _encrypted(zf)
        if locked:
            yield ctx.error(member, "encrypted", f"{len(locked)} EPUB resources encrypted (DRM)")
        yield from _pictures(zf, [p for p in pictures if p not in locked], ctx, member, depth, recurse)


def _iter(root: Any) -> Iterator[Any]:
    return iter(root.iter()) if root is not None else iter(())


def _opf_metadata(opf: Any) -> str:
    lines = []
    for e in opf.iter():
        parent = e.getparent()
        if parent is not None and _local(parent.tag) == "metadata" and e.text and e.text.strip():
            lines.append(" ".join(e.text.split()))
    return "\n".join(lines)


def _opf_items(opf: Any, opf_name: str, names: set[str]) -> tuple[list[str], list[str]]:
    """(content documents: spine order first, then the rest of the manifest; pictures)."""
    manifest: dict[str, tuple[str, str]] = {}
    for e in opf.iter():
        if _local(e.tag) == "item" and e.get("href"):
            manifest[str(e.get("id"))] = (
                _resolve(opf_name, str(e.get("href"))),
                str(e.get("media-type", "")),
            )
    spine = [str(e.get("idref")) for e in opf.iter() if _local(e.tag) == "itemref"]
    ordered = [manifest[i][0] for i in spine if i in manifest]
    rest = [n for n, t in manifest.values() if t in _HTML_TYPES and n not in ordered]
    documents = list(dict.fromkeys(n for n in ordered + rest if n in names))
    pictures = [n for n, t in manifest.values() if t.startswith("image/") and n in names]
    return documents, pictures


def _encrypted(zf: zipfile.ZipFile) -> set[str]:
    enc = _xml(zf, "META-INF/encryption.xml")
    refs = (e.get("URI") for e in _iter(enc) if _local(e.tag) == "CipherReference")
    return {_resolve("", str(u)) for u in refs if u}


# --- XPS / OpenXPS ---------------------------------------------------------------------------------


def extract_xps(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Glyph text of every FixedPage, in document order; pictures as members."""
    with zipfile.ZipFile(f) as zf:
        names = zf.namelist()
        for i, page in enumerate(_xps_pages(zf, names), start=1):
            ctx.check()
            root = _xml(zf, page)
            if root is not None:
                yield from ctx.chunk_text(member, _glyph_lines(root), f"page:{i}")
        yield from _pictures(
            zf, [n for n in names if not n.startswith("_rels/")], ctx, member, depth, recurse
        )


def _xps_pages(zf: zipfile.ZipFile, names: list[str]) -> list[str]:
    """FixedPage part names: sequence -> documents -> pages, then any page no document references."""
    present = set(names)
    seqs = [n for n in names if n.lower().endswith(".fdseq")]
    pages: list[str] = []
    for seq in seqs:
        for ref in _refs(_xml(zf, seq), "DocumentReference"):
            doc = _resolve(seq, ref)
            if doc in present:
                pages.extend(_resolve(doc, p) for p in _refs(_xml(zf, doc), "PageContent"))
    pages = [p for p in dict.fromkeys(pages) if p in present]
    stray = sorted((n for n in names if n.lower().endswith(".fpage") and n not in pages), key=_natural)
    return pages + stray


def _refs(root: Any, element: str) -> list[str]:
    return [str(e.get("Source")) for e in _iter(root) if _local(e.tag) == element and e.get("Source")]


def _natural(name: str) -> list[object]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def _glyph_lines(root: Any) -> str:
    """``Glyphs/@UnicodeString`` runs; runs on one baseline (OriginY) form one line."""
    out: list[str] = []
    last_y: float | None = None
    for e in root.iter():
        if _local(e.tag) != "Glyphs":
            continue
        text = str(e.get("UnicodeString") or "")
        text = text[2:] if text.startswith("{}") else text  # "{}" escapes a literal leading brace
        try:
            y: float | None = float(e.get("OriginY", ""))
        except ValueError:
            y = None
        if out:
            out.append(" " if y is not None and last_y is not None and abs(y - last_y) < 0.5 else "\n")
        out.append(text)
        last_y = y
    return "".join(out)


# --- Visio .vsdx -----------------------------------------------------------------------------------


def extract_vsdx(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Page names, shape text and shape data of every page and master, comments; media as members."""
    with zipfile.ZipFile(f) as zf:
        names = zf.namelist()
        pages = _xml(zf, "visio/pages/pages.xml")
        titles = [str(e.get("Name")) for e in _iter(pages) if _local(e.tag) == "Page" and e.get("Name")]
        yield from ctx.chunk_text(member, "\n".join(titles), "metadata")
        parts = sorted((n for n in names if re.fullmatch(r"visio/pages/page\d+\.xml", n)), key=_natural)
        masters = sorted((n for n in names if re.fullmatch(r"visio/masters/master\d+\.xml", n)), key=_natural)
        for i, name in enumerate(parts, start=1):
            ctx.check()
            yield from ctx.chunk_text(member, _shapes_text(_xml(zf, name)), f"page:{i}")
        for name in masters:
            yield from ctx.chunk_text(member, _shapes_text(_xml(zf, name)), "masters")
        comments = _xml(zf, "visio/comments.xml")
        yield from ctx.chunk_text(member, "\n".join(_texts(comments, "CommentEntry")), "comments")
        media = [n for n in names if n.startswith(("visio/media/", "visio/embeddings/"))]
        infos = [zf.getinfo(n) for n in media if not n.endswith((".emf", ".wmf"))]
        yield from zip_members(zf, infos[: ctx.limits.max_members], ctx, member, depth, recurse)


def _texts(root: Any, element: str) -> list[str]:
    return ["".join(e.itertext()).strip() for e in _iter(root) if _local(e.tag) == element]


def _shapes_text(root: Any) -> str:
    """Each shape's text (its ``Text`` element, fields and paragraph marks included), then its data."""
    lines: list[str] = []
    for e in _iter(root):
        tag = _local(e.tag)
        if tag == "Text":
            text = "".join(e.itertext()).strip()
            if text:
                lines.append(text)
        elif tag == "Row" and _local(e.getparent().tag) == "Section" and e.getparent().get("N") == "Property":
            cells = {str(c.get("N")): str(c.get("V") or "") for c in e if _local(c.tag) == "Cell"}
            pair = "\t".join(v for v in (cells.get("Label", ""), cells.get("Value", "")) if v)
            if pair:
                lines.append(pair)
    return "\n".join(lines)


# --- iWork ----------------------------------------------------------------------------------------

#: The document's own rendering of its first page(s): read instead of the unreadable .iwa text.
_PREVIEWS = ("QuickLook/Preview.pdf", "preview.pdf", "preview.jpg", "QuickLook/Thumbnail.jpg")


def extract_iwork(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """The preview and the embedded files; one ``unsupported_format`` for the .iwa text left unread."""
    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        iwa = [i for i in infos if i.filename.endswith(".iwa") or i.filename == "Index.zip"]
        preview = next((i for p in _PREVIEWS for i in infos if i.filename == p), None)
        data = [i for i in infos if i.filename.startswith("Data/") and not i.is_dir()]
        xml = [i for i in infos if i.filename in ("index.xml", "index.apxl", "index.xml.gz", "index.apxl.gz")]
        chosen = ([preview] if preview is not None else []) + xml + data
        yield from zip_members(zf, chosen[: ctx.limits.max_members], ctx, member, depth, recurse)
        if iwa:
            seen = "its preview" if preview is not None else "no preview"
            yield ctx.error(
                member, "unsupported_format", f"iWork text in {len(iwa)} .iwa parts not read ({seen} was)"
            )
