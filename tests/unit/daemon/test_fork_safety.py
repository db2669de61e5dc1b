"""Worker replacement while the parent's threads hold locks: no worker may inherit a held lock."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from pathlib import Path

import structlog

from agent.daemon.workers import WorkerPool
from agent.journal import Journal
from tests.unit.daemon.test_workers import ScriptedPipeline


def _ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[1])


def _chatter(stop: threading.Event, n: int) -> None:
    """Log and print nonstop: stderr's, logging's and structlog's locks are held much of the time."""
    slog = structlog.get_logger("chatter")
    plain = logging.getLogger("chatter")
    while not stop.is_set():
        slog.info("chatter_logged", thread=n)
        plain.warning("chatter %d", n)
        print("x" * 100, file=sys.stderr, flush=False)
        time.sleep(0.0005)


def test_workers_replaced_many_times_under_busy_logging_threads(tmp_path: Path) -> None:
    """Timeouts and reloads replace workers 30 times while 4 threads log nonstop: no worker is a child of
    the threaded parent, every replacement comes up and scans, and nothing hangs."""
    stop = threading.Event()
    threads = [threading.Thread(target=_chatter, args=(stop, i), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    pool = WorkerPool(2, timeout=0.2, grace=0.1)
    j = Journal(tmp_path / "j.db")
    deadline = time.monotonic() + 60.0
    try:
        pool.start(ScriptedPipeline())
        assert pool.wait_ready(30.0)
        for rnd in range(10):
            hang, ok = tmp_path / f"hang{rnd}", tmp_path / f"ok{rnd}"
            hang.write_bytes(b"HANG")
            ok.write_bytes(b"fine")
            j.enqueue(str(hang), "z")
            j.enqueue(str(ok), "z")
            items = j.claim(2)
            for item in items:
                pool.submit(item, "contractor-drop", None, "d")
            kinds: dict[str, str] = {}
            while len(kinds) < 2:
                assert time.monotonic() < deadline, "worker pool hung"
                kinds.update({o.item.path: o.kind for o in pool.poll(0.1)})
            assert kinds == {str(hang): "timeout", str(ok): "verdict"}
            pool.replace_pipeline(ScriptedPipeline())  # a reload: every idle worker is replaced
            assert pool.wait_ready(max(0.1, deadline - time.monotonic())), "a replacement never came up"
            assert all(_ppid(pid) != os.getpid() for pid in pool.pids())
        assert pool.spawned >= 2 + 10 * 3
    finally:
        stop.set()
        pool.stop(1.0)
        j.close()
        for t in threads:
            t.join(5.0)
