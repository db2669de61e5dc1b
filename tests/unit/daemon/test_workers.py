"""The worker pool: forked processes, hash cache, per-file deadline, crash replacement."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from agent.daemon.jobs import Job, Scanned, hash_file, run_job
from agent.daemon.settings import Settings
from agent.daemon.wiring import build_with_spec
from agent.daemon.workers import LANE_LINGER, PARK_AFTER, Outcome, WorkerPool
from agent.extract import ocr
from agent.extract.context import Abort, Context
from agent.journal import Journal
from agent.models import ExtractError, FileRef, Limits, Verdict
from agent.pipeline import build_pipeline
from agent.security.evidence import open_sealed
from tests.helpers import fake_card


class ScriptedPipeline:
    """Stands in for the real Pipeline to drive the pool's failure paths: HANG sleeps, CRASH exits."""

    def scan(self, ref: FileRef, on_detections: object = None) -> Verdict:
        data = Path(ref.path).read_bytes() if os.path.isfile(ref.path) else b""
        if data.startswith(b"GATE "):  # "GATE <file> <rest>": reads until the file exists, then <rest>
            gate, data = data[5:].split(b" ", 1)
            _wait_for_file(Path(gate.decode()))
        if data.startswith(b"HANG"):
            time.sleep(3600)
        if data.startswith(b"CRASH"):
            os._exit(3)
        if data.startswith(b"OCR "):  # goes to OCR, as a scanned PDF would, until released
            ocr.announce_heavy(Context(ref.path, Limits()))
            _wait_for_file(Path(data[4:].decode()))
        if data.startswith(b"OCRT "):  # "OCRT <time limit> <seconds of OCR>", the limit from the start
            limit, work = (float(x) for x in data[5:].split())
            ctx = Context(ref.path, Limits(timeout_seconds=limit))
            ocr.announce_heavy(ctx)
            time.sleep(work)
            try:
                ctx.check()
            except Abort as e:
                err = ExtractError(ref.path, None, e.reason, e.detail)
                return Verdict(ref.path, ref.zone, (), (err,), len(data), 0.0)
        if data.startswith(b"RAISE"):
            raise RuntimeError("a bug in a stage")
        return Verdict(ref.path, ref.zone, (), (), len(data), 0.0)


def _wait_for_file(path: Path) -> None:
    end = time.monotonic() + 20
    while not path.exists() and time.monotonic() < end:
        time.sleep(0.02)


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


@contextlib.contextmanager
def lane_pool(
    tmp_path: Path,
    timeout: float,
    grace: float | None = None,
    linger: float = LANE_LINGER,
    park_after: float = 0.0,
) -> Iterator[tuple[WorkerPool, Journal]]:
    """One scripted worker, an OCR lane of one place, and a journal. ``park_after`` 0: any scan the
    full lane stops is parked (the scripted scans spend no CPU before their OCR)."""
    pool = WorkerPool(1, timeout=timeout, grace=grace, spare=1, linger=linger, park_after=park_after)
    pool.start(ScriptedPipeline())
    j = Journal(tmp_path / "j.db")
    try:
        assert pool.wait_ready(30.0)
        yield pool, j
    finally:
        pool.stop(1.0)
        j.close()


def test_ocr_lane_keeps_a_worker_for_text_files(tmp_path: Path) -> None:
    """One worker, and its file goes to OCR: a spare worker starts, a text file submitted meanwhile
    gets its verdict while the OCR still runs; once the OCR is done the spare stays ``linger``
    seconds (the next scan finds it ready), then it is stopped."""
    with lane_pool(tmp_path, timeout=30.0, linger=1.0) as (pool, j):
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


def _poll_until(pool: WorkerPool, done: object, lane: int, timeout: float = 30.0) -> list:
    """Poll until ``done()``; at every step no more than ``lane`` workers may be OCRing."""
    out: list = []
    end = time.monotonic() + timeout
    while not done() and time.monotonic() < end:  # type: ignore[operator]
        out += pool.poll(0.05)
        assert sum(1 for s in pool.slots if s.heavy) <= lane
    assert done()  # type: ignore[operator]
    return out


def _scans(j: Journal, tmp_path: Path, n: int) -> tuple[list, list[Path]]:
    """``n`` scripted scans, each OCRing until its release file exists."""
    releases = [tmp_path / f"release-{k}" for k in range(1, n + 1)]
    items = _items(
        j, tmp_path, {f"scan{k}.pdf": b"OCR " + str(r).encode() for k, r in enumerate(releases, 1)}
    )
    return items, releases


