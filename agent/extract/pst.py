"""Outlook PST/OST (and PAB) through Debian's ``pffexport`` (pff-tools, libpff), a bounded subprocess.

Why pffexport: libpff is the maintained free reader of the Personal Folder File format (Unicode and
ANSI PST, OST, compressible and high "encryption"), packaged by Debian with its tools; the Python
binding (``python3-pypff``) is the same library without the item export, and no maintained pure
Python reader exists. pffexport writes every item as files into a directory tree:
``Folder/Message00001/{OutlookHeaders.txt, InternetHeaders.txt, Recipients.txt, Message.txt|.html|.rtf,
Attachments/…}``, contacts as ``Contact.txt``, appointments as ``Appointment.txt`` and so on.

It runs bounded, in a private directory, under a watchdog (:mod:`agent.extract.toolexport`); every
file of the tree is a member named by its path in the store (``Inbox/Message00001/Message.txt``),
so attachments of any format are read like archive members, and messages attached to messages
(``Attachment00001/``) count against the nesting depth. Internet headers keep only the content
headers (subject, from, to...): DKIM/ARC signatures, Received IDs and Message-IDs are transport
noise that looks like secrets.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from typing import IO

from agent.extract import toolexport
from agent.extract.archive import depth_error
from agent.extract.context import Context, Item, Recurse
from agent.extract.mail import content_headers, spooled
from agent.extract.toolexport import OPEN_FLAGS, Bounded

#: Files pffexport writes that hold no content: binary conversation threading, the item's raw values.
_SKIP_FILES = frozenset({"ConversationIndex.txt", "ItemValues.txt", "RecipientsItemValues.txt"})


def extract_pst(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Every item of a PST/OST and every attachment, as members; failures as one error record."""
    if (err := depth_error(ctx, member, depth + 1)) is not None:
        yield err
        return
    with toolexport.private_dir("dropwarden-pst-") as tmp:
        try:
            toolexport.export(
                "pffexport",
                lambda src: ["-q", "-m", "items", "-t", os.path.join(tmp, "store"), src],
                f,
                ctx,
                tmp,
            )
        except Bounded as e:
            yield ctx.error(member, e.reason, e.detail)
            return
        root = os.path.join(tmp, "store.export")
        if not os.path.isdir(root):
            yield ctx.error(member, "malformed", "pffexport exported no items")
            return
        yield from walk_export(root, ctx, member, depth, recurse)


def walk_export(root: str, ctx: Context, chain: str | None, depth: int, recurse: Recurse) -> Iterator[Item]:
    """The items of a pffexport tree: every file a member, attached messages one level deeper."""

    def read(dir_fd: int, name: str, member: str, at: int) -> Iterator[Item]:
        if name in _SKIP_FILES:
            return iter(())
        if name == "InternetHeaders.txt":
            return _headers(dir_fd, name, ctx, member, at, recurse)
        return toolexport.read_file(dir_fd, name, ctx, member, at, recurse)

    yield from toolexport.walk_tree(root, ctx, chain, depth, read, _attached_item)


def _attached_item(name: str) -> bool:
    return name.startswith("Attachment") and name[10:].isdigit()


def _headers(
    dir_fd: int, name: str, ctx: Context, member: str, depth: int, recurse: Recurse
) -> Iterator[Item]:
    ctx.count_member()
    with os.fdopen(os.open(name, OPEN_FLAGS, dir_fd=dir_fd), "rb") as f:
        headers = BytesHeaderParser().parse(f)
    yield from spooled(content_headers(headers).encode(), ctx, member, depth, recurse)
