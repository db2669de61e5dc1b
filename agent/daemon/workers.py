"""A small pool of scanning processes that the parent can kill one by one.

Fork safety: the agent runs threads (watchdog, event batcher, reconciler, metrics server, webhook
delivery), and a worker forked from it while another thread holds a lock (stdout's buffer, a
logging or structlog lock, sqlite's, a malloc arena) would inherit that lock held forever. So no
worker is ever forked from the agent: they come from multiprocessing's *forkserver*, a fresh,
single-threaded interpreter started by fork+exec (safe with threads) that preloads the heavy
modules. Each worker builds its pipeline once at start from a picklable spec (settings, key and the
exact pack bytes the agent loaded, see agent.daemon.wiring.PipelineSpec) and reports ``ready``; only then
is it given files, so its start-up time (about a second) never counts against a file's deadline.
Each worker owns a duplex Pipe; the parent hands it one file at a time and watches a deadline.
A worker whose file goes to OCR says so ("heavy") and waits for the parent's answer: while it OCRs,
a spare worker is started so text files keep ``size`` workers (the OCR lane, see WorkerPool._wanted).
The lane has ``spare`` places. When they are all taken, the worker is *parked*: it waits, the file
read so far held where it stopped, and another worker starts for the text files; once a place frees
the answer is yes and the scan goes on from where it stopped, so what was read is not read again.
Parking costs a process, and the worker that starts in its place its pipeline build (about a CPU
second), so only a scan that spent more than ``park_after`` CPU seconds before its OCR (an archive
with a scanned document near its end) is parked, and at most ``spare`` at once. Otherwise the answer
is no, the worker drops the file (``Deferred``) and the pool scans it again from the start as soon as
a place frees (a scanned PDF is told before its first page is drawn: it loses next to nothing),
so a drop of many scans at once never takes every worker away from the text files (issue 19).
The lane is first come, first served: a scan that reaches its OCR while others wait (parked or
deferred) waits behind them, so a stream of new scans cannot keep one waiting for ever.
Waiting is not reading: a parked scan's own time limit (the worker's agent.extract.context deadline)
and its hard deadline here both stop while it waits (agent.extract.ocr.announce_heavy), so it waits
as long as the lane needs (bounded: each scan ahead holds its place at most its own limit) and its
verdict, complete or timed out, is the one it gets when nothing waits.
A worker that overruns its file's deadline is SIGKILLed and replaced (the file is recorded as
``timeout``); a worker that dies is replaced too (``internal``).
ProcessPoolExecutor cannot kill one stuck task, hence this pool. What runs inside a worker (the
messages, the hash cache, evidence sealing) is agent.daemon.jobs.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection as mpc
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import structlog

from agent.daemon.jobs import (
    Cached,
    Deferred,
    Heavy,
    Job,
    JobFailed,
    JobResult,
    Lane,
    Named,
    Ready,
    Scanned,
    StartFailed,
    WorkerMessage,
    raw_key,
    worker_main,
)
from agent.journal import FileStat, WorkItem
from agent.models import Verdict

log = structlog.get_logger(__name__)

#: Imported once by the forkserver, so every worker starts with them loaded (copy-on-write).
PRELOAD = [
    "agent.daemon.jobs",
    "agent.daemon.workers",
    "agent.daemon.wiring",
    "agent.pipeline",
    "agent.classify",
    "agent.extract",
    "agent.policy",
]


@dataclass(frozen=True)
class Outcome:
    """What came of one work item: kind is verdict | cached | timeout | crashed | error.

    ``shown``: the path as alerts show it, as the worker masked it before it read the file (Named);
    None when it never said (it died first)."""

    item: WorkItem
    kind: str
    verdict: Verdict | None = None
    content_hash: str | None = None
    stat: FileStat | None = None
    reason: str | None = None
    seconds: float = 0.0
    evidence: tuple[bytes | None, ...] = ()  # sealed match context per finding (aligned with findings)
    shown: str | None = None


#: Seconds the OCR lane's extra workers stay after the last OCR ended (WorkerPool._wanted).
LANE_LINGER = 120.0
#: CPU seconds a scan must have spent before its OCR to be parked rather than read again: about what
#: the worker started in its place costs to build its pipeline (WorkerPool._park).
PARK_AFTER = 1.0


@dataclass
class _Slot:
    index: int
    proc: Any = None
    conn: Any = None
    item: WorkItem | None = None
    job: Job | None = None
    started: float = 0.0
    deadline: float = 0.0
    retire: bool = False  # replace after the current file (a reload brought a new pipeline)
    ready: bool = False  # the worker built its pipeline and said so: it may be given files
    heavy: bool = False  # its current file went to OCR (seconds to minutes): it is in the OCR lane
    parked_at: float = 0.0  # since when its file waits for a place in the lane (0: not waiting)
    parked_for: float = 0.0  # seconds its current file waited for the lane, all waits together
    shown: str | None = None  # its current file's path as alerts show it, once the worker said (Named)


class WorkerPool:
    """``size`` forked workers; ``submit`` one item to an idle one; ``poll`` collects outcomes."""

    def __init__(
        self,
        size: int,
        timeout: float,
        grace: float | None = None,
        metrics: Any = None,
        seal_to: Any = None,
        log_setup: tuple[bool | None, str] | None = None,
        spare: int = 1,
        linger: float = LANE_LINGER,
        park_after: float = PARK_AFTER,
    ) -> None:
        self.size = size
        self.spare = spare  # extra workers while files are being OCRed (the OCR lane, see _wanted)
        self.linger = linger  # seconds an idle extra is kept after the last OCR ended (see _wanted)
        self.park_after = park_after  # CPU seconds read before its OCR that make a scan worth parking
        self._lane_until = 0.0
        self._deferred: deque[tuple[WorkItem, Job]] = deque()  # scans waiting for a place in the lane
        self.seal_to = seal_to  # X25519 public key: workers seal evidence (settings evidence: encrypted)
        self.timeout = timeout
        # the extractor enforces `timeout` cooperatively; the hard kill leaves it room to do so first
        self.grace = grace if grace is not None else min(max(1.0, timeout * 0.5), 30.0)
        self.metrics = metrics
        self.log_setup = log_setup
        self.ctx = multiprocessing.get_context("forkserver")
        self.ctx.set_forkserver_preload(PRELOAD)
        self.slots = [_Slot(i) for i in range(size)]
        self._next_index = size
        self._seq = 0
        self.pipeline: Any = None  # a pipeline or a picklable callable building one (see _worker_main)
        self.spawned = 0
        self._announced = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self, pipeline: Any) -> None:
        """``pipeline``: a picklable pipeline or a picklable callable building one in each worker."""
        self.pipeline = pipeline
        for s in self.slots:
            self._spawn(s)

    def wait_ready(self, timeout: float) -> bool:
        """Block until every worker has built its pipeline (tests, benchmarks); False on timeout."""
        end = time.monotonic() + timeout
        while not all(s.ready for s in self.slots):
            if time.monotonic() >= end:
                return False
            self.poll(min(0.1, max(0.0, end - time.monotonic())))
        return True

    def _spawn(self, s: _Slot) -> None:
        parent, child = self.ctx.Pipe(duplex=True)
        p = self.ctx.Process(
            target=worker_main,
            args=(child, self.pipeline, raw_key(self.seal_to), self.log_setup),
            name=f"dropwarden-worker-{s.index}",
        )
        p.daemon = True
        p.start()
        child.close()
        s.proc, s.conn, s.item, s.job, s.retire, s.ready, s.heavy = p, parent, None, None, False, False, False
        s.shown, s.parked_at, s.parked_for = None, 0.0, 0.0
        self.spawned += 1

    def _kill(self, s: _Slot) -> None:
        with contextlib.suppress(Exception):
            s.proc.kill()
        s.proc.join(2.0)
        with contextlib.suppress(OSError):
            s.conn.close()

    def _stop_idle(self, s: _Slot) -> None:
        with contextlib.suppress(OSError):
            s.conn.send(None)
        s.proc.join(2.0)
        if s.proc.is_alive():
            s.proc.kill()
            s.proc.join(1.0)
        s.conn.close()

    def replace_pipeline(self, pipeline: Any) -> None:
        """New policies: idle workers are replaced now, busy ones after their current file."""
        self.pipeline = pipeline
        for s in self.slots:
            if s.item is None and not s.ready:  # still starting with the old spec
                self._kill(s)
                self._spawn(s)
            elif s.item is None:
                self._stop_idle(s)
                self._spawn(s)
            else:
                s.retire = True
        # a scan waiting for the OCR lane was submitted under the old policy digest: its hash-cache
        # check (same hash, same digest -> no scan) must not let it skip the new policies; a parked
        # one is told no, so it is scanned again from the start by a worker of the new pipeline
        self._deferred = deque((item, replace(job, prev_hash=None)) for item, job in self._deferred)
        for s in self._parked():
            if s.job is not None:
                s.job = replace(s.job, prev_hash=None)
            self._unpark(s, go=False)

    def stop(self, timeout: float = 5.0) -> list[WorkItem]:
        """Ask every worker to exit; kill what is still busy after ``timeout``; return unfinished items."""
        end = time.monotonic() + timeout
        unfinished = []
        for s in self.slots:
            if s.item is None:
                with contextlib.suppress(OSError):
                    s.conn.send(None)
        for s in self.slots:
            s.proc.join(max(0.0, end - time.monotonic()))
            if s.proc.is_alive():
                s.proc.kill()
                s.proc.join(1.0)
            if s.item is not None:
                unfinished.append(s.item)
                s.item = None
        unfinished += [item for item, _ in self._deferred]
        self._deferred.clear()
        return unfinished

    # -- work ---------------------------------------------------------------------------------
    def idle(self) -> int:
        """Workers ready for a file (a starting worker is neither idle nor busy)."""
        return sum(1 for s in self.slots if s.item is None and s.ready)

    def busy(self) -> int:
        return sum(1 for s in self.slots if s.item is not None)

    def waiting(self) -> int:
        """Scans waiting for a place in the OCR lane: parked in their worker, or put aside (_resume)."""
        return len(self._deferred) + len(self._parked())

    def _parked(self) -> list[_Slot]:
        """Workers waiting for a place in the OCR lane, longest waiting first."""
        return sorted((s for s in self.slots if s.parked_at), key=lambda s: s.parked_at)

    def pids(self) -> list[int]:
        return [s.proc.pid for s in self.slots if s.proc is not None]

    def submit(self, item: WorkItem, role: str, root: str | None, digest: str) -> None:
        s = next(s for s in self.slots if s.item is None and s.ready)
        prev_hash = item.prev_hash if item.prev_state_done else None
        self._send(s, item, Job(0, item.path, item.zone, role, root, digest, prev_hash, item.prev_digest))

    def _send(self, s: _Slot, item: WorkItem, job: Job) -> None:
        """Hand ``job`` (a fresh sequence number) to the idle worker of slot ``s``."""
        self._seq += 1
        job = replace(job, seq=self._seq)
        now = time.monotonic()
        s.item, s.job, s.started, s.deadline = item, job, now, now + self.timeout + self.grace
        s.shown, s.parked_at, s.parked_for = None, 0.0, 0.0
        with contextlib.suppress(OSError):  # the worker died: poll() sees its sentinel, reports the item
            s.conn.send(job)

    def next_deadline(self) -> float | None:
        """When poll must act next: a file's hard deadline (a parked file's is stopped while it waits)."""
        ds = [s.deadline for s in self.slots if s.item is not None and not s.parked_at]
        return min(ds) if ds else None

    def poll(self, timeout: float, extra: Sequence[Any] = ()) -> list[Outcome]:
        """Wait up to ``timeout`` for results, deaths or deadlines; respawn as needed."""
        dl = self.next_deadline()
        if dl is not None:
            timeout = max(0.0, min(timeout, dl - time.monotonic()))
        waitables: list[Any] = list(extra)
        by_obj: dict[Any, _Slot] = {}
        for s in self.slots:
            if s.item is not None or not s.ready:
                waitables.append(s.conn)
                by_obj[s.conn] = s
            waitables.append(s.proc.sentinel)
            by_obj[s.proc.sentinel] = s
        out: list[Outcome] = []
        handled: set[int] = set()
        for r in mpc.wait(waitables, timeout):
            ready = by_obj.get(r)
            if ready is None or ready.index in handled:
                continue
            handled.add(ready.index)
            if (o := self._handle(ready, r)) is not None:
                out.append(o)
        out += self._expire()
        self._resume()
        if len(self.slots) > self.size:
            self._shrink()
        return out

    def _handle(self, s: _Slot, r: Any) -> Outcome | None:
        """One ready waitable of slot ``s``: a start-up message, a job's answer, or the worker's death."""
        if not s.ready and s.item is None and r is s.conn and self._started(s):
            return None
        if s.item is not None and r is s.conn:
            o = self._receive(s)
            if o is not None:
                return o
        if s.proc.is_alive() and r is not s.proc.sentinel:
            return None
        s.proc.join(0.1)
        if s.proc.is_alive():
            return None
        self._drain(s)
        item, shown = s.item, s.shown
        self._kill(s)
        self._restart(s, "crash")
        return Outcome(item, "crashed", reason="internal", shown=shown) if item is not None else None

    def _expire(self) -> list[Outcome]:
        """Workers past their file's deadline: killed and replaced, the file recorded as ``timeout``."""
        now = time.monotonic()
        out = []
        for s in self.slots:
            if s.item is not None and not s.parked_at and now >= s.deadline:
                self._drain(s)
                item, started, shown = s.item, s.started, s.shown
                log.warning("worker_timed_out", pid=s.proc.pid, seconds=round(now - started, 3))
                self._kill(s)
                self._restart(s, "timeout")
                out.append(Outcome(item, "timeout", reason="timeout", seconds=now - started, shown=shown))
        return out

    def _drain(self, s: _Slot) -> None:
        """Before a worker is killed or buried: read what it still sent, for its Named answer."""
        with contextlib.suppress(EOFError, OSError):
            while s.job is not None and s.conn.poll():
                msg = s.conn.recv()
                if isinstance(msg, Named) and msg.seq == s.job.seq:
                    s.shown = msg.shown

    def _lane_open(self) -> bool:
        """Is there a place in the OCR lane? (``spare`` 0: no lane, every file OCRs where it is.)"""
        return self.spare == 0 or sum(1 for s in self.slots if s.heavy) < self.spare

    def _lane_free_for_newcomer(self) -> bool:
        """A place for a scan that just reached its OCR: only when none waits for one (parked or
        deferred), so it never passes them (first come, first served; _resume serves the waiting)."""
        return self._lane_open() and (self.spare == 0 or not self.waiting())

    def _resume(self) -> None:
        """As soon as the lane has a place: a parked scan goes on (longest waiting first); then deferred
        scans go back to a worker, oldest first. Such a job takes its place right away (it is known
        to need OCR), and a spare starts beside it."""
        while (parked := self._parked()) and self._lane_open():
            self._unpark(parked[0], go=True)
        while self._deferred and self._lane_open():
            s = next((s for s in self.slots if s.item is None and s.ready), None)
            if s is None:
                return
            item, job = self._deferred.popleft()
            self._send(s, item, job)
            s.heavy = True
            self._grow()

    def _wanted(self) -> int:
        """The OCR lane: OCR takes seconds a page, and text files must not queue behind a scan. While
        files are being OCRed, up to ``spare`` extra workers run, so ``size`` workers stay free for
        everything else. Once those files are done the extras stay ``linger`` seconds: scans come in
        batches, and a new extra costs its pipeline build (a core for a second or more) just when
        the next scan arrives; after that the idle extras are stopped."""
        heavy = sum(1 for s in self.slots if s.heavy)
        kept = len(self.slots) - self.size if time.monotonic() < self._lane_until else 0
        return self.size + min(self.spare, max(heavy, kept)) + len(self._parked())

    def _admit(self, s: _Slot, heavy: Heavy) -> None:
        """A worker's file goes to OCR: it takes a place in the lane (a spare starts so text files keep
        ``size`` workers), or, the lane being full, it is parked (a scan that read much before its
        OCR, see _park) or told to drop the file (it answers Deferred)."""
        go = s.heavy or self._lane_free_for_newcomer()
        if not go and heavy.spent >= self.park_after and len(self._parked()) < self.spare:
            self._park(s)
            return
        if go:
            s.heavy = True
            self._grow()
        with contextlib.suppress(OSError):  # the worker died: poll() sees its sentinel
            s.conn.send(Lane(heavy.seq, go))

    def _park(self, s: _Slot) -> None:
        """The lane is full: the worker waits for its answer with what it read so far (no re-read when
        it goes on), its hard deadline stopped, as the worker stops its file's own time limit while it
        waits (agent.extract.ocr.announce_heavy); a worker starts in its place for the text files.
        Bounded: at most ``spare`` parked workers, served first when a place frees (_resume)."""
        s.parked_at = time.monotonic()
        self._grow()
        log.info("scan_parked_for_ocr_lane", waiting=self.waiting())

    def _unpark(self, s: _Slot, go: bool) -> None:
        """Answer a parked worker: go on in the lane (its deadline moved by the wait), or drop the file
        (it answers Deferred at once, and the file is scanned again from the start)."""
        now = time.monotonic()
        waited, s.parked_at = now - s.parked_at, 0.0
        s.parked_for += waited
        if go:
            s.heavy = True
            s.deadline += waited
            self._grow()
        else:
            s.deadline = now + self.grace
        with contextlib.suppress(OSError):  # the worker died: poll() sees its sentinel
            s.conn.send(Lane(s.job.seq if s.job is not None else 0, go))

    def _grow(self) -> None:
        while len(self.slots) < self._wanted():
            s = _Slot(self._next_index)
            self._next_index += 1
            self.slots.append(s)
            self._spawn(s)

    def _shrink(self) -> None:
        """Stop idle extras (only between polls: a slot must not vanish while its events are handled)."""
        surplus = [s for s in self.slots if s.item is None][: max(0, len(self.slots) - self._wanted())]
        for s in surplus:
            if s.ready:
                self._stop_idle(s)
            else:
                self._kill(s)
            self.slots.remove(s)

    def _restart(self, s: _Slot, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.worker_restarts.labels(reason=reason).inc()
        self._spawn(s)

    def _result(
        self, item: WorkItem, job: Job, msg: JobResult, waited: float
    ) -> Cached | Scanned | JobFailed | None:
        """A job's last message as its result; None when the lane was full and the file is to be read
        again (Deferred). A scan parked ``waited`` seconds: its wait does not count as scan time (its
        time limit did not run meanwhile either, so a timeout in its verdict is its own)."""
        if isinstance(msg, Deferred):  # scanned again when a place frees (_resume)
            self._deferred.append((item, job))
            log.info("scan_deferred_for_ocr_lane", waiting=self.waiting())
            return None
        if waited and isinstance(msg, Scanned):
            return replace(msg, verdict=replace(msg.verdict, seconds=max(0.0, msg.verdict.seconds - waited)))
        return msg

    def _started(self, s: _Slot) -> bool:
        """A starting worker's first message: True when it is ready (False: it failed or died)."""
        try:
            msg: WorkerMessage = s.conn.recv()
        except (EOFError, OSError):
            return False
        if isinstance(msg, Ready):
            s.ready = True
            if not self._announced and all(o.ready for o in self.slots):
                self._announced = True  # once: the agent is now scanning (benchmarks wait for it)
                log.info("workers_ready", workers=self.size)
            return True
        log.error(
            "worker_start_failed", error=msg.error if isinstance(msg, StartFailed) else type(msg).__name__
        )
        return False

    def _receive(self, s: _Slot) -> Outcome | None:
        try:
            msg: WorkerMessage = s.conn.recv()
        except (EOFError, OSError):
            return None  # died: handled as a crash by the caller
        item, job = s.item, s.job
        if item is None or job is None:
            raise RuntimeError("a worker answered while it had no job")
        if not isinstance(msg, Named | Heavy | Cached | Scanned | JobFailed | Deferred) or msg.seq != job.seq:
            return None
        if isinstance(msg, Named):
            s.shown = msg.shown
            return None
        if isinstance(msg, Heavy):
            self._admit(s, msg)
            return None
        secs, shown, waited = time.monotonic() - s.started - s.parked_for, s.shown, s.parked_for
        if s.heavy:  # an OCR ended: the lane's extras stay a while for the next one
            self._lane_until = time.monotonic() + self.linger
        s.item, s.job, s.heavy, s.parked_at, s.parked_for = None, None, False, 0.0, 0.0
        if s.retire:
            self._stop_idle(s)
            self._spawn(s)
        result = self._result(item, job, msg, waited)
        if isinstance(result, Cached):
            return Outcome(item, "cached", content_hash=result.content_hash, stat=result.stat, seconds=secs)
        if isinstance(result, Scanned):
            return Outcome(
                item, "verdict", verdict=result.verdict, content_hash=result.content_hash, stat=result.stat,
                seconds=secs, evidence=result.evidence,
            )  # fmt: skip
        if result is None:
            return None
        return Outcome(item, "error", reason=result.reason, seconds=secs, shown=shown)
