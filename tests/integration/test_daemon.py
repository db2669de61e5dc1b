"""The agent daemon end to end: a real `dropwarden run` subprocess, real inotify on temp folders,
real Prometheus scrapes, the journal read from outside."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

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


def fake_card(rng: random.Random | None = None) -> str:
    """A random Luhn-valid 16-digit number with a 4 prefix (not a documented test number)."""
    rng = rng or random.Random()
    body = "4" + "".join(rng.choice("0123456789") for _ in range(14))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return body + str((10 - total % 10) % 10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond: Callable[[], object], timeout: float, interval: float = 0.05) -> object:
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > end:
            return v
        time.sleep(interval)


class AgentProc:
    """One agent subprocess with its own zone, state dir, alert log and metrics port."""

    def __init__(
        self, base: Path, policies: Path, *extra: str, settle: float = 0.3, workers: int = 2
    ) -> None:
        self.base = base
        self.zone = base / "zone"
        self.state = base / "state"
        self.alerts = base / "alerts.jsonl"
        self.log = base / "agent.log"
        self.zone.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.argv = [
            sys.executable, "-m", "agent", "run", "--watch", str(self.zone), "--state-dir", str(self.state),
            "--alert-log", str(self.alerts), "--metrics-addr", f"127.0.0.1:{self.port}",
            "--settle", str(settle),
            "--workers", str(workers), "--policies", str(policies), "--log-format", "json", *extra,
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90.0, env: dict[str, str] | None = None) -> AgentProc:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env)
        ok = wait_for(
            lambda: self.proc.poll() is not None or b'"agent_ready"' in self.log.read_bytes(), timeout, 0.1
        )
        if not ok or self.proc.poll() is not None:
            raise RuntimeError(f"agent did not start:\n{self.log.read_text()[-3000:]}")
        return self

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            if not line.startswith(name) or line.startswith("#"):
                continue
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] != name:
                continue
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def alerts_for(self, path: Path) -> list[dict]:
        if not self.alerts.exists():
            return []
        return [a for a in map(json.loads, self.alerts.read_text().splitlines()) if a["path"] == str(path)]

    def rows(self, where: str = "1", args: tuple = ()) -> list[sqlite3.Row]:
        db = sqlite3.connect(f"file:{self.state / 'journal.db'}?mode=ro", uri=True, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            # Safe: `where` is a literal written in this test module; values go through `args`
            return db.execute(f"SELECT * FROM files WHERE {where}", args).fetchall()  # noqa: S608
        finally:
            db.close()

    def row(self, path: Path) -> sqlite3.Row | None:
        r = self.rows("path = ?", (str(path),))
        return r[0] if r else None

    def send(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> tuple[int, float]:
        """Send ``sig`` and wait; return (exit code, seconds to exit)."""
        assert self.proc is not None
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


# -- tests ------------------------------------------------------------------------------------------


pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):
    """One agent for the tests that only add files: settle 0.8 s (slow writers), file timeout 1 s."""
    base = tmp_path_factory.mktemp("daemon")
    pol = base / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    a = AgentProc(base, pol, "--file-timeout", "1.0", settle=0.8).start()
    assert wait_for(lambda: b'"workers_ready"' in a.log.read_bytes(), 60), a.log.read_text()[-3000:]
    yield a
    a.kill()


def test_initial_load_counts_as_success_and_series_start_at_zero(agent: AgentProc) -> None:
    """Right after start the last reload is reported successful and the per-rule and per-reason series
    already exist at 0, so the first alert or error is an increase Prometheus can see."""
    assert agent.metric("dropwarden_policy_last_reload_success") == 1
    lines = agent.metrics_text().splitlines()
    alerts = [x for x in lines if x.startswith("dropwarden_alerts_total{") and 'rule="card-number"' in x]
    errors = [x for x in lines if x.startswith("dropwarden_scan_errors_total{") and 'reason="timeout"' in x]
    assert alerts and errors and 'severity="high"' in alerts[0]
    assert errors[0].endswith(" 0.0")


def test_card_dropped_alerts_within_two_seconds(agent: AgentProc) -> None:
    """A file with a card number closed in the zone reaches the JSONL sink and the metrics within 2 s."""
    before = agent.metric("dropwarden_files_scanned_total")
    path = agent.zone / "invoice.txt"
    path.write_text(f"Please charge card {fake_card()} for the order.\n")
    t = time.monotonic()
    assert wait_for(lambda: agent.alerts_for(path), 2.0), agent.log.read_text()[-2000:]
    assert time.monotonic() - t <= 2.0
    (alert,) = agent.alerts_for(path)
    assert alert["rule"] == "card-number" and alert["severity"] == "high"
    assert agent.metric("dropwarden_alerts_total", rule="card-number") >= 1
    assert agent.metric("dropwarden_files_scanned_total") == before + 1


def test_slow_writer_scanned_once_at_final_content(agent: AgentProc) -> None:
    """A file written over 5 s in 0.5 s steps is scanned exactly once, after the last write (the card)."""
    path = agent.zone / "slow.txt"
    with open(path, "w") as f:
        for i in range(10):
            f.write(f"harmless line {i}\n")
            f.flush()
            time.sleep(0.5)
        f.write(f"card {fake_card()}\n")
    assert wait_for(lambda: agent.alerts_for(path), 5.0)
    time.sleep(1.0)
    row = agent.row(path)
    assert row["scans"] == 1 and row["findings"] == 1 and row["state"] == "done"


def test_fifo_and_hostile_file_do_not_stall_workers(agent: AgentProc) -> None:
    """A FIFO is recorded as not_regular_file, a file that overruns the time limit as timeout with its
    worker replaced, and a card dropped next is still alerted."""
    os.mkfifo(agent.zone / "pipe")
    nums = " ".join(fake_card(random.Random(i)) for i in range(2000))
    (agent.zone / "hostile.txt").write_text((nums + "\n") * 80)  # ~12 s of classification here
    card = agent.zone / "after.txt"
    card.write_text(f"card {fake_card()}\n")
    assert wait_for(lambda: agent.alerts_for(card), 8.0)
    assert wait_for(lambda: (agent.row(agent.zone / "pipe") or {"last_error": None})["last_error"], 5.0)
    assert agent.row(agent.zone / "pipe")["last_error"] == "not_regular_file"
    assert wait_for(lambda: agent.row(agent.zone / "hostile.txt")["state"] == "error", 10.0)
    assert agent.row(agent.zone / "hostile.txt")["last_error"] == "timeout"
    assert agent.metric("dropwarden_worker_restarts_total", reason="timeout") >= 1
    assert agent.metric("dropwarden_scan_errors_total", reason="timeout") >= 1


def test_burst_of_20000_files_each_scanned_once(agent: AgentProc) -> None:
    """20,000 small files written as fast as possible into new nested directories: all scanned, once."""
    before = agent.metric("dropwarden_files_scanned_total")
    root = agent.zone / "burst"
    n = 0
    for d in range(100):
        sub = root / f"d{d:03d}" / "inner"
        sub.mkdir(parents=True)
        for i in range(200):
            fd = os.open(sub / f"f{i:04d}.txt", os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, b"nothing to see %d\n" % i)
            os.close(fd)
            n += 1
    prefix = f"{root}/%"
    done = lambda: agent.rows("path LIKE ? AND state = 'done'", (prefix,))  # noqa: E731
    wait_for(lambda: len(done()) >= n, 120.0, 0.5)
    rows = agent.rows("path LIKE ?", (prefix,))
    assert len(rows) == n and all(r["state"] == "done" for r in rows)
    assert max(r["scans"] for r in rows) == 1
    assert wait_for(lambda: agent.metric("dropwarden_files_scanned_total") - before == n, 5.0)
    print("inotify overflows during burst:", agent.metric("dropwarden_inotify_overflows_total"))


def test_sighup_reload_keeps_old_policies_on_error_and_sigterm_exits(tmp_path: Path) -> None:
    """SIGHUP with a broken pack keeps the old one (counted as a failed reload) and reopens the rotated
    alert log; a fixed pack with a new rule takes effect without a restart; READY=1 and STOPPING=1
    reach $NOTIFY_SOCKET; SIGTERM then exits within 10 s."""
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(5)
    a = AgentProc(tmp_path, pol).start(env={"NOTIFY_SOCKET": str(tmp_path / "notify.sock")})
    try:
        assert b"READY=1" in notify.recv(4096).split(b"\n")
        first = a.zone / "first.txt"
        first.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: a.alerts_for(first), 5.0)
        a.alerts.rename(a.base / "alerts.jsonl.1")  # logrotate; SIGHUP must reopen the JSONL sink
        (pol / "cards.yaml").write_text(CARD_POLICY.replace("severity: high", "severity: catastrophic"))
        a.send(signal.SIGHUP)
        assert wait_for(lambda: a.metric("dropwarden_policy_reloads_total", outcome="failure") == 1, 30.0)
        assert b'"reload_failed"' in a.log.read_bytes()
        card = a.zone / "still.txt"
        card.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: a.alerts_for(card), 5.0)
        mail = a.zone / "mail.txt"
        mail.write_text("Contact: jane.roe@example.org\n")
        assert wait_for(lambda: a.row(mail) and a.row(mail)["state"] == "done", 5.0)
        assert a.alerts_for(mail) == []
        (pol / "cards.yaml").write_text(
            CARD_POLICY + "  - id: email-address\n    desc: E-mail.\n    severity: high\n"
            "    entities: [EMAIL_ADDRESS]\n    min_score: 0.3\n"
        )
        a.send(signal.SIGHUP)
        assert wait_for(lambda: a.metric("dropwarden_policy_reloads_total", outcome="success") == 1, 30.0)
        # the digest changed: every file is rescanned under the new rules, the e-mail now alerts
        assert wait_for(lambda: a.alerts_for(mail), 10.0)
        assert a.metric("dropwarden_policy_last_reload_success") == 1
        rc, secs = a.stop(signal.SIGTERM)
        assert rc == 0 and secs < 10.0
        msgs = []
        with contextlib.suppress(TimeoutError):
            while not any(m.startswith(b"STOPPING=1") for m in msgs):
                msgs.append(notify.recv(4096))
        assert any(m.startswith(b"STOPPING=1") for m in msgs)
    finally:
        a.kill()
        notify.close()


def test_kill_9_mid_burst_and_files_written_while_down(tmp_path: Path) -> None:
    """kill -9 during a burst, files added while the agent is down, restart: every file is scanned and
    none twice after its verdict was recorded."""
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    a = AgentProc(tmp_path, pol).start()
    try:
        for i in range(3000):
            (a.zone / f"b{i:05d}.txt").write_bytes(b"plain %d\n" % i)
        assert wait_for(lambda: len(a.rows("state = 'done'")) >= 300, 30.0)
        a.stop(signal.SIGKILL)
        assert wait_for(lambda: not a.survivors(), 5.0), "forked workers outlived the killed agent"
        done_before = {r["path"] for r in a.rows("state = 'done'")}
        assert 0 < len(done_before) < 3000
        down = a.zone / "down"
        down.mkdir()
        for i in range(200):
            (down / f"w{i:03d}.txt").write_bytes(b"written while down %d\n" % i)
        (down / "card.txt").write_text(f"card {fake_card()}\n")
        a.start()
        assert wait_for(lambda: len(a.rows("state = 'done'")) == 3201, 60.0, 0.25)
        rows = a.rows()
        assert len(rows) == 3201 and max(r["scans"] for r in rows) == 1
        assert wait_for(lambda: a.alerts_for(down / "card.txt"), 5.0)
        assert a.metric("dropwarden_files_scanned_total") == 3201 - len(done_before)
    finally:
        a.kill()
