"""RSS of the `dropwarden run` parent process: after the demo files are alerted, and after a SIGHUP reload.

The parent holds the compiled policies, not a detection engine (the workers build that); this
measures that it stays small and that a reload does not grow it (issue 13).

    python bench/parent_rss.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _wait(cond: Callable[[], bool], seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def one_run(base: Path) -> tuple[int, int, int]:
    """(RSS after the demo's alerts, RSS after a reload, alerts) of one agent, in MiB."""
    drop, state, alerts = base / "drop", base / "state", base / "alerts.jsonl"
    drop.mkdir(parents=True)
    cfg = base / "agent.yaml"
    cfg.write_text(
        json.dumps(
            {
                "zones": [{"name": "drop", "path": str(drop), "role": "contractor-drop"}],
                "state_dir": str(state),
                "sinks": {"jsonl": {"path": str(alerts)}},
                "metrics": {"address": f"127.0.0.1:{_free_port()}"},
                "log_format": "json",
            }
        )
    )
    log_path = base / "agent.log"
    with log_path.open("w") as log:
        agent = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(cfg)], cwd=REPO, stdout=log, stderr=log
        )
    try:

        def logged(word: str) -> bool:
            return word in log_path.read_text(errors="replace")

        if not _wait(lambda: logged("agent_ready"), 120):
            raise RuntimeError("the agent did not get ready")
        subprocess.run(
            [sys.executable, "-m", "agent.demo", str(drop)], cwd=REPO, check=True, capture_output=True
        )
        if not _wait(lambda: alerts.exists() and len(alerts.read_text().splitlines()) >= 3, 120):
            raise RuntimeError("the demo files were not alerted")
        time.sleep(3)
        ready = _rss_mib(agent.pid)
        agent.send_signal(signal.SIGHUP)
        if not _wait(lambda: logged("reload_succeeded") or logged("reload_failed"), 120):
            raise RuntimeError("no reload outcome")
        time.sleep(3)
        return ready, _rss_mib(agent.pid), len(alerts.read_text().splitlines())
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    for run in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            ready, reloaded, n = one_run(Path(d))
        print(
            f"run {run}: parent RSS {ready} MiB after {n} alerts, {reloaded} MiB after a SIGHUP reload",
            flush=True,
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
