"""PDF text layer (pypdf), page by page, with the per-file time limit enforced *inside* pypdf.

A hostile PDF (self-referencing XObjects, huge content streams) can keep one ``extract_text`` call
busy for minutes, so checking the deadline between pages is not enough: while pypdf runs, a timer
raises :class:`Abort` asynchronously in the extracting thread once the deadline passes. Unlike a
trace hook this costs nothing while the parse is on time (a trace hook doubled parse time).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from agent.extract.archive import depth_error, join_member
from agent.extract.context import Abort, Context, Item

Recurse = Callable[[IO[bytes], str, int], Iterator[Item]]
logging.getLogger("pypdf").setLevel(logging.ERROR)  # pypdf warns with font dicts on stderr otherwise
# PyThreadState_SetAsyncExc(thread id, exception type) sets a pending exception; NULL clears it.
_set_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.py_object)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)
_clear_async_exc = ctypes.PYFUNCTYPE(ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p)(
    ("PyThreadState_SetAsyncExc", ctypes.pythonapi)
)


class ParserTimeout(Abort):
    """Raised asynchronously in a thread whose parser overran the deadline (must take no arguments)."""

    def __init__(self) -> None:
        super().__init__("timeout", "time limit exceeded inside the PDF parser")


@contextmanager
def deadline_guard(ctx: Context) -> Iterator[None]:
    """Abort (timeout) the code run in this block once ctx's deadline passes, even deep inside a parser.

    Code inside the block must not yield to a consumer: the abort targets this thread.
    """
    remaining = ctx.deadline - time.monotonic()
    if remaining <= 0:
        raise ParserTimeout()
    tid = threading.get_ident()
    lock = threading.Lock()
    state = {"active": True, "fired": False}

    timers: list[threading.Timer] = []

    def arm(delay: float) -> None:
        timer = threading.Timer(delay, fire)
        timer.daemon = True
        timers.append(timer)
        timer.start()

    def fire() -> None:
        # The exception can land where it is swallowed (a gc callback, a broad `except` inside the
        # parser): keep re-raising it every 50 ms until the block has really been left.
        with lock:
            if state["active"]:
                state["fired"] = True
                _set_async_exc(tid, ParserTimeout)
                arm(0.05)

    arm(remaining)
    try:
        yield
    finally:
        with lock:
            for timer in timers:
                timer.cancel()
            state["active"] = False
            if state["fired"]:
                _clear_async_exc(tid, None)  # clear it if still pending (the block finished just in time)


def extract_pdf(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    refused = ""
    with deadline_guard(ctx):
        reader = PdfReader(f, strict=False)
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    refused = "password-protected PDF (empty user password refused)"
            except Exception as e:
                refused = f"cannot decrypt ({type(e).__name__})"
        if not refused:
            meta = _metadata(reader)
            form = _form_values(reader)
            n_pages = len(reader.pages)
    if refused:  # yield only outside the guard: the consumer's code must not run traced
        yield ctx.error(member, "encrypted", refused)
        return
    yield from ctx.chunk_text(member, meta, "metadata")
    yield from ctx.chunk_text(member, form, "body", tabular=True)
    ch = ctx.chunker(member)
    failed = 0
    for i in range(n_pages):
        ctx.check()
        try:
            with deadline_guard(ctx):
                text = reader.pages[i].extract_text()
        except (FileNotDecryptedError, RecursionError, Exception) as e:
            failed += 1
            if failed <= 3:
                yield ctx.error(member, "malformed", f"page {i + 1}: {type(e).__name__}")
            continue
        if text.strip():
            yield from ch.feed(text.rstrip("\n") + "\n")
    yield from ch.close()
    yield from _attachments(reader, ctx, member, depth, recurse)


def _metadata(reader: Any) -> str:
    try:
        info = reader.metadata
    except Exception:
        return ""
    if not info:
        return ""
    out = []
    for key, label in (("/Title", "Title"), ("/Subject", "Subject"), ("/Keywords", "Keywords")):
        v = info.get(key)
        if isinstance(v, str) and v.strip():
            out.append(f"{label}: {v.strip()}")
    return "\n".join(out)


def _form_values(reader: Any) -> str:
    """Filled-in AcroForm values (not part of the page text), one "name<TAB>value" row each."""
    try:
        fields = reader.get_fields() or {}
    except Exception:
        return ""
    rows = []
    for name, field in sorted(fields.items()):
        value = field.get("/V") if hasattr(field, "get") else None
        values = value if isinstance(value, list) else [value]
        for v in values:
            if isinstance(v, str) and v.strip() and not v.startswith("/"):
                rows.append(f"{name}\t{' '.join(v.split())}")
    return "\n".join(rows)


def _attachments(
    reader: Any, ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Files attached to the PDF (embedded files), recursed as members."""
    import tempfile

    try:
        with deadline_guard(ctx):
            atts = dict(reader.attachments)
    except Exception:
        return
    if not atts:
        return
    if (err := depth_error(ctx, member, depth + 1)) is not None:
        yield err
        return
    for name, blobs in sorted(atts.items()):
        for blob in blobs:
            ctx.check()
            with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
                spool.write(blob)
                spool.seek(0)
                yield from recurse(spool, join_member(member, name), depth + 1)
