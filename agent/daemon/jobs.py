"""The worker process's side of the pool (agent.daemon.workers): what runs in each scanning process.

A worker builds its pipeline once from a picklable spec, says ``Ready``, then takes one :class:`Job`
at a time over its Pipe and answers with typed messages: first ``Named`` (the path as alerts must
show it, values in its name masked before a byte of the file is read, so a worker killed on the file
has said it), maybe ``Heavy`` when the file goes to OCR (then it waits for the parent's ``Lane``
answer: it may be parked there), and one result: ``Cached``, ``Scanned``, ``JobFailed`` or
``Deferred`` (the lane was full and the parent said no).

Before a scan the worker hashes the file (blake2b, streaming): when the hash and the policy digest
equal the journal's last record the previous verdict stands and extraction is skipped.

With ``seal_to`` (settings ``evidence: encrypted``) the worker also seals the match context of each
finding to the security team's public key: the raw context never crosses the pipe to the parent in
clear, only sealed blobs do (see agent.security.evidence).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing.connection as mpc
import os
import signal
import stat as stat_mod
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from agent.extract import ocr
from agent.journal import FileStat
from agent.log import about_file
from agent.models import Detection, FileRef, Finding, Verdict
from agent.redact import shown
from agent.security.dirfd import PathRefused, open_regular
from agent.sources import longpath

log = structlog.get_logger(__name__)

HASH_CHUNK = 1 << 20
#: A worker that cannot build its pipeline waits this long before it exits (and is respawned).
START_FAILURE_PAUSE = 5.0
#: Bounds on what evidence sealing keeps per file: a hostile file must not exhaust a worker's memory.
MAX_RECORDED_DETECTIONS = 20_000
MAX_SEALED_FINDINGS = 200
MAX_VALUES_PER_FINDING = 20


@dataclass(frozen=True)
class Job:
    seq: int
    path: str
    zone: str | None
    role: str
    root: str | None
    digest: str
    prev_hash: str | None  # the journal's hash of the last completed scan, if any
    prev_digest: str | None


# -- the messages on a worker's pipe (pickled by multiprocessing) ----------------------------------
@dataclass(frozen=True)
class Ready:
    """Worker -> parent, once: the pipeline is built, give me files."""

    pid: int


@dataclass(frozen=True)
class StartFailed:
    """Worker -> parent, once: the pipeline could not be built (the worker exits and is respawned)."""

    error: str  # exception class name only: never a message that could carry content


@dataclass(frozen=True)
class Cached:
    """Worker -> parent: the file's hash and the policy digest equal the last scan's; no scan."""

    seq: int
    content_hash: str
    stat: FileStat


@dataclass(frozen=True)
class Scanned:
    """Worker -> parent: a verdict, with the hash and stat of what was read (empty hash: not hashable)."""

    seq: int
    verdict: Verdict
    content_hash: str
    stat: FileStat | None
    evidence: tuple[bytes | None, ...] = ()  # sealed match context per finding (aligned with findings)


@dataclass(frozen=True)
class JobFailed:
    """Worker -> parent: the scan raised (a bug, or the memory ceiling); the file gets ``reason``."""

    seq: int
    reason: str
    error: str  # exception class name


@dataclass(frozen=True)
class Named:
    """Worker -> parent, first thing in every job: the path as alerts must show it (values in its name
    masked, agent.policy.names). A worker killed on the file can no longer say it, and the parent holds
    no recognizers to mask it (see agent.daemon.outcome.withheld_path for a worker that never said)."""

    seq: int
    shown: str


@dataclass(frozen=True)
class Heavy:
    """Worker -> parent, during a job: this file goes to OCR; may it take a place in the OCR lane?
    ``spent``: CPU seconds the worker spent on the file so far (what reading it again would cost)."""

    seq: int
    spent: float = 0.0


@dataclass(frozen=True)
class Lane:
    """Parent -> worker, the answer to Heavy: ``go`` False while the OCR lane is full."""

    seq: int
    go: bool


@dataclass(frozen=True)
class Deferred:
    """Worker -> parent: the file needs OCR and the lane was full; it was not scanned (yet)."""

    seq: int


class LaneFull(BaseException):
    """Raised inside a scan whose OCR the parent refused for now. A BaseException, so that no
    reader's ``except Exception`` records it as the file's error: the whole scan is dropped."""


#: What a worker sends: one of Ready | StartFailed first, then per Job Named, maybe Heavy, one result.
WorkerMessage = Ready | StartFailed | Named | Heavy | Cached | Scanned | JobFailed | Deferred
JobResult = Cached | Scanned | JobFailed | Deferred


class _Recorder:
    """Keeps each detection of one scan (the pipeline's ``on_detections`` hook) for sealing."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str | None, str, int, int], Detection] = {}

    def __call__(self, found: Sequence[Detection]) -> None:
        for d in found:
            if len(self.seen) >= MAX_RECORDED_DETECTIONS:
                break
            self.seen.setdefault((d.member, d.entity, d.start, d.end), d)

    def evidence_for(self, f: Finding) -> bytes:
        """The plaintext evidence document of one finding (JSON); sealed by the caller right away."""
        hit = self.seen.get((f.member, f.entity, f.start, f.end))
        same = [d for k, d in self.seen.items() if k[0] == f.member and k[1] == f.entity]
        dets = ([hit] if hit is not None else []) + [d for d in same if d is not hit]
        dets = dets[: max(1, min(f.count, MAX_VALUES_PER_FINDING))] if dets else []
        doc = {
            "version": 1,
            "path": shown(f.path),
            "member": f.member,
            "policy": f.policy,
            "rule": f.rule,
            "entity": f.entity,
            "line": f.line,
            "matches": [
                {
                    "start": d.start,
                    "end": d.end,
                    "line": d.line,
                    "value": d.value,
                    "context_start": d.context_start,
                    "context": d.context,
                }
                for d in dets
            ],
        }
        # escaped: a value or context read from a name that is not UTF-8 holds lone surrogates
        return json.dumps(doc, indent=1).encode()


def seal_evidence(recorder: _Recorder, verdict: Verdict, public_key: Any) -> tuple[bytes | None, ...]:
    """One sealed blob per finding (None past the cap); runs in the worker, next to the plaintext."""
    from agent.security.evidence import seal

    out: list[bytes | None] = []
    for i, f in enumerate(verdict.findings):
        out.append(seal(public_key, recorder.evidence_for(f)) if i < MAX_SEALED_FINDINGS else None)
    return tuple(out)


def hash_file(path: str, root: str | None = None) -> tuple[str, FileStat] | None:
    """blake2b of a regular file, reached from ``root`` without following links or blocking on FIFOs;
    None otherwise."""
    try:
        fd, _ = open_regular(root or os.path.dirname(os.path.abspath(path)), os.path.abspath(path))
    except (PathRefused, OSError):
        return None
    try:
        fst = os.fstat(fd)
        if not stat_mod.S_ISREG(fst.st_mode):
            return None
        h = hashlib.blake2b(digest_size=32)
        while True:
            b = os.read(fd, HASH_CHUNK)
            if not b:
                break
            h.update(b)
        return h.hexdigest(), FileStat.of(fst)
    except OSError:
        return None
    finally:
        os.close(fd)


def run_job(pipeline: Any, job: Job, seal_to: Any = None) -> Cached | Scanned:
    """The worker's unit of work (also callable in-process by tests).

    ``seal_to``: the security team's X25519 public key; the verdict then travels with one sealed
    evidence blob per finding.
    """
    hashed = hash_file(job.path, job.root)
    if hashed is not None:
        h, st = hashed
        if job.prev_hash == h and job.prev_digest == job.digest:
            return Cached(job.seq, h, st)
    ref = FileRef(path=job.path, zone=job.zone, role=job.role, root=job.root)  # type: ignore[arg-type]
    recorder = _Recorder() if seal_to is not None else None
    verdict = pipeline.scan(ref, on_detections=recorder)
    evidence = seal_evidence(recorder, verdict, seal_to) if recorder is not None and verdict.findings else ()
    if recorder is not None:
        recorder.seen.clear()  # plaintext contexts: drop them as soon as they are sealed
    if hashed is None:
        try:
            st2: FileStat | None = FileStat.of(longpath.lstat(job.path))
        except OSError:
            st2 = None
        return Scanned(job.seq, verdict, "", st2, evidence)
    return Scanned(job.seq, verdict, hashed[0], hashed[1], evidence)


def raw_key(key: Any) -> Any:
    """An X25519 public key as its 32 raw bytes (picklable); anything else as is."""
    raw = getattr(key, "public_bytes_raw", None)
    return raw() if raw is not None else key


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: a worker stuck in a hostile file must not outlive a kill -9'd agent."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def _announcer(conn: mpc.Connection, seq: int) -> Any:
    """The worker asks its parent for a place in the OCR lane for this job and waits for the answer
    (parked, see agent.daemon.workers.WorkerPool._park; the file's time limit is paused meanwhile by
    agent.extract.ocr.announce_heavy); raises :class:`LaneFull` when the answer is no. While a job
    runs the parent sends nothing else."""
    cpu0 = time.process_time()

    def announce() -> None:
        try:
            conn.send(Heavy(seq, time.process_time() - cpu0))
            answer = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone: this worker ends with the job
        if isinstance(answer, Lane) and not answer.go:
            raise LaneFull

    return announce


def worker_main(conn: mpc.Connection, spec: Any, seal_to: Any = None, log_setup: Any = None) -> None:
    """``spec``: a pipeline (has ``scan``) or a picklable callable that builds one (built here, once).
    ``log_setup``: (json, level) for agent.log.configure_logging, so worker logs are scrubbed too."""
    _die_with_parent()  # our parent is the forkserver, which exits when the agent dies
    if isinstance(seal_to, bytes):  # keys do not pickle: they cross to the worker as raw bytes
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

        seal_to = X25519PublicKey.from_public_bytes(seal_to)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    # fresh stream objects: a lock held by another parent thread at fork time must not hang us
    sys.stdout = open(os.dup(1), "w", buffering=1, closefd=True)  # noqa: SIM115
    sys.stderr = open(os.dup(2), "w", buffering=1, closefd=True)  # noqa: SIM115
    try:
        if log_setup is not None:
            from agent.log import configure_logging

            configure_logging(json=log_setup[0], level=log_setup[1])
        pipeline = spec if hasattr(spec, "scan") else spec()
    except Exception as exc:
        log.error("worker_start_failed", error=type(exc).__name__)
        time.sleep(START_FAILURE_PAUSE)  # the parent respawns us: at most one failing build per pause
        with contextlib.suppress(OSError):
            conn.send(StartFailed(type(exc).__name__))
        return
    limits = getattr(getattr(pipeline, "extractor", None), "limits", None)
    if limits is not None:
        from agent.scanpool import set_memory_ceiling

        set_memory_ceiling(limits.max_memory_bytes)  # after the build: the file alone meets the ceiling
    try:
        conn.send(Ready(os.getpid()))
    except OSError:
        return
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        ocr.on_heavy = _announcer(conn, job.seq)
        try:
            with about_file(_send_name(conn, pipeline, job)):  # its log lines name the file as alerts do
                result = _guarded_job(pipeline, job, seal_to)
            conn.send(result)
        except (BrokenPipeError, OSError):
            return


def _send_name(conn: mpc.Connection, pipeline: Any, job: Job) -> str | None:
    """Tell the parent how the job's path is shown before a byte of the file is read (tens of
    microseconds: one short text classified), so that a worker killed on the file still has its
    name masked in the parent's alert; that shown path, or None when there is none. A pipeline that
    cannot say (a test stand-in) sends nothing."""
    shown_path = getattr(pipeline, "shown_path", None)
    if shown_path is None:
        return None
    ref = FileRef(path=job.path, zone=job.zone, role=job.role, root=job.root)  # type: ignore[arg-type]
    try:
        shown = str(shown_path(ref))
    except Exception as exc:  # the parent withholds the name (outcome.withheld_path)
        log.error("name_masking_failed", error=type(exc).__name__)
        return None
    conn.send(Named(job.seq, shown))
    return shown


def _guarded_job(pipeline: Any, job: Job, seal_to: Any) -> JobResult:
    """run_job, its failures as results: the worker lives on."""
    try:
        return run_job(pipeline, job, seal_to)
    except LaneFull:
        return Deferred(job.seq)
    except MemoryError:  # the worker's memory ceiling (scanpool.set_memory_ceiling) was reached
        return JobFailed(job.seq, "limit_memory", "MemoryError")
    except Exception as exc:
        return JobFailed(job.seq, "internal", type(exc).__name__)
