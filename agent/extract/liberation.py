"""WordPerfect, Visio (.vsd), Publisher (.pub) and CHM through Debian's tools, run as bounded subprocesses.

Why these tools: the Document Liberation Project's libraries (libwpd, libvisio, libmspub) are the
maintained free readers of these formats (LibreOffice imports them through the same code), and
Debian packages each with a text or XHTML converter (``libwpd-tools``: wpd2text, ``libvisio-tools``:
vsd2text, ``libmspub-tools``: pub2xhtml); no maintained Python reader exists. libarchive does not
read CHM; ``libchm-bin``'s extract_chmLib (CHMLib) unpacks one into a directory, read like a PST
export (:mod:`agent.extract.toolexport`): HTML pages as text, every other file as a member, the
CHM's own index and system files (``#SYSTEM``, ``$OBJINST``...) skipped.

The converters run under :func:`legacy.run_tool` (no shell, no file they could write, address
space, CPU and wall time bounded, output capped). OneNote has no maintained free reader (the
MS-ONESTORE readers on PyPI are malware-triage tools that extract embedded files only): it is
reported as ``unsupported_format`` naming the format, never as unknown binary.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import IO

from agent.extract import toolexport
from agent.extract.archive import depth_error
from agent.extract.context import Context, Item, Recurse
from agent.extract.legacy import ToolFailed, run_tool
from agent.extract.mail import html_to_text
from agent.extract.text import detect_encoding
from agent.extract.toolexport import OPEN_FLAGS

#: format -> (argv, output is XHTML); the document is the tool's stdin, named by /dev/stdin
_CONVERTERS: dict[str, tuple[list[str], bool]] = {
    "wpd": (["wpd2text", "/dev/stdin"], False),
    "vsd": (["vsd2text", "/dev/stdin"], False),
    "pub": (["pub2xhtml", "/dev/stdin"], True),
}


def extract_converted(fmt: str) -> Callable[[IO[bytes], Context, str | None, int, Recurse], Iterator[Item]]:
    """The reader of ``fmt`` (wpd, vsd, pub): its converter's text as the body."""

    def read(f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse) -> Iterator[Item]:
        argv, xhtml = _CONVERTERS[fmt]
        try:
            out = run_tool(argv, f, ctx)
        except ToolFailed as e:
            yield ctx.error(member, e.reason, e.detail)
            return
        text = out.decode("utf-8", "replace")
        if xhtml and not text.strip():  # pub2xhtml exits 0 on a file it cannot read, and writes nothing
            yield ctx.error(member, "malformed", f"{argv[0]} could not read the document")
            return
        yield from ctx.chunk_text(member, html_to_text(text) if xhtml else text, "body")

    return read


def extract_onenote(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    yield ctx.error(member, "unsupported_format", "OneNote section (MS-ONESTORE): no maintained reader")


def extract_chm(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Every page of a compiled HTML help file as text, its other files (pictures, PDFs) as members."""
    if (err := depth_error(ctx, member, depth + 1)) is not None:
        yield err
        return
    try:
        escapes = _escaping_names(run_tool(["enum_chmLib", "/dev/stdin"], f, ctx))
    except ToolFailed as e:
        yield ctx.error(member, e.reason, e.detail)
        return
    if escapes:  # extract_chmLib skips them (it would otherwise write outside its directory): unread
        yield ctx.error(member, "malformed", f"{escapes} CHM entries named with '..' not read")
    with toolexport.private_dir("dropwarden-chm-") as tmp:
        out = os.path.join(tmp, "chm")
        os.mkdir(out, 0o700)
        try:
            toolexport.export("extract_chmLib", lambda src: [src, out], f, ctx, tmp)
        except ToolFailed as e:
            yield ctx.error(member, e.reason, e.detail)
            return

        def read(dir_fd: int, name: str, inner: str, at: int) -> Iterator[Item]:
            if name.startswith(("#", "$")) or name == "_#_README_#_":
                return iter(())  # CHM system files: index, full-text search, window definitions
            if name.lower().endswith((".htm", ".html")):
                return _page(dir_fd, name, ctx, inner)
            return toolexport.read_file(dir_fd, name, ctx, inner, at, recurse)

        if not os.listdir(out):  # extract_chmLib exits 0 on a file it cannot open
            yield ctx.error(member, "malformed", "extract_chmLib could not read the help file")
            return
        yield from toolexport.walk_tree(out, ctx, member, depth, read, lambda _name: False)


def _escaping_names(listing: bytes) -> int:
    """Entries of an ``enum_chmLib`` listing whose name (the last tab-separated field) has a ``..``
    component; a name with a newline in it splits into lines that are checked the same way."""
    names = (line.rsplit(b"\t", 1)[-1] for line in listing.splitlines())
    return sum(1 for n in names if b".." in n.replace(b"\\", b"/").split(b"/"))


def _page(dir_fd: int, name: str, ctx: Context, member: str) -> Iterator[Item]:
    ctx.count_member()
    ctx.formats[member] = "text"
    with os.fdopen(os.open(name, OPEN_FLAGS, dir_fd=dir_fd), "rb") as f:
        data = f.read(ctx.limits.max_member_bytes)
    ctx.unpacked += len(data)
    encoding, skip = detect_encoding(data[:65536])
    yield from ctx.chunk_text(member, html_to_text(data[skip:].decode(encoding, "replace")), "body")
