"""Scanned customer statements are flagged: `dropwarden scan` (a separate process, real Tesseract)
over a PNG, a JPEG, a multi-page TIFF, a 2-page image-only PDF with the data on page 2, and a DOCX
with the scan pasted in. Each holds a generated statement (marking, Luhn-valid card, IBAN with its
holder) rendered with Pillow, and each must be flagged at medium or above."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.extract import ocr
from tests.unit.extract.builders import FONT_DIR, render_text_image, statement_lines

REPO = Path(__file__).resolve().parents[2]
RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(
        ocr.tesseract_path() is None or "eng" not in ocr.languages_installed(),
        reason="tesseract with eng language data not installed",
    ),
    pytest.mark.skipif(not (FONT_DIR / "DejaVuSans.ttf").exists(), reason="fonts-dejavu-core not installed"),
]


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import docx

    root = tmp_path_factory.mktemp("scans")
    statement = render_text_image(statement_lines(), dpi=200)
    cover = render_text_image(["Scanned by the mail room", "Batch 2026-03"], dpi=200)
    statement.save(root / "statement.png")
    statement.save(root / "statement.jpg", quality=80)
    cover.save(root / "batch.tiff", save_all=True, append_images=[statement.copy()])
    cover.save(root / "scan.pdf", "PDF", save_all=True, append_images=[statement.copy()], resolution=200)
    doc = docx.Document()
    doc.add_paragraph("Please find the signed statement below.")
    png = io.BytesIO()
    statement.save(png, "PNG")
    png.seek(0)
    doc.add_picture(png)
    doc.save(str(root / "letter.docx"))
    return root


def test_each_scan_is_flagged_medium_or_above(scans: Path, tmp_path: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "agent", "scan", "--format", "jsonl", "--no-progress", str(scans)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    worst: dict[str, int] = {}
    entities: dict[str, set[str]] = {}
    for r in records:
        if r.get("kind") == "finding":
            name = Path(r["path"]).name
            worst[name] = max(worst.get(name, 0), RANK[r["severity"]])
            entities.setdefault(name, set()).add(r["entity"])
    assert not [r for r in records if r.get("kind") == "error"], done.stdout
    for name in ("statement.png", "statement.jpg", "batch.tiff", "scan.pdf", "letter.docx"):
        assert worst.get(name, 0) >= RANK["medium"], (name, entities.get(name))
        assert {"CREDIT_CARD", "CONFIDENTIAL_MARKING"} <= entities[name], (name, entities[name])
    assert done.returncode == 1  # --fail-on medium (the default)
