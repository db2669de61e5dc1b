"""PDF text layer (pypdf), page by page, with the per-file time limit enforced *inside* pypdf.

A hostile PDF (self-referencing XObjects, huge content streams) can keep one ``extract_text`` call
busy for minutes, so checking the deadline between pages is not enough: while pypdf runs, a timer
(one per file) raises :class:`Abort` asynchronously in the extracting thread once the deadline
passes. Unlike a trace hook this costs nothing while the parse is on time (a trace hook doubled
parse time).
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


class DeadlineGuard:
    """Abort (timeout) the code run inside ``with guard:`` once ctx's deadline passes, even deep
    inside a parser. One guard serves a whole file, one block per pypdf call: its single timer is
    started at the first block and sleeps through the gaps between blocks, raising only while a
    block runs (a timer thread started per page cost about 1 ms a page, a quarter of the time of a
    simple PDF). :meth:`close` stops it. Blocks must not nest.

    Code inside a block must not yield to a consumer: the abort targets the thread in the block.
    """

    def __init__(self, ctx: Context) -> None:
        self.deadline = ctx.deadline
        self._lock = threading.Lock()
        self._tid = 0  # thread of the running block; 0 while none runs
        self._fired = False  # an abort was set for the running block
        self._timer: threading.Timer | None = None
        self._generation = 0  # a timer of an older generation (cancelled too late) does nothing

    def __enter__(self) -> None:
        with self._lock:  # the deadline is checked under the lock: the timer cannot slip in between
            if time.monotonic() >= self.deadline:
                raise ParserTimeout()
            self._tid = threading.get_ident()
            if self._timer is None:
                self._arm(self.deadline - time.monotonic())

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            if self._fired:  # clear the abort if still pending (the block finished just in time)
                _clear_async_exc(self._tid, None)
                self._fired = False
            self._tid = 0

    def close(self) -> None:
        """Stop the timer (a later block would start a new one)."""
        with self._lock:
            self._generation += 1
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _arm(self, delay: float) -> None:
        self._timer = threading.Timer(max(0.0, delay), self._fire, (self._generation,))
        self._timer.daemon = True
        self._timer.start()

    def _fire(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            if self._tid:
                # The exception can land where it is swallowed (a gc callback, a broad `except` in
                # the parser): raise it again every 50 ms until the block has really been left.
                _set_async_exc(self._tid, ParserTimeout)
                self._fired = True
                self._arm(0.05)
            elif time.monotonic() < self.deadline:  # woke up early: wait for the real deadline
                self._arm(self.deadline - time.monotonic())
            else:  # past the deadline between blocks: the next block refuses to start
                self._timer = None


@contextmanager
def deadline_guard(ctx: Context) -> Iterator[None]:
    """A one-block :class:`DeadlineGuard`."""
    guard = DeadlineGuard(ctx)
    try:
        with guard:
            yield
    finally:
        guard.close()


def extract_pdf(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    guard = DeadlineGuard(ctx)
    try:
        yield from _read_pdf(f, ctx, member, depth, recurse, guard)
    finally:
        guard.close()


def _read_pdf(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse, guard: DeadlineGuard
) -> Iterator[Item]:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    refused = ""
    with guard:
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
    if refused:  # yield only outside the guard: the consumer's code must not be interrupted
        yield ctx.error(member, "encrypted", refused)
        return
    yield from ctx.chunk_text(member, meta, "metadata")
    yield from ctx.chunk_text(member, form, "body", tabular=True)
    ch = ctx.chunker(member)
    failed = 0
    for i in range(n_pages):
        ctx.check()
        try:
            with guard:
                text = reader.pages[i].extract_text()
        except (FileNotDecryptedError, RecursionError, Exception) as e:
            failed += 1
            if failed <= 3:
                yield ctx.error(member, "malformed", f"page {i + 1}: {type(e).__name__}")
            continue
        if text.strip():
            yield from ch.feed(text.rstrip("\n") + "\n")
    yield from ch.close()
    yield from _attachments(reader, ctx, member, depth, recurse, guard)


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
    reader: Any, ctx: Context, member: str | None, depth: int, recurse: Recurse, guard: DeadlineGuard
) -> Iterator[Item]:
    """Files attached to the PDF (embedded files), recursed as members."""
    import tempfile

    try:
        with guard:
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
