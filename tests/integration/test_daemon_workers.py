"""The daemon's worker pool seen from outside: a real `dropwarden run` subprocess, real inotify, real
workers (killed for real at the hard per-file limit), real Tesseract on image-only PDFs built with
Pillow; the alert log, the agent's own log, the journal and /metrics (over HTTP) read from outside.
Nothing is mocked."""

from __future__ import annotations

import io
import os
import random
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest

from agent.daemon.settings import Settings
from agent.daemon.wiring import build_with_spec
from agent.daemon.workers import WorkerPool
from agent.extract import ocr
from agent.extract.context import Context
from agent.journal import Journal
from agent.models import FileRef, Limits, Verdict
from bench.corpus import text_body
from tests.helpers import CARD_POLICY, REPO, AgentProc, fake_card, wait_for
from tests.integration.test_ocr_acceptance import pytestmark as OCR_MARKS
from tests.unit.extract.builders import pdf_bytes, render_text_image, statement_lines

pytestmark = pytest.mark.integration

GAUGE = "dropwarden_ocr_deferred_scans"
F = TypeVar("F", bound=Callable[..., object])


def needs_tesseract(test: F) -> F:
    """Slow, and skipped without Tesseract (eng) or the DejaVu fonts (as the OCR acceptance tests)."""
    for mark in OCR_MARKS:
        test = mark(test)
    return test


def scanned_pdf(path: Path | IO[bytes], pages: int, seed: int) -> None:
    """An image-only PDF (a scanner's output): ``pages`` generated statements at 200 dpi, a card on each."""
    imgs = [
        render_text_image([*statement_lines(seed=seed + i), f"Page {i + 1}"], dpi=200) for i in range(pages)
    ]
    imgs[0].save(path, "PDF", save_all=True, append_images=imgs[1:], resolution=200)


def archive_with_a_scan_last(path: Path, text_mb: float) -> None:
    """A zip of business documents (generated prose, 256 KB each, nothing planted) whose last member is
    a scanned statement (an image-only PDF page): the OCR comes after all the text was read."""
    rng = random.Random(20261205)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for k in range(max(1, round(text_mb * 4))):
            z.writestr(f"reports/report-{k:03d}.txt", text_body(rng, 256 * 1024, plant=False, fmt="txt")[0])
        scan = io.BytesIO()
        scanned_pdf(scan, pages=1, seed=900)
        z.writestr("scans/statement.pdf", scan.getvalue())


def text_then_scanned_pdf(path: Path, text_pages: int, scanned_pages: int, seed: int) -> None:
    """A long PDF with a text layer (a report, nothing planted) whose last pages are scanned statements:
    its OCR starts after every text page was read."""
    import pypdfium2 as pdfium

    lines = [f"Quarterly operations report, section {n}: volumes within plan." for n in range(text_pages)]
    doc = pdfium.PdfDocument(pdf_bytes(lines))
    scan = io.BytesIO()
    scanned_pdf(scan, pages=scanned_pages, seed=seed)
    doc.import_pages(pdfium.PdfDocument(scan.getvalue()))
    doc.save(path)
    doc.close()