def _submit_three(pool: WorkerPool, scans: list) -> None:
    """Three scans, one worker, a lane of one place: the first OCRs, the second is parked (a worker
    starts in its place), the third is told no and waits outside (deferred)."""
    pool.submit(scans[0], "contractor-drop", None, "d")
    _poll_until(pool, lambda: len(pool.slots) == 2 and pool.idle() == 1, lane=1)
    pool.submit(scans[1], "contractor-drop", None, "d")
    assert _poll_until(pool, lambda: pool.waiting() == 1 and pool.idle() == 1, lane=1) == []
    assert len(pool.slots) == 3 and len(pool._parked()) == 1  # the parked one keeps its process
    pool.submit(scans[2], "contractor-drop", None, "d")
    assert _poll_until(pool, lambda: len(pool._deferred) == 1 and pool.idle() == 1, lane=1) == []
    assert pool.waiting() == 2


def test_a_scan_that_read_little_before_its_ocr_is_deferred_not_parked(tmp_path: Path) -> None:
    """The lane full, a scan that spent less CPU than a worker's build before its OCR (a scanned PDF:
    OCR from its first page) is told no and read again later: no worker is started in its place."""
    with lane_pool(tmp_path, timeout=30.0, park_after=PARK_AFTER) as (pool, j):
        scans, releases = _scans(j, tmp_path, 2)
        pool.submit(scans[0], "contractor-drop", None, "d")
        _poll_until(pool, lambda: len(pool.slots) == 2 and pool.idle() == 1, lane=1)
        pool.submit(scans[1], "contractor-drop", None, "d")
        assert _poll_until(pool, lambda: len(pool._deferred) == 1 and pool.idle() == 1, lane=1) == []
        assert not pool._parked() and len(pool.slots) == 2
        releases[0].touch()
        releases[1].touch()
        out = _poll_until(pool, lambda: pool.busy() == 0 and pool.waiting() == 0, lane=1)
        assert sorted(o.kind for o in out) == ["verdict", "verdict"] and pool._seq == 3


def test_a_full_ocr_lane_parks_the_next_scan_and_text_files_keep_their_worker(tmp_path: Path) -> None:
    """One worker, a lane of one place, three scans: the second scan's worker is parked where it is
    and a worker starts in its place, the third is deferred (at most one parked), a text file gets
    its verdict meanwhile. When the first scan is done the parked one goes on without being handed
    out again; then the deferred one is read. Never are two files OCRed at once, and every file gets
    its verdict."""
    with lane_pool(tmp_path, timeout=30.0, linger=60.0) as (pool, j):
        scans, releases = _scans(j, tmp_path, 3)
        (text,) = _items(j, tmp_path, {"a.txt": b"text"})
        _submit_three(pool, scans)
        pool.submit(text, "contractor-drop", None, "d")
        (o,) = _poll_until(pool, lambda: pool.idle() == 1 and pool.busy() == 2, lane=1)
        assert o.item.path == text.path and o.kind == "verdict"
        releases[0].touch()
        out = _poll_until(pool, lambda: pool.waiting() == 1 and not pool._parked(), lane=1)
        assert [(o.item.path, o.kind) for o in out] == [(scans[0].path, "verdict")]
        releases[1].touch()
        releases[2].touch()
        out = _poll_until(pool, lambda: pool.busy() == 0 and pool.waiting() == 0, lane=1)
        assert sorted((o.item.path, o.kind) for o in out) == [
            (scans[1].path, "verdict"),
            (scans[2].path, "verdict"),
        ]
        assert pool._seq == 5  # four files handed out once, the deferred scan once more: not the parked one


def test_scans_still_waiting_for_the_lane_are_handed_back_at_stop(tmp_path: Path) -> None:
    """Parked and deferred scans are unfinished work: stop() returns them (the agent requeues them).
    Policies reloaded while they wait: the parked one is told no, and neither keeps its hash-cache
    shortcut, so both are scanned anew by workers of the new pipeline."""
    pool = WorkerPool(1, timeout=30.0, spare=1, park_after=0.0)
    pool.start(ScriptedPipeline())
    j = Journal(tmp_path / "j.db")
    scans, releases = _scans(j, tmp_path, 3)
    try:
        assert pool.wait_ready(30.0)
        scans = [scans[0]] + [
            dataclasses.replace(i, prev_hash="h", prev_digest="d", prev_state_done=True) for i in scans[1:]
        ]
        _submit_three(pool, scans)
        assert [job.prev_hash for _, job in pool._deferred] == ["h"]
        pool.replace_pipeline(ScriptedPipeline())  # new policies: the waiting scans must really be read
        _poll_until(pool, lambda: len(pool._deferred) == 2, lane=1)
        assert [job.prev_hash for _, job in pool._deferred] == [None, None] and not pool._parked()
        unfinished = pool.stop(0.5)
        assert sorted(i.path for i in unfinished) == sorted(i.path for i in scans)
    finally:
        for r in releases:
            r.touch()
        j.close()


