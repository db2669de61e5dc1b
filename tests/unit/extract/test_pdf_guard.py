"""One DeadlineGuard per PDF: one timer for all its pages, raising only inside a guarded block."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from agent.extract import pdf
from agent.extract.context import Abort, Context
from agent.models import Limits
from tests.unit.extract.builders import errors, pdf_bytes, run, texts


def _busy(seconds: float) -> int:
    """Pure-Python work for about ``seconds`` (an async exception can land in it)."""
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        n += sum(range(100))
    return n


def test_one_timer_for_all_pages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 12-page PDF starts one timer thread, not one per page, and reads every page."""
    started: list[float] = []

    class CountingTimer(threading.Timer):
        def start(self) -> None:
            started.append(self.interval)
            super().start()

    monkeypatch.setattr(pdf.threading, "Timer", CountingTimer)
    p = tmp_path / "pages.pdf"
    p.write_bytes(pdf_bytes([f"page {i} text" for i in range(12)]))
    items = run(p)
    assert errors(items) == []
    assert all(f"page {i} text" in texts(items) for i in range(12))
    assert len(started) == 1


def test_deadline_between_blocks_raises_at_the_next_block_only() -> None:
    """Past the deadline outside a block nothing is raised; the next block refuses to start."""
    guard = pdf.DeadlineGuard(Context(path="x", limits=Limits(timeout_seconds=0.2)))
    try:
        with guard:
            pass
        time.sleep(0.4)
        assert _busy(0.2) > 0  # would be interrupted here if the timer raised outside a block
        with pytest.raises(Abort) as exc, guard:
            _busy(1.0)
        assert exc.value.reason == "timeout"
    finally:
        guard.close()


def test_deadline_interrupts_a_later_block() -> None:
    """The timer armed in the first block still interrupts a later block that never returns."""
    guard = pdf.DeadlineGuard(Context(path="x", limits=Limits(timeout_seconds=0.3)))
    started = time.monotonic()
    try:
        with guard:
            pass
        with pytest.raises(Abort) as exc, guard:
            _busy(30.0)
    finally:
        guard.close()
    assert exc.value.reason == "timeout"
    assert time.monotonic() - started < 5.0


def test_closed_guard_never_fires() -> None:
    """After close() the timer is gone: running past the deadline later is not interrupted."""
    guard = pdf.DeadlineGuard(Context(path="x", limits=Limits(timeout_seconds=0.1)))
    with guard:
        pass
    guard.close()
    time.sleep(0.2)
    assert _busy(0.2) > 0