class LaneHolder:
    """The workers' real pipeline (built from ``spec`` in each worker), except for a file named
    ``*.hold``: it takes the OCR lane and keeps it until ``<name>.release`` exists, so the test decides
    how long the lane stays full. Picklable: it crosses to the workers as the pool's spec."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def __call__(self) -> Any:
        return _Held(self.spec())


class _Held:
    def __init__(self, pipeline: Any) -> None:
        self.pipeline = pipeline
        self.extractor = pipeline.extractor  # the worker sets its memory ceiling from its limits

    def shown_path(self, ref: FileRef) -> str:
        return self.pipeline.shown_path(ref)  # type: ignore[no-any-return]

    def scan(self, ref: FileRef, on_detections: Any = None) -> Verdict:
        if not ref.path.endswith(".hold"):
            return self.pipeline.scan(ref, on_detections=on_detections)  # type: ignore[no-any-return]
        ocr.announce_heavy(Context(ref.path, Limits()))
        release = Path(ref.path + ".release")
        end = time.monotonic() + 600
        while not release.exists() and time.monotonic() < end:
            time.sleep(0.05)
        return Verdict(ref.path, ref.zone, (), (), 0, 0.0)


def running(base: Path, *flags: str, workers: int = 2) -> Iterator[AgentProc]:
    """An agent with a card rule and the shipped unscanned pack, until the module's tests are done."""
    pol = base / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    shutil.copy(REPO / "policies" / "unscanned.yaml", pol / "unscanned.yaml")
    a = AgentProc(base, pol, *flags, settle=0.3, workers=workers).start()
    assert wait_for(lambda: b'"workers_ready"' in a.log.read_bytes(), 60), a.log.read_text()[-3000:]
    yield a
    a.kill()


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProc]:
    """One worker, so the OCR lane (one place beside it) is full as soon as two scans arrive together."""
    yield from running(tmp_path_factory.mktemp("ocrlane"), workers=1)


@pytest.fixture(scope="module")
def short_limit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProc]:
    """0.3 s per file: a worker still busy after 1.3 s is killed."""
    yield from running(tmp_path_factory.mktemp("killed"), "--file-timeout", "0.3")


@needs_tesseract
def test_scans_waiting_for_the_ocr_lane_are_exported_and_drain_to_zero(one_worker: AgentProc) -> None:
    """Four 3-page scans moved into the zone at once: the lane takes one at a time, so the others wait,
    and the gauge shows them on /metrics while they do; every scan still alerts its card, and once the
    lane is clear the gauge reads 0 again."""
    assert one_worker.metric(GAUGE) == 0
    staged = one_worker.base / "staged"
    staged.mkdir()
    names = [f"scan-{n}.pdf" for n in range(4)]
    for n, name in enumerate(names):
        scanned_pdf(staged / name, pages=3, seed=100 + 10 * n)
    for name in names:  # complete files appear at once, as a scanner's batch moved in
        os.replace(staged / name, one_worker.zone / name)
    seen = wait_for(lambda: one_worker.metric(GAUGE) >= 1, 60.0, 0.2)
    assert seen, one_worker.log.read_text()[-3000:]
    for name in names:
        assert wait_for(lambda p=one_worker.zone / name: one_worker.alerts_for(p), 180.0, 0.2), (
            name,
            one_worker.log.read_text()[-3000:],
        )
    assert wait_for(lambda: one_worker.metric(GAUGE) == 0, 10.0, 0.2)
    for name in names:
        row = one_worker.row(one_worker.zone / name)
        assert row is not None and row["state"] == "done" and row["findings"] >= 1


def test_a_killed_workers_file_name_never_shows_its_card_in_clear(short_limit: AgentProc) -> None:
    """A 64 GB sparse file named after a card number keeps its worker hashing past the hard limit: the
    worker is killed for real, the journal records the timeout, and the UNSCANNED_CONTENT alert shows
    the name with the card masked as the worker masked it before reading. The card's digits appear
    nowhere in clear: not in the alert log, the agent's log or /metrics. The agent's own process
    builds no recognizer for it."""
    card = fake_card()
    name = f"statement {card}.bin"
    staged = short_limit.base / name
    with open(staged, "wb") as f:
        f.truncate(64 << 30)
    before = short_limit.metric("dropwarden_worker_restarts_total", reason="timeout")
    os.replace(staged, short_limit.zone / name)
    shown = short_limit.zone / f"statement {card[:4]}********{card[-4:]}.bin"
    assert wait_for(lambda: short_limit.alerts_for(shown), 30.0, 0.2), short_limit.log.read_text()[-3000:]
    (alert,) = short_limit.alerts_for(shown)
    assert (alert["entity"], alert["excerpt"]) == ("UNSCANNED_CONTENT", "not read completely: timeout")
    assert short_limit.metric("dropwarden_worker_restarts_total", reason="timeout") == before + 1
    row = short_limit.row(short_limit.zone / name)
    assert row is not None and (row["state"], row["last_error"]) == ("error", "timeout")
    # every recognizer engine built is a worker's (the first two and each replacement): none the parent's
    assert short_limit.quiesce()
    restarts = short_limit.metric("dropwarden_worker_restarts_total")
    built = lambda: short_limit.log.read_text().count('"classifier_built"')  # noqa: E731
    assert wait_for(lambda: built() >= 2 + restarts, 30.0) and built() == 2 + restarts
    log = short_limit.log.read_text()
    assert '"worker_timed_out"' in log and '"scan_failed"' in log and '"name_withheld"' not in log
    for output in (short_limit.alerts.read_text(), log, short_limit.metrics_text()):
        assert card not in output


