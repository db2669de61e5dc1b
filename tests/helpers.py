"""Helpers shared by the test modules: fake card numbers, free ports, polling, the agent subprocess.

One copy of each, so a fix (a Luhn detail, a port race, a start-up timeout) lands everywhere.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import string
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]

#: A minimal policy pack: one rule alerting on payment card numbers.
CARD_POLICY = """\
pack: test-cards
version: 1
desc: Minimal pack for daemon tests.
rules:
  - id: card-number
    desc: Payment card number.
    severity: high
    entities: [CREDIT_CARD]
    min_score: 0.3
"""

T = TypeVar("T")


# -- generated fakes -------------------------------------------------------------------------------
def luhn_digit(body: str) -> str:
    """The Luhn check digit that makes ``body + digit`` valid (written here, not taken from agent/)."""
    total = 0
    for i, ch in enumerate(reversed(body)):  # the check digit will sit right of body[-1]
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return str((10 - total % 10) % 10)


def luhn_complete(partial: str) -> str:
    """``partial`` with its Luhn check digit appended."""
    return partial + luhn_digit(partial)


def fake_card(rng: random.Random | None = None, prefix: str = "4", length: int = 16) -> str:
    """A random Luhn-valid number with an issuer ``prefix`` (generated, not a documented test number)."""
    rng = rng or random.Random()
    return luhn_complete(prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1)))


# -- processes and polling -------------------------------------------------------------------------
def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(cond: Callable[[], T], timeout: float, interval: float = 0.05) -> T:
    """Poll ``cond`` until it returns something truthy or ``timeout`` seconds pass; its last value."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > end:
            return v
        time.sleep(interval)


def python_json(script: str, *args: str, env: dict[str, str] | None = None) -> Any:
    """Run ``script`` in a fresh interpreter (nothing imported yet) and return the JSON of its last
    output line: what a cold start-up imports or does."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


class AgentProc:
    """One `dropwarden run` subprocess with its own zone, state dir, alert log and metrics port.

    Built from command-line flags; :meth:`from_argv` takes a ready argv (e.g. ``run --config``).
    """

    def __init__(
        self, base: Path, policies: Path, *extra: str, settle: float = 0.3, workers: int = 2
    ) -> None:
        self._layout(base)
        self.argv = [
            sys.executable, "-m", "agent", "run", "--watch", str(self.zone), "--state-dir", str(self.state),
            "--alert-log", str(self.alerts), "--metrics-addr", f"127.0.0.1:{self.port}",
            "--settle", str(settle),
            "--workers", str(workers), "--policies", str(policies), "--log-format", "json", *extra,
        ]  # fmt: skip

    def _layout(self, base: Path) -> None:
        self.base = base
        self.zone = base / "zone"
        self.state = base / "state"
        self.alerts = base / "alerts.jsonl"
        self.log = base / "agent.log"
        self.zone.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0, env: dict[str, str] | None = None, wait: bool = True) -> AgentProc:
        """Start the agent; with ``wait``, return once it logged `agent_ready` (raise if it exited)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
        if not wait:
            return self
        proc = self.proc
        ok = wait_for(
            lambda: proc.poll() is not None or b'"agent_ready"' in self.log.read_bytes(), timeout, 0.1
        )
        if not ok or proc.poll() is not None:
            raise RuntimeError(f"agent did not start:\n{self.log.read_text()[-3000:]}")
        return self

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return str(r.read().decode())

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            if line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] == name and all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def alerts_for(self, path: Path) -> list[dict[str, Any]]:
        if not self.alerts.exists():
            return []
        # complete lines only: the agent may be appending the next alert while the test reads
        complete = self.alerts.read_bytes().rpartition(b"\n")[0]
        return [a for a in map(json.loads, complete.splitlines()) if a["path"] == str(path)]

    def rows(self, where: str = "1", args: Sequence[object] = ()) -> list[sqlite3.Row]:
        """Journal rows matching ``where`` (a literal from the test; values go through ``args``)."""
        db = sqlite3.connect(f"file:{self.state / 'journal.db'}?mode=ro", uri=True, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            return db.execute(f"SELECT * FROM files WHERE {where}", tuple(args)).fetchall()  # noqa: S608
        finally:
            db.close()

    def row(self, path: Path) -> dict[str, Any] | None:
        r = self.rows("path = CAST(? AS BLOB)", (str(path),))  # the journal keeps names as bytes
        return dict(r[0]) if r else None

    def quiesce(self, timeout: float = 15.0) -> bool:
        """Wait until every file event so far has been handled, without guessing a delay.

        inotify reports one folder's events in order, so once a marker file written now is scanned and
        nothing is pending or in progress, every earlier event has been taken and finished.
        """
        marker = self.zone / f"quiesce-{time.monotonic_ns()}.txt"
        marker.write_text("a marker file with nothing to find\n")
        return wait_for(
            lambda: (
                (self.row(marker) or {}).get("state") == "done"
                and not self.rows("state IN ('pending', 'claimed')")
            ),
            timeout,
            0.1,
        )

    def send(self, sig: int) -> None:
        if self.proc is None:
            raise RuntimeError("agent not started")
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Send ``sig`` and wait; return (exit code, seconds to exit)."""
        if self.proc is None:
            raise RuntimeError("agent not started")
        t = time.monotonic()
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        return rc, time.monotonic() - t

    def survivors(self) -> list[int]:
        """Processes still running with this agent's state dir on their command line (forked workers)."""
        out = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if str(self.state).encode() in cmd and state != "Z":
                out.append(int(pid))
        return out

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def rewrite_tar(data: bytes, edit: Callable[[str, bytes], bytes | None]) -> bytes:
    """A tar (a policy bundle) rewritten: ``edit(name, body)`` gives each regular member's new body, or
    None to drop it; directories are copied as they are. For tampering with signed bundles in tests."""
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data)) as src, tarfile.open(fileobj=out, mode="w") as dst:
        for m in src.getmembers():
            f = src.extractfile(m) if m.isfile() else None
            if f is None:
                dst.addfile(m)
                continue
            body = edit(m.name, f.read())
            if body is not None:
                m.size = len(body)
                dst.addfile(m, io.BytesIO(body))
    return out.getvalue()


