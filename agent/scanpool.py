"""Scan a file list in N forked worker processes the parent can kill one by one; verdicts in input order.

Why the parent scans nothing itself: a file can hang whatever reads it in code that never returns to
check the cooperative deadline (agent.extract.context): a backtracking policy regex inside ``re``, a
decompressor, PDFium. Only another process can stop that. So the parent only schedules: it hands each
worker chunks of 1..16 file indices (``CHUNKS_PER_WORKER`` chunks outstanding, so workers rarely idle),
collects each file's verdict as soon as it is done, and yields them in input order (early ones are
buffered), so the output does not depend on who scanned what.

The hard per-file kill: each worker marks in shared memory which file it is on and since when
(CLOCK_MONOTONIC is system-wide). A file still running ``budget`` seconds after it started (the
per-file timeout plus a grace that lets the cooperative deadline fire first) gets its worker SIGKILLed:
the file's verdict is a ``timeout`` error (reported as UNSCANNED_CONTENT), a fresh worker is forked in
its place, and the killed worker's other files are handed out again.

A worker can also die on its own (OOM killer, a segfault in a parser): the file it was on is retried
once on a fresh worker, a second death is an "internal" error verdict; its other files are handed out
again. Blame is exact because every worker has its own pipe and its own queue.

Names: with a :class:`Naming`, a worker first tells the parent how outputs show the file's path (values
in the name masked: the name classified, under the file's budget) and only then reads the file, as the
daemon's workers do (agent.daemon.jobs.Named). The verdict of a killed or dead worker's file carries
that shown path; a worker that died before it said it leaves the name withheld (``Naming.withheld``:
no classification). So the parent never classifies a name: a name that is slow to classify costs its
file, never the scan.

Workers are forked from the parent (copy-on-write pipeline, no pickling of the scan callable); the
parent runs no thread while scanning, so forking a replacement mid-scan is safe. A worker leaves with
``os._exit``: it never flushes the stdio buffers it inherited (report lines the parent had not written
yet would be written twice).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection as mpc
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from agent.log import about_file
from agent.models import ExtractError, FileRef, Verdict

Scan = Callable[[FileRef], Verdict]
Name = Callable[[FileRef], str]

CHUNKS_PER_WORKER = 2  # outstanding chunks per worker: one running, one queued behind it
WORKER_DIED = "worker process died while scanning this file"

_IDLE, _RUNNING, _FINISHED = 0, 1, 2  # per-file state byte, written by the worker scanning it
_FORK = mp.get_context("fork")


def chunksize(n: int, jobs: int) -> int:
    """Files per hand-out: 1 for small trees (balance), up to 16 for many (tiny files' overhead)."""
    return max(1, min(16, n // (jobs * 32)))


def kill_after(timeout: float) -> float:
    """The hard per-file budget for a cooperative ``timeout``: the daemon's grace (half the timeout,
    1 to 30 s) lets the extractor's own deadline fire first, so a kill is the exception."""
    return timeout + min(max(1.0, timeout * 0.5), 30.0)


@dataclass(frozen=True)
class Naming:
    """How outputs show a file's path. ``shown`` masks values in it (it classifies the name: it runs
    in the worker, under the file's budget, before the file is read); ``withheld`` is the path shown
    for a file whose worker died before it said (run in the parent: it must not classify)."""

    shown: Name
    withheld: Name


def error_verdict(ref: FileRef, detail: str, reason: str = "internal", shown: str | None = None) -> Verdict:
    """The verdict of a file that could not be scanned: an error, never "clean". ``shown``: the path
    outputs show (default the path itself); the verdict keeps the real one, as the pipeline's do."""
    err = ExtractError(ref.path if shown is None else shown, None, reason, detail)
    return Verdict(ref.path, ref.zone, (), (err,), 0, 0.0)


def guarded(scan: Scan, ref: FileRef, shown: str | None = None) -> Verdict:
    """``scan(ref)``, where an exception costs this one file (shown as ``shown``), not the whole scan."""
    try:
        return scan(ref)
    except MemoryError:
        return error_verdict(ref, "memory ceiling reached while scanning", "limit_memory", shown)
    except Exception as exc:
        return error_verdict(ref, f"{type(exc).__name__} while scanning", shown=shown)


def set_memory_ceiling(nbytes: int) -> bool:
    """Cap this process's address space (RLIMIT_AS; inherited by the processes it forks), so a file that
    inflates in memory raises MemoryError (reported limit_memory) instead of swapping the host or waking
    the OOM killer. Never raises the hard limit; 0 or a ceiling above it: left as is. True when set."""
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if nbytes <= 0 or (hard != resource.RLIM_INFINITY and nbytes > hard):
        return False
    resource.setrlimit(resource.RLIMIT_AS, (nbytes, hard))
    return True


def scan_in_order(refs: Sequence[FileRef], jobs: int, scan: Scan, budget: float) -> Iterator[Verdict]:
    """Yield ``scan(ref)`` for every ref in order, from ``jobs`` forked workers (at least one).

    ``budget``: wall seconds one file may take before its worker is killed and the file reported
    ``timeout`` (see :func:`kill_after`). Anything ``scan`` needs must be in place before the first
    ``next()``: workers are forked then (and again whenever one is replaced).
    """
    for verdict, _ in scan_named(refs, jobs, scan, budget, None):
        yield verdict


def scan_named(
    refs: Sequence[FileRef], jobs: int, scan: Scan, budget: float, naming: Naming | None
) -> Iterator[tuple[Verdict, str]]:
    """:func:`scan_in_order`, each verdict with the path outputs show for its file: the one the worker
    said before reading it (``naming.shown``), else ``naming.withheld`` (else, without a naming, the
    path itself). The errors of a verdict made outside ``scan`` (killed, dead, raised) carry it too."""
    if not refs:
        return
    workers = max(1, min(jobs, len(refs)))
    yield from _Scheduler(refs, workers, chunksize(len(refs), workers), scan, budget, naming).run()


@dataclass
class _Shared:
    """What a worker needs, inherited through fork (never pickled)."""

    scan: Scan
    refs: Sequence[FileRef]
    state: Any  # RawArray('B'): _IDLE / _RUNNING / _FINISHED per file
    started: Any  # RawArray('d'): time.monotonic() when the file was started
    naming: Naming | None = None


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: a worker stuck in a hostile file must not outlive a kill -9'd scan."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1


def _work(conn: mpc.Connection, shared: _Shared) -> None:
    """A worker's life: scan the files of each chunk it is sent, in order, one verdict message each."""
    code = 0
    try:
        _die_with_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent handles it and kills us
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while (task := conn.recv()) is not None:
            for i in task:
                ref = shared.refs[i]
                shared.started[i] = time.monotonic()
                shared.state[i] = _RUNNING
                shown = _say_name(conn, i, ref, shared.naming)
                with about_file(shown):  # log lines about the file name it as outputs show it
                    verdict = guarded(shared.scan, ref, shown)
                shared.state[i] = _FINISHED
                _send(conn, i, verdict, ref, shown)
    except EOFError:  # the parent went away
        pass
    except BaseException:
        code = 1
    finally:
        os._exit(code)  # never run the parent's atexit handlers or flush its inherited buffers


def _say_name(conn: mpc.Connection, i: int, ref: FileRef, naming: Naming | None) -> str | None:
    """Tell the parent how file ``i``'s path is shown, before a byte of it is read: the message
    ``(i, shown)``. A naming that fails withholds the name (never shows it unmasked)."""
    if naming is None:
        return None
    try:
        shown = naming.shown(ref)
    except Exception:
        shown = naming.withheld(ref)
    conn.send((i, shown))
    return shown


def _send(conn: mpc.Connection, i: int, verdict: Verdict, ref: FileRef, shown: str | None) -> None:
    try:
        conn.send((i, verdict))
    except (OSError, EOFError):
        raise
    except Exception as exc:  # e.g. a verdict that does not pickle: it costs this file, not the scan
        conn.send((i, error_verdict(ref, f"{type(exc).__name__} in a worker process", shown=shown)))


@dataclass
class _Worker:
    proc: BaseProcess
    conn: mpc.Connection  # the parent's end of the worker's pipe
    queue: deque[int] = field(default_factory=deque)  # handed out, not yet answered, in scan order


class _Scheduler:
    """One run of :func:`scan_in_order`."""

    def __init__(
        self,
        refs: Sequence[FileRef],
        workers: int,
        chunk: int,
        scan: Scan,
        budget: float,
        naming: Naming | None,
    ) -> None:
        self.refs, self.size, self.chunk, self.budget, self.naming = refs, workers, chunk, budget, naming
        state, started = _FORK.RawArray("B", len(refs)), _FORK.RawArray("d", len(refs))
        self.shared = _Shared(scan, refs, state, started, naming)
        self.todo: deque[int] = deque(range(len(refs)))  # not handed out (again) yet, front first
        self.struck: set[int] = set()  # files whose worker died under them once
        self.done: dict[int, Verdict] = {}  # answered, waiting for their turn to be yielded
        self.named: dict[int, str] = {}  # shown paths the workers said, until their file is yielded
        self.workers: list[_Worker] = []

    def run(self) -> Iterator[tuple[Verdict, str]]:
        try:
            nxt = 0
            while True:
                while nxt in self.done:
                    yield self.done.pop(nxt), self._shown(nxt)
                    nxt += 1
                if nxt == len(self.refs):
                    return
                self._feed()
                self._wait()
        finally:
            self._close()

    # -- hand-outs ---------------------------------------------------------------------------
    def _feed(self) -> None:
        """Fork missing workers while there is work, and keep each one's queue topped up."""
        while self.todo and len(self.workers) < self.size:
            self.workers.append(self._spawn())
        for w in self.workers:
            while self.todo and len(w.queue) < CHUNKS_PER_WORKER * self.chunk:
                task = tuple(self.todo.popleft() for _ in range(min(self.chunk, len(self.todo))))
                w.queue.extend(task)
                with contextlib.suppress(OSError):  # died: _wait sees its sentinel, requeues the task
                    w.conn.send(task)

    def _spawn(self) -> _Worker:
        ours, theirs = _FORK.Pipe(duplex=True)
        proc = _FORK.Process(target=_work, args=(theirs, self.shared), name="dropwarden-scan", daemon=True)
        proc.start()
        theirs.close()  # so a dead worker's pipe reads EOF here
        return _Worker(proc, ours)

    # -- collection ----------------------------------------------------------------------------
    def _wait(self) -> None:
        """Wait for verdicts, a death or the next file's budget running out, and handle them."""
        busy = [w for w in self.workers if w.queue]
        now = time.monotonic()
        wake = min((self._deadline(w, now) for w in busy), default=now + 1.0)
        waitables: list[Any] = [w.conn for w in busy] + [w.proc.sentinel for w in self.workers]
        ready = set(mpc.wait(waitables, timeout=max(0.0, wake - now)))
        for w in list(self.workers):
            if w.conn in ready:
                self._receive(w)
            if w.proc.sentinel in ready:
                self._lost(w, None)
        now = time.monotonic()
        for w in list(self.workers):
            if w.queue and now >= self._deadline(w, now):
                self._lost(w, w.queue[0])

    def _deadline(self, w: _Worker, now: float) -> float:
        """When the file at the head of ``w``'s queue runs out of budget (not started: a budget from now)."""
        i = w.queue[0]
        if self.shared.state[i] == _RUNNING:
            return float(self.shared.started[i]) + self.budget
        return now + self.budget

    def _receive(self, w: _Worker) -> None:
        """Every complete message waiting in ``w``'s pipe (a dead worker's last ones included): the
        shown path of the file it starts, or the verdict of the file it finished."""
        while w.queue:
            try:
                if not w.conn.poll():
                    return
                i, said = w.conn.recv()
            except (EOFError, OSError):  # dead, possibly mid-message: the rest is lost
                return
            if i != w.queue[0]:
                raise RuntimeError("a worker answered out of order")
            if isinstance(said, str):
                self.named[i] = said
                continue
            w.queue.popleft()
            self.done[i] = said

    def _shown(self, i: int) -> str:
        """How outputs show file ``i``'s path: as its worker said, else withheld (see :class:`Naming`)."""
        if self.naming is None:
            return self.refs[i].path
        shown = self.named.pop(i, None)
        return shown if shown is not None else self.naming.withheld(self.refs[i])

    def _lost(self, w: _Worker, overdue: int | None) -> None:
        """``w`` died (``overdue`` None) or ran out of time on file ``overdue``: kill it, keep what it
        answered, settle the file it was on, hand out its other files again."""
        w.proc.kill()
        w.proc.join()
        self._receive(w)  # a verdict sent just before the kill still counts
        w.conn.close()
        self.workers.remove(w)
        lost = list(w.queue)
        for i in lost:
            self.shared.state[i] = _IDLE
        died = lost.pop(0) if overdue is None and lost else None
        if overdue in lost:
            lost.remove(overdue)
            self._timed_out(overdue)
        self.todo.extendleft(reversed(lost))
        if died is not None:
            self._died(died)

    def _timed_out(self, i: int) -> None:
        detail = f"hard time limit of {self.budget:g} s per file exceeded: the worker was killed"
        self.done[i] = error_verdict(self.refs[i], detail, "timeout", self._error_path(i))

    def _died(self, i: int) -> None:
        """Retried once on a fresh worker (the OOM killer may have picked it at random), then an error."""
        if i in self.struck:
            self.done[i] = error_verdict(self.refs[i], WORKER_DIED, shown=self._error_path(i))
        else:
            self.struck.add(i)
            self.todo.appendleft(i)

    def _error_path(self, i: int) -> str:
        """The path the error of file ``i`` shows; what :meth:`run` yields with it is the same."""
        shown = self._shown(i)
        if self.naming is not None:
            self.named[i] = shown  # said or withheld: decided once
        return shown

    def _close(self) -> None:
        """Stop the workers on every exit: idle ones are told to leave, busy ones killed (error, close)."""
        for w in self.workers:
            if w.queue:
                w.proc.kill()
            else:
                with contextlib.suppress(OSError):
                    w.conn.send(None)
        for w in self.workers:
            w.proc.join(5.0)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
            w.conn.close()
        self.workers.clear()
