"""A file waiting for the daemon's OCR lane (agent.extract.ocr.on_heavy) is not being read: the wait
does not count against its time limit, and a scan the lane refuses is stopped before its first page is
drawn. Real PDFs built with Pillow, real PDFium, real Tesseract (skipped without it)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from agent.extract import ocr, pdf
from agent.extract.context import Abort, Context
from agent.models import Limits
from tests.unit.extract.builders import FONT_DIR, errors, render_text_image, run, texts

needs_tesseract = pytest.mark.skipif(
    ocr.tesseract_path() is None or "eng" not in ocr.languages_installed(),
    reason="tesseract with eng language data not installed",
)
needs_fonts = pytest.mark.skipif(
    not (FONT_DIR / "DejaVuSans.ttf").exists(), reason="fonts-dejavu-core not installed"
)
LINE = "Invoice reference ALPHA 4711"


class Refused(BaseException):
    """What the daemon's worker raises when the lane says no (jobs.LaneFull, a BaseException)."""


def _scanned_pdf(path: Path, pages: int = 1) -> Path:
    imgs = [render_text_image([f"{LINE} page {n}"], dpi=100) for n in range(1, pages + 1)]
    imgs[0].save(path, "PDF", save_all=True, append_images=imgs[1:], resolution=100)
    return path


def test_time_spent_paused_moves_the_deadline_on() -> None:
    """The deadline moves on by the time spent inside, also when the wait ends in an exception."""
    ctx = Context("f", Limits(timeout_seconds=0.2))
    before = ctx.deadline
    with ctx.paused():
        time.sleep(0.3)
    ctx.check()  # past the original deadline, but the wait was not the file's
    assert ctx.deadline - before >= 0.3
    moved = ctx.deadline

    def refused_after_a_wait() -> None:
        with ctx.paused():
            time.sleep(0.1)
            raise Refused

    with pytest.raises(Refused):
        refused_after_a_wait()
    assert ctx.deadline - moved >= 0.1
    time.sleep(0.25)
    with pytest.raises(Abort):
        ctx.check()  # time outside a pause still counts


def test_the_lane_hears_of_a_file_once_and_not_outside_the_daemon(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    ctx = Context("f", Limits())
    ocr.announce_heavy(ctx)  # no daemon: nothing to tell, the file is still marked
    assert ctx.heavy
    monkeypatch.setattr(ocr, "on_heavy", lambda: calls.append(1))
    ctx = Context("g", Limits())
    for _ in range(3):
        ocr.announce_heavy(ctx)
    assert calls == [1]


@needs_tesseract
@needs_fonts
def test_a_scan_the_lane_refuses_has_drawn_no_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lane is asked before the first page is drawn: a scan it defers (read again later) has spent
    no render on a page it will draw again."""
    drawn: list[int] = []
    real_render = pdf.render_gray
    monkeypatch.setattr(pdf, "render_gray", lambda *a: drawn.append(1) or real_render(*a))

    def refuse() -> None:
        raise Refused

    monkeypatch.setattr(ocr, "on_heavy", refuse)
    with pytest.raises(Refused):
        run(_scanned_pdf(tmp_path / "scan.pdf"))
    assert drawn == []


@pytest.mark.slow  # waits past a time limit, then Tesseract reads two pages
@needs_tesseract
@needs_fonts
def test_a_wait_for_the_lane_longer_than_the_limit_does_not_time_the_file_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scanned PDF whose worker waits for the OCR lane longer than the file's whole time limit: both
    pages are still read (no timeout), exactly as when nothing waits."""
    path = _scanned_pdf(tmp_path / "scan.pdf", pages=2)
    limits = Limits(timeout_seconds=10.0)
    alone = run(path, limits)
    assert errors(alone) == [] and "ALPHA 4711 page 2" in texts(alone)
    monkeypatch.setattr(ocr, "on_heavy", lambda: time.sleep(limits.timeout_seconds + 1))
    waited = run(path, limits)
    assert errors(waited) == [] and texts(waited) == texts(alone)