def scan_cli(*args: str, state_home: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """`dropwarden scan --format jsonl --no-progress ARGS` as a process, its key under ``state_home``."""
    return subprocess.run(
        [sys.executable, "-m", "agent", "scan", "--format", "jsonl", "--no-progress", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "XDG_STATE_HOME": str(state_home)},
        cwd=REPO,
        timeout=timeout,
    )


def assert_lint_accepts(policy_dir: Path) -> None:
    """`dropwarden policy lint DIR` passes: an attack a test performs needs no broken policy."""
    done = subprocess.run(
        [sys.executable, "-m", "agent", "policy", "lint", str(policy_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def as_nobody(why: str) -> list[str]:
    """A command prefix running as ``nobody`` when root (root reads every folder: a test meeting EACCES
    drops it); empty for an unprivileged user. Skips the test as root without setpriv."""
    import pytest

    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip(f"running as root without setpriv: {why}")
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]


#: A policy pack `policy lint` accepts whose recognizer is slow on long names (tests/integration/
#: test_scan_names.py says why): RE2 cannot run its lookbehind, so Python's ``re`` runs it, and over a
#: run of non-space characters holding many ``x`` and no ``!`` it tries every split (quartic time).
SLOW_NAME_PACK = """\
pack: exclaim
version: 1
recognizers:
  - name: exclaim
    entity: EXCLAIMED_TOKEN
    patterns: [{name: exclaim, regex: '(?<!#)\\S+x\\S+x\\S+!', score: 0.6}]
rules:
  - id: exclaimed-token
    desc: a token with two x followed by an exclamation mark
    severity: low
    entities: [EXCLAIMED_TOKEN]
    examples: {match: ["fix-next!", "xx!"], no_match: ["fix-next.", "go now."]}
"""
