"""The daemon's OCR lane seen from outside: a real `dropwarden run` subprocess, real inotify, real
Tesseract on image-only PDFs built with Pillow, the metrics scraped over HTTP. Nothing is mocked."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import CARD_POLICY, AgentProc, wait_for
from tests.integration.test_ocr_acceptance import pytestmark as needs_tesseract
from tests.unit.extract.builders import render_text_image, statement_lines

pytestmark = needs_tesseract  # integration, slow, skipped without Tesseract (eng) or the DejaVu fonts

GAUGE = "dropwarden_ocr_deferred_scans"


def scanned_pdf(path: Path, pages: int, seed: int) -> None:
    """An image-only PDF (a scanner's output): ``pages`` generated statements at 200 dpi, a card on each."""
    imgs = [
        render_text_image([*statement_lines(seed=seed + i), f"Page {i + 1}"], dpi=200) for i in range(pages)
    ]
    imgs[0].save(path, "PDF", save_all=True, append_images=imgs[1:], resolution=200)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):
    """One worker, so the lane (one place beside it) is full as soon as two scans arrive together."""
    base = tmp_path_factory.mktemp("ocrlane")
    pol = base / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    a = AgentProc(base, pol, settle=0.3, workers=1).start()
    assert wait_for(lambda: b'"workers_ready"' in a.log.read_bytes(), 60), a.log.read_text()[-3000:]
    yield a
    a.kill()


def test_scans_waiting_for_the_ocr_lane_are_exported_and_drain_to_zero(agent: AgentProc) -> None:
    """Four 3-page scans moved into the zone at once: the lane takes one at a time, so the others wait,
    and the gauge shows them on /metrics while they do; every scan still alerts its card, and once the
    lane is clear the gauge reads 0 again."""
    assert agent.metric(GAUGE) == 0
    staged = agent.base / "staged"
    staged.mkdir()
    names = [f"scan-{n}.pdf" for n in range(4)]
    for n, name in enumerate(names):
        scanned_pdf(staged / name, pages=3, seed=100 + 10 * n)
    for name in names:  # complete files appear at once, as a scanner's batch moved in
        os.replace(staged / name, agent.zone / name)
    seen = wait_for(lambda: agent.metric(GAUGE) >= 1, 60.0, 0.2)
    assert seen, agent.log.read_text()[-3000:]
    for name in names:
        assert wait_for(lambda p=agent.zone / name: agent.alerts_for(p), 180.0, 0.2), (
            name,
            agent.log.read_text()[-3000:],
        )
    assert wait_for(lambda: agent.metric(GAUGE) == 0, 10.0, 0.2)
    for name in names:
        row = agent.row(agent.zone / name)
        assert row is not None and row["state"] == "done" and row["findings"] >= 1