@needs_tesseract
def test_an_archive_parked_for_the_ocr_lane_goes_on_without_being_read_again(tmp_path: Path) -> None:
    """A 12-page scan holds the OCR lane (one worker, one place) when an archive of 8 MB of documents
    reaches its last member, a scanned statement: the archive's worker is parked where it stopped, a
    worker starts in its place, and once the lane frees the archive goes on. It is handed to a worker
    once, never read again from the start, and its verdict (the scanned page's card, marking and IBAN)
    is the one the same pipeline gives the archive when nothing waits. Real workers, real Tesseract."""
    zone = tmp_path / "drop"
    zone.mkdir()
    config = {"zones": [{"name": "drop", "path": str(zone)}], "state_dir": str(tmp_path / "state")}
    _policies, digest, spec = build_with_spec(Settings.model_validate(config), b"k" * 32)
    scanned_pdf(zone / "batch.pdf", pages=12, seed=500)
    archive_with_a_scan_last(zone / "archive.zip", text_mb=8)
    j = Journal(tmp_path / "j.db")
    for name in ("batch.pdf", "archive.zip"):
        j.enqueue(str(zone / name), "drop")
    hold, archive = sorted(j.claim(2), key=lambda i: not i.path.endswith("batch.pdf"))
    pool = WorkerPool(1, timeout=300.0, spare=1, park_after=0.2)  # 8 MB of text: ~0.7 CPU s here
    pool.start(spec)
    out: list = []
    try:
        assert pool.wait_ready(120.0)
        pool.submit(hold, "contractor-drop", str(zone), digest)
        assert wait_for(
            lambda: out.extend(pool.poll(0.05)) or (len(pool.slots) == 2 and pool.idle() == 1), 120
        )
        pool.submit(archive, "contractor-drop", str(zone), digest)
        parked = wait_for(lambda: out.extend(pool.poll(0.05)) or pool._parked() or len(out) == 2, 300)
        assert pool._parked() and not out, "the 12-page scan finished before the archive reached its OCR"
        assert pool.idle() == 0 and len(pool.slots) == 3 and parked  # a third worker starts for text files
        assert wait_for(lambda: out.extend(pool.poll(0.05)) or len(out) == 2, 300)
    finally:
        pool.stop(5.0)
        j.close()
    assert pool._seq == 2  # each file was handed to a worker once
    (got,) = [o.verdict for o in out if o.item.path == archive.path]
    alone = spec().scan(FileRef(archive.path, "drop", "contractor-drop", root=str(zone)))
    assert got.errors == () and (got.findings, got.files) == (alone.findings, alone.files)
    from_scan = {f.entity for f in got.findings if f.member == "scans/statement.pdf"}
    assert {"CREDIT_CARD", "CONFIDENTIAL_MARKING"} <= from_scan


