"""The worker pool: forked processes, hash cache, per-file deadline, crash replacement."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agent.daemon.settings import Settings
from agent.daemon.wiring import build_with_spec
from agent.daemon.workers import Job, Scanned, WorkerPool, hash_file, run_job
from agent.extract import ocr
from agent.journal import Journal
from agent.models import FileRef, Verdict
from agent.pipeline import build_pipeline
from agent.security.evidence import open_sealed
from tests.helpers import fake_card


class ScriptedPipeline:
    """Stands in for the real Pipeline to drive the pool's failure paths: HANG sleeps, CRASH exits."""

    def scan(self, ref: FileRef, on_detections: object = None) -> Verdict:
        data = Path(ref.path).read_bytes() if os.path.isfile(ref.path) else b""
        if data.startswith(b"HANG"):
            time.sleep(3600)
        if data.startswith(b"CRASH"):
            os._exit(3)
        if data.startswith(b"OCR "):  # goes to OCR, as a scanned PDF would, until released
            ocr.announce_heavy()
            release = Path(data[4:].decode())
            end = time.monotonic() + 20
            while not release.exists() and time.monotonic() < end:
                time.sleep(0.02)
        if data.startswith(b"RAISE"):
            raise RuntimeError("a bug in a stage")
        return Verdict(ref.path, ref.zone, (), (), len(data), 0.0)


@pytest.fixture
def pool():
    p = WorkerPool(2, timeout=0.3, grace=0.2)
    p.start(ScriptedPipeline())
    assert p.wait_ready(30.0)
    yield p
    p.stop(1.0)


def _collect(pool: WorkerPool, n: int, timeout: float = 10.0):
    out, end = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        out += pool.poll(0.1)
    return out


def _items(j: Journal, tmp_path: Path, contents: dict[str, bytes]):
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
        j.enqueue(str(tmp_path / name), "z")
    return j.claim(len(contents))


def test_hang_is_killed_and_worker_replaced(tmp_path: Path, pool: WorkerPool) -> None:
    """A file that hangs its worker is reported as timeout, the worker is replaced, the next file scans."""
    j = Journal(tmp_path / "j.db")
    hang, ok = _items(j, tmp_path, {"hang": b"HANG", "ok": b"fine"})
    pids = set(pool.pids())
    pool.submit(hang, "contractor-drop", str(tmp_path), "d")
    pool.submit(ok, "contractor-drop", str(tmp_path), "d")
    out = {o.item.path: o for o in _collect(pool, 2)}
    assert out[hang.path].kind == "timeout" and out[hang.path].reason == "timeout"
    assert out[ok.path].kind == "verdict" and out[ok.path].content_hash == hash_file(ok.path)[0]
    assert pool.wait_ready(30.0) and pool.idle() == 2 and set(pool.pids()) != pids
    j.close()


def test_crash_reported_as_internal(tmp_path: Path, pool: WorkerPool) -> None:
    """A worker that dies mid-file is replaced and the file reported as crashed/internal."""
    j = Journal(tmp_path / "j.db")
    (crash,) = _items(j, tmp_path, {"crash": b"CRASH"})
    pool.submit(crash, "contractor-drop", None, "d")
    (o,) = _collect(pool, 1)
    assert o.kind == "crashed" and o.reason == "internal" and pool.wait_ready(30.0) and pool.idle() == 2
    j.close()


def test_a_scan_that_raises_is_an_internal_error_and_the_worker_goes_on(
    tmp_path: Path, pool: WorkerPool
) -> None:
    """JobFailed crosses the pipe as a typed message: outcome 'error' / 'internal', same worker next."""
    j = Journal(tmp_path / "j.db")
    bad, ok = _items(j, tmp_path, {"bad": b"RAISE", "ok": b"fine"})
    pids = set(pool.pids())
    pool.submit(bad, "contractor-drop", str(tmp_path), "d")
    (o,) = _collect(pool, 1)
    assert o.kind == "error" and o.reason == "internal" and o.verdict is None
    pool.submit(ok, "contractor-drop", str(tmp_path), "d")
    assert _collect(pool, 1)[0].kind == "verdict"
    assert set(pool.pids()) == pids


def test_hash_cache_skips_unchanged_content(tmp_path: Path, pool: WorkerPool) -> None:
    """Same content hash and policy digest as the journal's record: the previous verdict stands."""
    j = Journal(tmp_path / "j.db")
    (item,) = _items(j, tmp_path, {"a": b"abc"})
    h, st = hash_file(item.path)
    j.ack(item, max_severity=None, findings=0, error=None, stat=st, content_hash=h, policy_digest="d")
    j.enqueue(item.path, "z")
    (again,) = j.claim(1)
    pool.submit(again, "contractor-drop", None, "d")
    assert _collect(pool, 1)[0].kind == "cached"
    j.ack(again, max_severity=None, findings=0, error=None, stat=st, content_hash=h, policy_digest="d",
          scanned=False)  # fmt: skip
    j.enqueue(item.path, "z")
    (third,) = j.claim(1)
    pool.submit(third, "contractor-drop", None, "other-digest")
    assert _collect(pool, 1)[0].kind == "verdict"
    j.close()