def _parked_past_its_limit(tmp_path: Path, scripted: bytes) -> Outcome:
    """A scan (``scripted``, an "OCRT 1.0 ..." of time limit 1 s, as the pool's) parked behind a scan
    holding the lane until it has waited longer than its whole time limit; then the lane frees. Its
    outcome. Throughout the wait the gauge's count (``waiting``) is 1."""
    with lane_pool(tmp_path, timeout=1.0, grace=60.0) as (pool, j):
        (first,), (release,) = _scans(j, tmp_path, 1)
        (limited,) = _items(j, tmp_path, {"limited.pdf": scripted})
        pool.submit(first, "contractor-drop", None, "d")
        _poll_until(pool, lambda: len(pool.slots) == 2 and pool.idle() == 1, lane=1)
        pool.submit(limited, "contractor-drop", None, "d")
        _poll_until(pool, lambda: len(pool._parked()) == 1, lane=1)
        parked_at = pool._parked()[0].parked_at
        while time.monotonic() - parked_at < 2.5:  # well past its time limit (1 s)
            assert pool.poll(0.05) == [] and pool.waiting() == 1 and len(pool._parked()) == 1
        release.touch()
        out = _poll_until(pool, lambda: pool.busy() == 0 and pool.waiting() == 0, lane=1)
        by_path = {o.item.path: o for o in out}
        assert len(out) == 2 and by_path[first.path].kind == "verdict"
        assert pool._seq == 2  # each file handed out once: the parked scan was never read again
        return by_path[limited.path]


def test_a_scan_parked_past_its_time_limit_goes_on_where_it_stopped(tmp_path: Path) -> None:
    """Waiting for the OCR lane is not reading: a parked scan that waits longer than its whole time
    limit (and than its hard deadline) is neither told no, nor killed, nor read again; once the lane
    frees it goes on, and its verdict is complete, as if it had never waited. The wait is not in its
    seconds."""
    o = _parked_past_its_limit(tmp_path, b"OCRT 1.0 0")
    assert o.kind == "verdict" and o.verdict.errors == ()
    assert o.seconds < 2.5 and o.verdict.seconds < 2.5  # it waited 2.5 s or more


def test_a_parked_scan_that_overruns_its_own_limit_still_times_out(tmp_path: Path) -> None:
    """The wait is paused, not forgiven: a parked scan whose own OCR then takes longer than its time
    limit ends as a timeout (the daemon reports it as UNSCANNED_CONTENT), and that verdict is kept."""
    o = _parked_past_its_limit(tmp_path, b"OCRT 1.0 1.5")
    assert o.kind == "verdict" and [e.reason for e in o.verdict.errors] == ["timeout"]


def test_a_scan_reaching_the_lane_while_others_wait_queues_behind_them(tmp_path: Path) -> None:
    """First come, first served: the lane frees (the first scan's verdict) in the same poll in which a
    third scan reaches its OCR, while a second scan waits deferred. The second goes first; the third
    waits behind it, so a stream of new scans cannot keep a deferred one waiting."""
    with lane_pool(tmp_path, timeout=30.0, park_after=PARK_AFTER, linger=60.0) as (pool, j):
        (first, second), (r1, r2) = _scans(j, tmp_path, 2)
        r2.touch()
        gate = tmp_path / "gate"
        (third,) = _items(j, tmp_path, {"third.pdf": f"GATE {gate} OCR {r2}".encode()})
        pool.submit(first, "contractor-drop", None, "d")
        _poll_until(pool, lambda: len(pool.slots) == 2 and pool.idle() == 1, lane=1)
        pool.submit(second, "contractor-drop", None, "d")
        _poll_until(pool, lambda: len(pool._deferred) == 1 and pool.idle() == 1, lane=1)
        pool.submit(third, "contractor-drop", None, "d")
        r1.touch()
        gate.touch()
        time.sleep(1.0)  # both answers wait in their pipes: the first's verdict, the third's Heavy
        out = _poll_until(pool, lambda: pool.busy() == 0 and pool.waiting() == 0, lane=1)
        assert [o.item.path for o in out] == [first.path, second.path, third.path]
        assert all(o.kind == "verdict" for o in out)


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


def test_evidence_of_a_value_from_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    """A finding read from a name that is not UTF-8 (lone surrogates in its value and context) still
    gets its evidence document: JSON escapes them, the scan does not fail on sealing."""
    import json
    import random

    from agent.daemon.jobs import _Recorder
    from agent.demo import luhn_complete
    from agent.models import FileRef
    from agent.pipeline import build_pipeline

    card = luhn_complete("45", 16, random.Random(5))
    folder = os.fsencode(tmp_path) + b"/card \xff " + card.encode()
    os.makedirs(folder)
    with open(folder + b"/n.txt", "w") as f:
        f.write("notes\n")
    recorder = _Recorder()
    ref = FileRef(os.fsdecode(folder + b"/n.txt"), role="contractor-drop", root=str(tmp_path))
    verdict = build_pipeline(None, b"k" * 32).scan(ref, on_detections=recorder)
    (finding,) = verdict.findings
    doc = json.loads(recorder.evidence_for(finding))
    assert doc["matches"][0]["value"] == card and "\udcff" in doc["matches"][0]["context"]
