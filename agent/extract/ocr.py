"""Tesseract OCR of one decoded page image, as a bounded subprocess.

Why a direct call rather than pytesseract: pytesseract writes every image to a temporary file and
reads the result back from another, and gives no hold on the child process. Here the pages go to
``tesseract stdin stdout`` as one uncompressed multi-page TIFF through a pipe (one run reads several
pages: its start-up, loading the language models, costs about as much as reading a page), and the
child is bounded:

- time: the file's remaining deadline (``timeout`` past it, the child is killed);
- CPU share: one thread (``OMP_THREAD_LIMIT=1``; Tesseract's OpenMP would otherwise take every
  core), at nice 10 under ``SCHED_BATCH``: a worker scanning a text file (nice 0) gets the core
  whenever it wants it (CFS weight 1024 against 110, and a batch task never preempts it on
  wake-up), so a scan being read does not delay the text files the other workers scan (issue 19).
  Not lower: at nice 19 or ``SCHED_IDLE`` a host kept busy by other work starves OCR outright and
  every scan ends as ``timeout`` (bench_daemon under two CPU hogs: no scan read in 90 s at nice 19,
  a 20-page scan in 40 s at nice 10, text p99 the same);
- lifetime: ``PR_SET_PDEATHSIG``, so a worker the daemon SIGKILLs for overrunning its file does not
  leave its Tesseract running;
- output: at most ``MAX_OUTPUT`` bytes a page are kept.

Offline: Tesseract reads its language data from the Debian packages, nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from agent.extract.context import Abort, Context, MemberLimit

MAX_OUTPUT = 4 * 1024 * 1024  # bytes of recognised text per page (a dense A4 page is ~5 KB)
#: nice value of the Tesseract child (see the module docstring), under SCHED_BATCH.
NICE = 10
#: Called once per file before its first page is drawn or decoded for Tesseract (the daemon's worker
#: tells its parent that this file is OCR-heavy, and may wait for a place in the OCR lane: see
#: :func:`announce_heavy`); None outside the daemon.
on_heavy: Callable[[], None] | None = None


class OcrUnavailable(Exception):
    """Tesseract (or the requested language data) is not installed."""


@cache
def tesseract_path() -> str | None:
    return shutil.which("tesseract")


@cache
def languages_installed() -> frozenset[str]:
    exe = tesseract_path()
    if exe is None:
        return frozenset()
    try:
        out = subprocess.run(  # noqa: S603 - fixed argv, the tesseract on PATH, no shell
            [exe, "--list-langs"], capture_output=True, timeout=10, check=False
        ).stdout.decode("utf-8", "replace")
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.strip() for line in out.splitlines()[1:] if line.strip())


def usable_languages(wanted: str) -> str:
    """The requested ``eng+deu`` languages that are installed, joined by ``+``.

    Raises :class:`OcrUnavailable` when Tesseract or every requested language is missing.
    """
    if tesseract_path() is None:
        raise OcrUnavailable("tesseract is not installed")
    have = languages_installed()
    langs = [lang for lang in wanted.split("+") if lang in have]
    if not langs:
        raise OcrUnavailable(f"no Tesseract language data for {wanted}")
    return "+".join(langs)


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Runs in the child before exec. The processes that OCR are single-threaded (the daemon's
    workers come from the forkserver, ``scan``'s from agent.scanpool, which runs no thread), so no
    other thread can hold a lock this code needs."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    with contextlib.suppress(OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


def tiff(images: Sequence[Any]) -> bytes:
    """The pages as one uncompressed 8-bit grayscale TIFF (Leptonica reads it straight from a pipe)."""
    gray = [img if img.mode == "L" else img.convert("L") for img in images]
    buf = io.BytesIO()
    gray[0].save(buf, "TIFF", save_all=True, append_images=gray[1:])
    return buf.getvalue()


def recognize(images: Sequence[Any], ctx: Context, languages: str) -> list[str]:
    """Text of each page image (Pillow images, any mode), by one Tesseract run within the file's deadline.

    Raises :class:`OcrUnavailable` without Tesseract, :class:`Abort` (timeout) past the deadline and
    :class:`MemberLimit` (``ocr_failed``) when Tesseract fails on the pages.
    """
    langs = usable_languages(languages)
    exe = tesseract_path() or "tesseract"  # usable_languages found it
    data = tiff(images)
    ctx.check()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "OMP_THREAD_LIMIT": "1", "LC_ALL": "C"}
    remaining = max(0.1, ctx.deadline - time.monotonic())
    try:
        # fixed argv, no shell; the languages are checked against the installed ones
        done = subprocess.run(  # noqa: S603
            [exe, "stdin", "stdout", "-l", langs, "--psm", "3", "quiet"],
            input=data,
            capture_output=True,
            timeout=remaining,
            env=env,
            preexec_fn=_child_setup,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Abort("timeout", f"time limit of {ctx.limits.timeout_seconds:g} s exceeded in OCR") from None
    except OSError as e:
        raise OcrUnavailable(f"cannot run tesseract ({type(e).__name__})") from None
    if done.returncode != 0:
        raise MemberLimit("ocr_failed", f"tesseract exited with status {done.returncode}")
    return split_pages(done.stdout, len(images))


def split_pages(out: bytes, count: int) -> list[str]:
    """Tesseract's text output cut into its ``count`` pages (it writes a form feed before each page but
    the first). Should the count not match, all of it is the first page's: nothing read is dropped."""
    pages = out.split(b"\f")
    if len(pages) != count:
        pages = [out] + [b""] * (count - 1)
    return [p[:MAX_OUTPUT].decode("utf-8", "replace") for p in pages]


def announce_heavy(ctx: Context) -> None:
    """Tell the daemon's worker loop, once per file, that this file is OCR-heavy (see :data:`on_heavy`).

    The answer can take minutes: the worker is parked until the OCR lane has a place. That wait is
    not the file's, so its deadline is paused meanwhile (:meth:`Context.paused`): a scan that waited
    gets the verdict of one that never did, and one that truly overruns its limit still times out.
    A scan the lane refuses for now is stopped here (the daemon's ``LaneFull``, a BaseException).
    """
    if ctx.heavy:
        return
    ctx.heavy = True
    if on_heavy is not None:
        with ctx.paused(), contextlib.suppress(Exception):
            on_heavy()
