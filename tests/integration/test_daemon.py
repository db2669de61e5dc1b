"""The agent daemon end to end: a real `dropwarden run` subprocess, real inotify on temp folders,
real Prometheus scrapes, the journal read from outside."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.helpers import CARD_POLICY, AgentProc, fake_card, wait_for

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
    assert agent.metric("dropwarden_files_scanned_total", format="text") >= 1
    assert agent.metric("dropwarden_extracted_chars_total", format="text") >= len("Please charge card")


def test_slow_writer_scanned_once_at_final_content(agent: AgentProc) -> None:
    """A file written over 5 s in 0.25 s steps (settle 0.8 s) is scanned exactly once, after the last
    write (the card)."""
    path = agent.zone / "slow.txt"
    with open(path, "w") as f:
        for i in range(20):
            f.write(f"harmless line {i}\n")
            f.flush()
            time.sleep(0.25)  # the writer's pace (well under the settle), not a wait for the agent
        f.write(f"card {fake_card()}\n")
    assert wait_for(lambda: agent.alerts_for(path), 10.0)
    assert agent.quiesce()
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
    done = lambda: agent.rows("CAST(path AS TEXT) LIKE ? AND state = 'done'", (prefix,))  # noqa: E731
    wait_for(lambda: len(done()) >= n, 120.0, 0.5)
    rows = agent.rows("CAST(path AS TEXT) LIKE ?", (prefix,))
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