@needs_tesseract
def test_a_big_scan_waiting_longer_than_its_time_limit_is_read_once_and_completely(tmp_path: Path) -> None:
    """One worker, a lane of one place, a per-file limit of 12 s. While the lane is held, a 300-page PDF
    whose last 3 pages are scanned statements reaches its OCR and is parked; two scanned PDFs arrive
    after it and are deferred. The lane stays held until the big PDF has waited longer than its whole
    time limit. Waiting is not reading: it is neither told no nor read again, and once the lane frees
    it goes on where it stopped; its verdict is the one the same pipeline gives it when nothing waits
    (complete, not a timeout). The deferred scans follow in order, each read once more and completely.
    The exported count of waiting scans (``waiting``, the gauge) is 3 throughout the wait, 0 after.
    Real workers, real PDFium, real Tesseract; only the lane holder is scripted."""
    zone = tmp_path / "drop"
    zone.mkdir()
    config = {"zones": [{"name": "drop", "path": str(zone)}], "state_dir": str(tmp_path / "state")}
    _policies, digest, spec = build_with_spec(Settings.model_validate(config), b"k" * 32)
    (zone / "lane.hold").write_bytes(b"held")
    text_then_scanned_pdf(zone / "big.pdf", text_pages=300, scanned_pages=3, seed=300)
    for n, name in enumerate(("scan-a.pdf", "scan-b.pdf")):
        scanned_pdf(zone / name, pages=2, seed=400 + 10 * n)
    j = Journal(tmp_path / "j.db")
    names = ("lane.hold", "big.pdf", "scan-a.pdf", "scan-b.pdf")
    for name in names:
        j.enqueue(str(zone / name), "drop")
    items = {Path(i.path).name: i for i in j.claim(4)}
    limit = 12.0
    pool = WorkerPool(1, timeout=limit, grace=limit, spare=1, park_after=0.0)
    pool.start(LaneHolder(spec))
    out: list = []

    def polled(cond: Callable[[], object], timeout: float = 120.0) -> object:
        return wait_for(lambda: out.extend(pool.poll(0.05)) or cond(), timeout, 0.0)

    try:
        assert pool.wait_ready(120.0)
        pool.submit(items["lane.hold"], "contractor-drop", str(zone), digest)
        assert polled(lambda: len(pool.slots) == 2 and pool.idle() == 1)
        pool.submit(items["big.pdf"], "contractor-drop", str(zone), digest)
        assert polled(lambda: pool._parked() and pool.idle() == 1)
        parked_at = pool._parked()[0].parked_at
        for name in ("scan-a.pdf", "scan-b.pdf"):
            pool.submit(items[name], "contractor-drop", str(zone), digest)
            assert polled(lambda: pool.idle() == 1 and pool.busy() == 2)
        assert pool.waiting() == 3 and not out
        while time.monotonic() - parked_at < limit + 1:  # the big PDF waits longer than its limit
            out += pool.poll(0.1)
            assert pool.waiting() == 3 and len(pool._parked()) == 1 and not out
        (zone / "lane.hold.release").touch()
        assert polled(lambda: len(out) == 4, 600)
        assert pool.waiting() == 0
    finally:
        pool.stop(5.0)
        j.close()
    assert [Path(o.item.path).name for o in out] == list(names)  # first come, first served
    assert pool._seq == 6  # the big PDF handed out once; each deferred scan once more
    got = {Path(o.item.path).name: o.verdict for o in out}
    alone = spec().scan(FileRef(str(zone / "big.pdf"), "drop", "contractor-drop", root=str(zone)))
    assert alone.errors == ()
    assert {"CREDIT_CARD", "CONFIDENTIAL_MARKING"} <= {f.entity for f in alone.findings}
    assert got["big.pdf"].errors == () and got["big.pdf"].findings == alone.findings
    for name in ("scan-a.pdf", "scan-b.pdf"):
        assert got[name].errors == () and "CREDIT_CARD" in {f.entity for f in got[name].findings}