@pytest.mark.slow  # the real pipeline is built in the worker: seconds
def test_a_worker_killed_on_its_file_had_already_masked_its_name(tmp_path: Path) -> None:
    """A real worker with the shipped policies' pipeline, killed for real at its file's deadline while
    it still hashes the file (64 GB, sparse): the timeout outcome carries the path as the pipeline shows
    it, card number masked, which the worker said before it read a byte (Named). The parent needs no
    recognizer for the alert."""
    zone = tmp_path / "drop"
    zone.mkdir()
    config = {"zones": [{"name": "drop", "path": str(zone)}], "state_dir": str(tmp_path / "state")}
    _policies, digest, spec = build_with_spec(Settings.model_validate(config), b"k" * 32)
    card = fake_card()
    big = zone / f"statement {card}.bin"
    with open(big, "wb") as f:
        f.truncate(64 << 30)
    j = Journal(tmp_path / "j.db")
    j.enqueue(str(big), "drop")
    (item,) = j.claim(1)
    pool = WorkerPool(1, timeout=0.2, grace=0.3)
    pool.start(spec)
    try:
        assert pool.wait_ready(60.0)
        (pid,) = pool.pids()
        pool.submit(item, "contractor-drop", str(zone), digest)
        (o,) = _collect(pool, 1, timeout=30.0)
        assert o.kind == "timeout" and pool.pids() != [pid]  # killed and replaced
        assert o.shown == f"{zone}/statement {card[:4]}********{card[-4:]}.bin"
    finally:
        pool.stop(1.0)
        j.close()


def test_fifo_is_not_opened_by_the_hasher(tmp_path: Path) -> None:
    """hash_file returns None for a FIFO at once instead of blocking on open."""
    os.mkfifo(tmp_path / "fifo")
    t = time.monotonic()
    assert hash_file(str(tmp_path / "fifo")) is None
    assert time.monotonic() - t < 1


def test_ocr_lane_keeps_a_worker_for_text_files(tmp_path: Path) -> None:
    """One worker, and its file goes to OCR: a spare worker starts, a text file submitted meanwhile
    gets its verdict while the OCR still runs; once the OCR is done the spare stays ``linger``
    seconds (the next scan finds it ready), then it is stopped."""
    pool = WorkerPool(1, timeout=30.0, spare=1, linger=1.0)
    pool.start(ScriptedPipeline())
    j = Journal(tmp_path / "j.db")
    try:
        assert pool.wait_ready(30.0)
        release = tmp_path / "release"
        scan, text = _items(j, tmp_path, {"scan.pdf": b"OCR " + str(release).encode(), "a.txt": b"text"})
        pool.submit(scan, "contractor-drop", None, "d")
        end = time.monotonic() + 30
        while len(pool.slots) < 2 and time.monotonic() < end:
            pool.poll(0.05)
        assert len(pool.slots) == 2 and pool.wait_ready(30.0) and pool.idle() == 1
        pool.submit(text, "contractor-drop", None, "d")
        (o,) = _collect(pool, 1)
        assert o.item.path == text.path and o.kind == "verdict"
        assert pool.busy() == 1  # the OCR is still running
        release.touch()
        (o,) = _collect(pool, 1)
        assert o.item.path == scan.path and o.kind == "verdict"
        pool.poll(0.0)
        assert len(pool.slots) == 2 and pool.idle() == 2  # the lane lingers
        end = time.monotonic() + 10
        while len(pool.slots) > 1 and time.monotonic() < end:
            pool.poll(0.1)
        assert len(pool.slots) == 1 and pool.idle() == 1
    finally:
        pool.stop(1.0)
        j.close()


def _poll_until(pool: WorkerPool, done: object, lane: int, timeout: float = 30.0) -> list:
    """Poll until ``done()``; at every step no more than ``lane`` workers may be OCRing."""
    out: list = []
    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:  # type: ignore[operator]
        out += pool.poll(0.05)
        assert sum(1 for s in pool.slots if s.heavy) <= lane
    assert done()  # type: ignore[operator]
    return out


