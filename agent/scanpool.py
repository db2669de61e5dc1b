"""Scan a file list over N processes, the parent plus N-1 forked workers, verdicts in input order.

Why the parent scans too: it already holds the pipeline. A parent that only hands out work and
unpickles verdicts is a whole process of RSS and a share of the CPU spent on IPC; one that scans
between hand-outs saves both for its share of the files. The parent takes ONE file at a time and
tops up the workers after each (every worker keeps ``CHUNKS_PER_WORKER`` chunks of 1..16 files
outstanding), so workers rarely idle and the parent never waits for them while unclaimed files
remain. Verdicts that arrive early are buffered and everything is yielded in input order, so the
output does not depend on who scanned what.

Workers are forked (copy-on-write pipeline). The scan callable, the refs and one shared state byte
per file are registered in ``_JOBS`` before the fork, so a task is a tuple of indices and only
verdicts cross the pipe.

A worker can die (SIGKILL, OOM killer, segfault in a parser). ``Pool.imap`` would then wait
forever; ``ProcessPoolExecutor`` fails every outstanding future with ``BrokenProcessPool``
instead. The state bytes say which of the lost files were being scanned at that moment: those are
suspects, retried one at a time in a fresh pool with nothing else outstanding, so a second death
is theirs alone and earns an "internal" error verdict. The other lost files are resubmitted one
per task. A lost file is never rescanned in the parent: a file that kills a worker would kill the
scan.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from agent.models import ExtractError, FileRef, Verdict

Scan = Callable[[FileRef], Verdict]

CHUNKS_PER_WORKER = 2  # outstanding chunks per worker: one running, one queued behind it
WORKER_DIED = "worker process died while scanning this file"

_IDLE, _RUNNING, _FINISHED = 0, 1, 2  # per-file state byte, written by the worker scanning it
_FORK = mp.get_context("fork")
_JOBS: dict[int, tuple[Scan, Sequence[FileRef], Any]] = {}  # set before forking, read in the workers
_tokens = itertools.count()


def chunksize(n: int, jobs: int) -> int:
    """Files per IPC round trip: 1 for small trees (balance), up to 16 for many (tiny files' overhead)."""
    return max(1, min(16, n // (jobs * 32)))


def error_verdict(ref: FileRef, detail: str, reason: str = "internal") -> Verdict:
    """The verdict of a file that could not be scanned: an error, never "clean"."""
    err = ExtractError(ref.path, None, reason, detail)
    return Verdict(ref.path, ref.zone, (), (err,), 0, 0.0)


def guarded(scan: Scan, ref: FileRef) -> Verdict:
    """``scan(ref)``, where an exception costs this one file, not the whole scan."""
    try:
        return scan(ref)
    except MemoryError:
        return error_verdict(ref, "memory ceiling reached while scanning", "limit_memory")
    except Exception as exc:
        return error_verdict(ref, f"{type(exc).__name__} while scanning")


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


def scan_in_order(refs: Sequence[FileRef], jobs: int, scan: Scan) -> Iterator[Verdict]:
    """Yield ``scan(ref)`` for every ref in order, using ``jobs`` processes, this one included.

    Anything ``scan`` needs must be in place before the first ``next()``: workers are forked then.
    """
    if jobs <= 1 or len(refs) < 4:
        for ref in refs:
            yield guarded(scan, ref)
        return
    yield from _Scheduler(refs, min(jobs, len(refs)) - 1, chunksize(len(refs), jobs), scan).run()


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group: the parent handles it and kills the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A SIGTERM handler inherited from the parent would make the pool's terminate() a no-op.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _run(token: int, idxs: tuple[int, ...]) -> list[Verdict]:
    """A worker's task: scan refs[i] for each index, marking which file is in progress."""
    scan, refs, state = _JOBS[token]
    out = []
    for i in idxs:
        state[i] = _RUNNING
        out.append(guarded(scan, refs[i]))
        state[i] = _FINISHED
    return out


class _Scheduler:
    """One run of :func:`scan_in_order` with at least one worker."""

    def __init__(self, refs: Sequence[FileRef], workers: int, chunk: int, scan: Scan) -> None:
        self.refs, self.workers, self.chunk, self.scan = refs, workers, chunk, scan
        self.token = next(_tokens)
        self.state = _FORK.RawArray("B", len(refs))
        self.todo: deque[int] = deque(range(len(refs)))  # unclaimed: the parent's or a worker chunk's
        self.retry: deque[int] = deque()  # lost with a pool, not in progress then: one per task
        self.suspects: deque[int] = deque()  # in progress when a pool broke: retried alone
        self.struck: set[int] = set()  # files that were ever suspects
        self.pending: dict[Future[list[Verdict]], tuple[int, ...]] = {}
        self.alone: Future[list[Verdict]] | None = None  # a suspect's task, the only one outstanding
        self.done: dict[int, Verdict] = {}  # scanned, waiting for their turn to be yielded
        self.pool: ProcessPoolExecutor | None = None

    def run(self) -> Iterator[Verdict]:
        _JOBS[self.token] = (self.scan, self.refs, self.state)
        try:
            self._feed()  # fork before the parent scans anything (and starts any thread)
            nxt = 0
            while True:
                while nxt in self.done:
                    yield self.done.pop(nxt)
                    nxt += 1
                if nxt == len(self.refs):
                    return
                if self.todo:
                    i = self.todo.popleft()
                    self.done[i] = guarded(self.scan, self.refs[i])
                    self._collect([f for f in self.pending if f.done()])
                else:
                    if not self.pending:
                        raise RuntimeError("a file is neither scanned, claimed nor outstanding")
                    ready, _ = wait(list(self.pending), return_when=FIRST_COMPLETED)
                    self._collect(ready)
                self._feed()
        finally:
            del _JOBS[self.token]
            self._close()

    def _feed(self) -> None:
        """Top up the workers: a suspect alone once the pool is drained, else retries, then chunks."""
        idxs: tuple[int, ...]
        while self.alone is None:
            if self.suspects:
                if self.pending:
                    return  # let the pool drain so the suspect runs alone
                idxs, origin = (self.suspects[0],), self.suspects
            elif len(self.pending) >= CHUNKS_PER_WORKER * self.workers:
                return
            elif self.retry:
                idxs, origin = (self.retry[0],), self.retry
            elif self.todo:
                idxs, origin = tuple(itertools.islice(self.todo, self.chunk)), self.todo
            else:
                return
            if self.pool is None:
                self.pool = ProcessPoolExecutor(self.workers, mp_context=_FORK, initializer=_init_worker)
            try:
                fut = self.pool.submit(_run, self.token, idxs)
            except BrokenProcessPool:  # a worker died since the last collect
                self._recover()
                continue
            for _ in idxs:
                origin.popleft()
            self.pending[fut] = idxs
            if origin is self.suspects:
                self.alone = fut

    def _collect(self, futures: Iterable[Future[list[Verdict]]]) -> None:
        for fut in futures:
            if fut not in self.pending:  # settled by a _recover() earlier in this loop
                continue
            if not self._settle(fut, self.pending[fut]):
                self._recover()
                continue
            del self.pending[fut]
            if fut is self.alone:
                self.alone = None

    def _settle(self, fut: Future[list[Verdict]], idxs: tuple[int, ...]) -> bool:
        """Store a finished task's verdicts; False if they were lost with the pool."""
        if fut.cancelled() or isinstance(fut.exception(), BrokenProcessPool):
            return False
        exc = fut.exception()
        if exc is None:
            self.done.update(zip(idxs, fut.result(), strict=True))
        else:  # e.g. a verdict that does not pickle: it costs the chunk's files, not the scan
            for i in idxs:
                self.done[i] = error_verdict(self.refs[i], f"{type(exc).__name__} in a worker process")
        return True

    def _recover(self) -> None:
        """After a worker died: settle every task, blame the files in progress, requeue the rest."""
        if self.pool is None:
            raise RuntimeError("recovering a pool that is not running")
        pool, self.pool, self.alone = self.pool, None, None
        pool.shutdown(wait=True, cancel_futures=True)  # joins the pool's thread: all futures settled
        lost = sorted(i for fut, idxs in self.pending.items() if not self._settle(fut, idxs) for i in idxs)
        self.pending.clear()
        # Nobody in progress (a worker died between files): blame them all, so each death brings
        # some file closer to its verdict and a pool that keeps dying cannot loop forever.
        blamed = {i for i in lost if self.state[i] == _RUNNING} or set(lost)
        for i in lost:
            self.state[i] = _IDLE
            if i in blamed and i in self.struck:
                self.done[i] = error_verdict(self.refs[i], WORKER_DIED)
            elif i in blamed or i in self.struck:
                self.struck.add(i)
                self.suspects.append(i)
            else:
                self.retry.append(i)

    def _close(self) -> None:
        """Stop the workers on every exit: killed if their work is still outstanding (error, close)."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        if any(not f.done() for f in self.pending):
            # No public API before Python 3.14 (kill_workers) reaches the processes themselves. Kill
            # them before shutdown(): the pool then sees them die, as after a crash, and its thread
            # reaps them; shutdown(wait=False) first would drop the thread that shutdown(wait=True) joins.
            for p in list((getattr(pool, "_processes", None) or {}).values()):
                p.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()
