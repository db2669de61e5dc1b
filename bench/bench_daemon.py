"""Benchmark of the agent daemon (`dropwarden run`) as a real subprocess on real inotify.

Measures: close->alert latency p50/p99 at a sustained rate, drain rate of a burst, memory (PSS) of the agent
and its workers over the run, and idle CPU of an agent watching many directories.

    .venv/bin/python bench/bench_daemon.py            # 50 files/s for 60 s, 50k burst, 10k dirs, 30 s idle
    .venv/bin/python bench/bench_daemon.py --quick    # a shorter smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from agent.demo import luhn_complete

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except OSError:
            pass
    return out


def tree_rss(pids: list[int]) -> int:
    """RSS summed over processes, in bytes, from /proc/PID/statm (a few microseconds a read).

    Pages a forked worker shares copy-on-write with its parent count once per process.
    """
    total = 0
    for p in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE
    return total


def tree_pss(pids: list[int]) -> int:
    """PSS summed over processes, in bytes, from smaps_rollup (about 1.4 ms a read on a scan worker).

    PSS divides each shared page among the processes sharing it, so it sums to the memory the tree
    actually holds.
    """
    total = 0
    for p in pids:
        with contextlib.suppress(OSError, ValueError, IndexError):
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_sum_mb(pid: int) -> float:
    """RSS summed over the agent and its workers, in MiB."""
    return tree_rss(tree(pid)) / 2**20


def rss_mb(pid: int) -> float:
    """Proportional set size (PSS) of the agent and its workers, in MiB."""
    return tree_pss(tree(pid)) / 2**20


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])  # utime, stime
        except OSError:
            pass
    return total / TICK


class Agent:
    def __init__(self, base: Path, settle: float, workers: int) -> None:
        self.base, self.zone, self.state = base, base / "zone", base / "state"
        self.alerts = base / "alerts.jsonl"
        self.zone.mkdir(parents=True, exist_ok=True)
        pol = base / "policies"
        pol.mkdir(exist_ok=True)
        (pol / "cards.yaml").write_text(
            "pack: bench\nversion: 1\ndesc: bench\nrules:\n  - id: card-number\n    desc: Card.\n"
            "    severity: high\n    entities: [CREDIT_CARD]\n    min_score: 0.3\n"
        )
        self.argv = [
            sys.executable, "-m", "agent", "run", "--watch", str(self.zone), "--state-dir", str(self.state),
            "--alert-log", str(self.alerts), "--metrics-addr", f"127.0.0.1:{free_port()}",
            "--settle", str(settle), "--workers", str(workers), "--policies", str(pol),
            "--log-format", "json",
        ]  # fmt: skip
        self.log = base / "agent.log"
        self.rss: list[float] = []
        self.rss_sum: list[float] = []
        self._stop = threading.Event()

    def start(self, ready_marker: str = "workers_ready") -> None:
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        end = time.monotonic() + 180
        while ready_marker.encode() not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"agent failed to start:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop.wait(1.0):
            self.rss.append(rss_mb(self.proc.pid))
            self.rss_sum.append(rss_sum_mb(self.proc.pid))

    def done(self) -> int:
        db = sqlite3.connect(f"file:{self.state / 'journal.db'}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute("SELECT count(*) FROM files WHERE state IN ('done', 'error')").fetchone()[0]
        finally:
            db.close()

    def stop(self) -> None:
        self._stop.set()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def scanned_pdf(pages: int) -> bytes:
    """An image-only PDF (a scanner's output) of ``pages`` statement pages at 200 dpi, cards on each."""
    import io

    sys.path.insert(0, str(REPO))
    from tests.unit.extract.builders import render_text_image, statement_lines

    imgs = [
        render_text_image([*statement_lines(seed=i), f"Page {i + 1} of {pages}"], dpi=200)
        for i in range(pages)
    ]
    buf = io.BytesIO()
    imgs[0].save(buf, "PDF", save_all=True, append_images=imgs[1:], resolution=200)
    return buf.getvalue()


def bench_latency(
    base: Path,
    rate: float,
    seconds: float,
    settle: float,
    workers: int,
    scan_pages: int = 0,
    at_once: int = 1,
) -> dict[str, float]:
    """close->alert of text files at ``rate``; with ``scan_pages``, ``at_once`` scanned PDFs of that many
    pages are dropped at the start and every 30 s, so OCR runs while the text files arrive."""
    scan = scanned_pdf(scan_pages) if scan_pages else b""
    a = Agent(base, settle, workers)
    a.start()
    rng = random.Random(1)
    closed: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()

    def tail() -> None:
        pos = 0
        while not stop.is_set() or len(closed.keys() & seen.keys()) < len(closed):  # scans alert too
            if a.alerts.exists():
                with open(a.alerts) as f:
                    f.seek(pos)
                    for line in f:
                        if line.endswith("\n"):
                            seen.setdefault(json.loads(line)["path"], time.time())
                            pos += len(line.encode())
            time.sleep(0.005)
            if stop.is_set() and time.monotonic() > deadline:
                break

    deadline = float("inf")
    t = threading.Thread(target=tail, daemon=True)
    t.start()
    n = int(rate * seconds)
    start = time.monotonic()
    scans: dict[str, float] = {}
    for i in range(n):
        target = start + i / rate
        time.sleep(max(0.0, target - time.monotonic()))
        for k in range(at_once if scan and i % int(30 * rate) == 0 else 0):
            s = a.zone / f"scan{i:06d}-{k}.pdf"
            s.write_bytes(scan)
            scans[str(s)] = time.time()
        p = a.zone / f"d{i % 50:02d}" / f"f{i:06d}.txt"
        p.parent.mkdir(exist_ok=True)
        with open(p, "w") as f:
            f.write(f"Invoice {i}: charge card {luhn_complete('4', 16, rng)} please.\n")
        closed[str(p)] = time.time()
    deadline = time.monotonic() + 30
    stop.set()
    t.join(35)
    a.stop()
    lat = sorted(seen[p] - closed[p] for p in closed if p in seen)
    q = statistics.quantiles(lat, n=100) if len(lat) >= 2 else [float("nan")] * 99
    scan_lat = [seen[p] - scans[p] for p in scans if p in seen]
    return {
        "scans": len(scans),
        "scans_alerted": len(scan_lat),
        "scan_latency": max(scan_lat, default=float("nan")),
        # the pages dropped together over the slowest one's close->alert: one worker's rate when the
        # OCR lane has one place (the scans of a drop are read one after the other)
        "ocr_pages_per_s": scan_pages * at_once / max(scan_lat) if scan_lat else float("nan"),
        "files": n,
        "alerted": len(lat),
        "p50": q[49],
        "p99": q[98],
        "rss_max": max(a.rss, default=0.0),
        "rss_sum_max": max(a.rss_sum, default=0.0),
    }


def bench_burst(base: Path, count: int, workers: int) -> dict[str, float]:
    a = Agent(base, 1.0, workers)
    a.start()
    t0 = time.monotonic()
    per = 250
    for i in range(count):
        d = a.zone / f"b{i // per:04d}"
        if i % per == 0:
            d.mkdir()
        fd = os.open(d / f"f{i:06d}.txt", os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"row %d of nothing in particular\n" % i)
        os.close(fd)
    t_written = time.monotonic() - t0
    while a.done() < count and time.monotonic() - t0 < 900:
        time.sleep(0.5)
    t_done = time.monotonic() - t0
    done = a.done()
    rss = list(a.rss)
    overflows = 0.0
    for line in a.log.read_text().splitlines():
        if '"inotify_overflowed"' in line:
            overflows += 1
    a.stop()
    return {
        "files": count,
        "done": done,
        "write_s": t_written,
        "drain_s": t_done,
        "rate": done / t_done,
        "rss_max": max(rss, default=0.0),
        "rss_end": rss[-1] if rss else 0.0,
        "rss_sum_max": max(a.rss_sum, default=0.0),
        "overflows": overflows,
    }


def bench_idle(base: Path, dirs: int, seconds: float, workers: int) -> dict[str, float]:
    zone = base / "zone"
    for i in range(dirs):
        (zone / f"g{i // 100:03d}" / f"d{i:05d}").mkdir(parents=True, exist_ok=True)
    a = Agent(base, 1.0, workers)
    a.start()
    time.sleep(3)
    c0, t0 = cpu_seconds(a.proc.pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(a.proc.pid), time.monotonic()
    rss = rss_mb(a.proc.pid)
    a.stop()
    return {"dirs": dirs, "cpu_pct": 100 * (c1 - c0) / (t1 - t0), "rss": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--settle", type=float, default=1.0, help="agent settle seconds for the latency run")
    ap.add_argument(
        "--ocr-pages",
        type=int,
        default=20,
        help="pages of the scanned PDF OCRed during a second latency run (0: none)",
    )
    ap.add_argument("--scans-at-once", type=int, default=1, help="scanned PDFs dropped together (ocr part)")
    ap.add_argument("--parts", default="latency,ocr,burst,idle", help="comma-separated subset to run")
    ap.add_argument("--seconds", type=float, help="length of each latency run (default 60, --quick 10)")
    ap.add_argument("--json", metavar="FILE", help="also write the figures here as JSON (bench/all.py)")
    args = ap.parse_args()
    rate, secs, burst, dirs, idle = (50, 10, 5_000, 2_000, 10) if args.quick else (50, 60, 50_000, 10_000, 30)
    secs = args.seconds or secs
    parts = set(args.parts.split(","))
    if not args.ocr_pages:
        parts.discard("ocr")
    res: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        base = Path(tmp)
        if "latency" in parts:
            res["latency"] = bench_latency(base / "lat", rate, secs, args.settle, args.workers)
        if "ocr" in parts:
            res["ocr"] = bench_latency(
                base / "ocr", rate, secs, args.settle, args.workers, args.ocr_pages, args.scans_at_once
            )
        if "burst" in parts:
            res["burst"] = bench_burst(base / "burst", burst, args.workers)
        if "idle" in parts:
            res["idle"] = bench_idle(base / "idle", dirs, idle, args.workers)
    print(f"\nDropwarden daemon benchmark (workers={args.workers}, cores={os.cpu_count()})")
    print(f"{'measure':<48} {'value':>14}")
    for k, v in _rows(res, rate, secs, args.settle, args.ocr_pages, idle):
        print(f"{k:<48} {v:>14}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1), encoding="utf-8")


def _rows(
    res: dict[str, dict[str, float]], rate: float, secs: float, settle: float, pages: int, idle: float
) -> list[tuple[str, str]]:
    rows = []
    if (lat := res.get("latency")) is not None:
        rows += [
            (f"close->alert p50 at {rate}/s for {secs:g}s (settle {settle}s, close 0.25s)", f"{lat['p50'] * 1000:.0f} ms"),
            ("close->alert p99", f"{lat['p99'] * 1000:.0f} ms"),
            ("alerts received / files written", f"{lat['alerted']}/{lat['files']}"),
            ("PSS max during latency run (agent + workers)", f"{lat['rss_max']:.0f} MiB"),
            ("RSS max during latency run (summed per process)", f"{lat['rss_sum_max']:.0f} MiB"),
        ]  # fmt: skip
    if (ocr := res.get("ocr")) is not None:
        rows += [
            (f"with a {pages}-page scanned PDF being OCRed: p50", f"{ocr['p50'] * 1000:.0f} ms"),
            ("  close->alert p99 of the text files", f"{ocr['p99'] * 1000:.0f} ms"),
            ("  alerts received / text files written", f"{ocr['alerted']}/{ocr['files']}"),
            ("  scanned PDFs alerted / dropped", f"{ocr['scans_alerted']}/{ocr['scans']}"),
            ("  slowest scanned PDF close->alert", f"{ocr['scan_latency']:.1f} s"),
            ("  OCR pages/s (pages dropped together / that)", f"{ocr['ocr_pages_per_s']:.2f}"),
            ("  RSS max (summed per process)", f"{ocr['rss_sum_max']:.0f} MiB"),
        ]
    if (bur := res.get("burst")) is not None:
        rows += [
            (f"burst of {bur['files']}: write time", f"{bur['write_s']:.1f} s"),
            ("burst: time until every file has a verdict", f"{bur['drain_s']:.1f} s"),
            ("burst: drain rate", f"{bur['rate']:.0f} files/s"),
            ("burst: files with a verdict", f"{bur['done']}/{bur['files']}"),
            ("burst: inotify overflows (each -> reconcile)", f"{bur['overflows']:.0f}"),
            ("PSS max / end during burst (agent + workers)", f"{bur['rss_max']:.0f} / {bur['rss_end']:.0f} MiB"),
            ("RSS max during burst (summed per process)", f"{bur['rss_sum_max']:.0f} MiB"),
        ]  # fmt: skip
    if (idl := res.get("idle")) is not None:
        rows += [
            (f"idle CPU watching {idl['dirs']} dirs over {idle:g}s", f"{idl['cpu_pct']:.2f} %"),
            ("PSS idle (agent + workers)", f"{idl['rss']:.0f} MiB"),
        ]
    return rows


if __name__ == "__main__":
    main()