def test_a_full_ocr_lane_defers_the_next_scan_and_text_files_keep_their_worker(tmp_path: Path) -> None:
    """One worker, a lane of one place, two scans: the second scan's worker is told the lane is full,
    drops the file and takes the text file instead; the second scan is read once the first is done.
    Never are two files OCRed at once, and every file gets its verdict."""
    pool = WorkerPool(1, timeout=30.0, spare=1, linger=60.0)
    pool.start(ScriptedPipeline())
    j = Journal(tmp_path / "j.db")
    try:
        assert pool.wait_ready(30.0)
        first, second = tmp_path / "release-1", tmp_path / "release-2"
        scan1, scan2, text = _items(
            j,
            tmp_path,
            {
                "scan1.pdf": b"OCR " + str(first).encode(),
                "scan2.pdf": b"OCR " + str(second).encode(),
                "a.txt": b"text",
            },
        )
        pool.submit(scan1, "contractor-drop", None, "d")
        _poll_until(pool, lambda: len(pool.slots) == 2 and pool.idle() == 1, lane=1)
        pool.submit(scan2, "contractor-drop", None, "d")
        assert _poll_until(pool, lambda: pool.waiting() == 1 and pool.idle() == 1, lane=1) == []
        pool.submit(text, "contractor-drop", None, "d")
        (o,) = _poll_until(pool, lambda: pool.idle() == 1 and pool.busy() == 1, lane=1)
        assert o.item.path == text.path and o.kind == "verdict"
        assert pool.waiting() == 1  # the second scan still waits for the first
        first.touch()
        out = _poll_until(pool, lambda: pool.waiting() == 0 and pool.busy() == 1, lane=1)
        assert [(o.item.path, o.kind) for o in out] == [(scan1.path, "verdict")]
        second.touch()
        (o,) = _poll_until(pool, lambda: pool.busy() == 0, lane=1)
        assert o.item.path == scan2.path and o.kind == "verdict"
    finally:
        pool.stop(1.0)
        j.close()


def test_scans_still_waiting_for_the_lane_are_handed_back_at_stop(tmp_path: Path) -> None:
    """A scan deferred for the OCR lane is unfinished work: stop() returns it (the agent requeues it).
    Policies reloaded while it waits: its hash-cache shortcut is dropped, so it is scanned anew."""
    pool = WorkerPool(1, timeout=30.0, spare=1)
    pool.start(ScriptedPipeline())
    j = Journal(tmp_path / "j.db")
    try:
        assert pool.wait_ready(30.0)
        release = tmp_path / "release"
        scan1, scan2 = _items(j, tmp_path, {f"scan{n}.pdf": b"OCR " + str(release).encode() for n in (1, 2)})
        scan2 = dataclasses.replace(scan2, prev_hash="h", prev_digest="d", prev_state_done=True)
        pool.submit(scan1, "contractor-drop", None, "d")
        _poll_until(pool, lambda: len(pool.slots) == 2 and pool.idle() == 1, lane=1)
        pool.submit(scan2, "contractor-drop", None, "d")
        _poll_until(pool, lambda: pool.waiting() == 1, lane=1)
        assert [job.prev_hash for _, job in pool._deferred] == ["h"]
        pool.replace_pipeline(ScriptedPipeline())  # new policies: the waiting scan must really be read
        assert [job.prev_hash for _, job in pool._deferred] == [None]
        unfinished = pool.stop(0.5)
        assert sorted(i.path for i in unfinished) == sorted([scan1.path, scan2.path])
    finally:
        release.touch()
        j.close()


def test_run_job_seals_what_the_pipeline_hook_saw_and_leaves_the_pipeline_alone(tmp_path: Path) -> None:
    """Evidence comes from the pipeline's on_detections hook: the sealed blob holds the matched
    marking, only the private key opens it, and the pipeline's classifier is never swapped."""
    pipeline = build_pipeline(None, b"k" * 32)
    classifier = pipeline.classifier
    team = X25519PrivateKey.generate()
    f = tmp_path / "minutes.txt"
    f.write_text("STRICTLY CONFIDENTIAL\nBoard minutes of the merger talks.\n")
    job = Job(1, str(f), "z", "contractor-drop", str(tmp_path), "d", None, None)
    result = run_job(pipeline, job, team.public_key())
    assert isinstance(result, Scanned) and result.seq == 1
    assert result.verdict.findings and len(result.evidence) == len(result.verdict.findings)
    doc = json.loads(open_sealed(team, result.evidence[0]))
    assert "STRICTLY CONFIDENTIAL" in doc["matches"][0]["value"].upper()
    assert pipeline.classifier is classifier
    unsealed = run_job(pipeline, job)
    assert isinstance(unsealed, Scanned) and unsealed.evidence == ()  # no key: nothing recorded or sealed
