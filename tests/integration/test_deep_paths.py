"""A file hidden past PATH_MAX: 21 nested folders of 200-byte names put ``secret.txt`` at a path of
more than 4096 bytes, which no single system call accepts. The real `scan` CLI and a real agent
watching the folder must still read it (or at least report it), never skip it in silence."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import CARD_POLICY, AgentProc, fake_card, scan_cli, wait_for

pytestmark = pytest.mark.integration

PATH_MAX = 4096
DEPTH = 21


#: 200-byte folder names; one is not UTF-8 (shown escaped, like any such name).
NAMES = [b"%02d-" % i + b"d" * 197 for i in range(DEPTH)]
NAMES[3] = b"03-caf\xe9-".ljust(200, b"x")
#: How the odd name is shown (JSON of the escaped text).
SHOWN = "03-caf\\\\xe9-"


def build_deep(top: Path, body: str) -> str:
    """Create the chain below ``top`` through directory descriptors (its full path is too long for one
    call) and write ``secret.txt`` at the bottom; the file's full path."""
    names = [os.fsdecode(n) for n in NAMES]
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            step = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = step
        out = os.open("secret.txt", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(out, body.encode())
        os.close(out)
    finally:
        os.close(fd)
    path = os.path.join(top, *names, "secret.txt")
    assert len(os.fsencode(path)) > PATH_MAX
    with pytest.raises(OSError, match="too long"):
        os.lstat(path)  # the attack is real: the path cannot be handed to the kernel
    return path


@pytest.mark.slow
def test_scan_reads_a_file_nested_past_path_max(tmp_path: Path) -> None:
    """`dropwarden scan` of the top folder finds the card in the deep file (its bytes counted), shows its
    path with the odd folder name escaped and the card masked; a deep link leading out of the tree is
    reported (``symlink_outside``), never skipped in silence, never followed."""
    top = tmp_path / "share"
    top.mkdir()
    card = fake_card()
    body = f"Please charge card {card} for the invoice.\n"
    path = build_deep(top, body)
    outside = tmp_path / "outside.txt"
    outside.write_text(f"card {fake_card()}\n")
    _beside(path, "out-link", lambda fd: os.symlink(str(outside), "out-link", dir_fd=fd))
    pack = str(_pack(tmp_path))
    r = scan_cli(str(top), "--format", "jsonl", "--policies", pack, state_home=tmp_path / "st")
    assert r.returncode == 1, r.stderr[-2000:]
    assert card not in r.stdout and SHOWN in r.stdout
    records = [json.loads(line) for line in r.stdout.splitlines()]
    summary = records[-1]
    assert summary["kind"] == "summary" and summary["files"] == 1 and summary["errors"] == 1, records
    assert summary["bytes"] == len(body), summary
    found = [x for x in records if x["kind"] == "finding"]
    assert len(found) == 1 and found[0]["path"].endswith("/secret.txt") and len(found[0]["path"]) > PATH_MAX
    errors = [x for x in records if x["kind"] == "error"]
    assert [(e["path"].rsplit("/", 1)[1], e["reason"]) for e in errors] == [("out-link", "symlink_outside")]


def _pack(tmp_path: Path) -> Path:
    pol = tmp_path / "policies"
    pol.mkdir(exist_ok=True)
    (pol / "cards.yaml").write_text(CARD_POLICY)
    return pol


@pytest.mark.slow
def test_agent_alerts_on_a_file_nested_past_path_max(tmp_path: Path) -> None:
    """A running agent: the chain is built inside the watched zone while it watches (inotify cannot
    watch the deepest folders), and one more at start-up (the reconcile crawl): both files alert under
    their escaped name, no card in clear, and the agent keeps running."""
    a = AgentProc(tmp_path, _pack(tmp_path))
    early_top = a.zone / "before"
    early_top.mkdir()
    cards = [fake_card() for _ in range(4)]
    early = build_deep(early_top, f"card {cards[0]}\n")
    a.start()
    try:
        live_top = a.zone / "live"
        live_top.mkdir()
        live = build_deep(live_top, f"card {cards[1]}\n")
        for path in (early, live):
            assert wait_for(lambda p=path: _alerts(a, p), 60.0), a.log.read_text()[-3000:]
        later = _write_beside(live, "later.txt", f"card {cards[2]}\n")  # into a folder inotify cannot watch
        shallow = a.zone / "shallow.txt"
        shallow.write_text(f"card {cards[3]}\n")  # the watcher still works
        assert wait_for(lambda: a.alerts_for(shallow), 30.0), a.log.read_text()[-3000:]
        assert wait_for(lambda: _alerts(a, later), 30.0), a.log.read_text()[-3000:]
        fifo = _beside(live, "pipe", lambda fd: os.mkfifo("pipe", dir_fd=fd))  # never read: reported
        assert wait_for(lambda: _alerts(a, fifo), 30.0), a.log.read_text()[-3000:]
        unscanned = _alerts(a, fifo)[0]
        assert "UNSCANNED_CONTENT" in json.dumps(unscanned), unscanned
        polls = lambda: a.metric("dropwarden_reconcile_runs_total", trigger="deep_poll")  # noqa: E731
        start = polls()
        assert wait_for(lambda: polls() >= start + 3, 30.0)  # the deep folders were crawled again since
        scans = [x for x in a.log.read_text().splitlines() if '"file_scanned"' in x and '/pipe"' in x]
        assert len(scans) == 1 and len(_alerts(a, fifo)) == 1  # its stat is kept: not scanned at every poll
        assert a.proc is not None and a.proc.poll() is None
        raw, log = a.alerts.read_text(), a.log.read_text()
        assert all(c not in raw and c not in log for c in cards)
        assert "Traceback" not in log and '"directories_unwatchable"' in log
    finally:
        a.kill()


def _beside(path: str, name: str, make: Callable[[int], object]) -> str:
    """Create ``name`` with ``make(dir_fd)`` in the (too deep to name in one call) folder of ``path``."""
    folder = os.path.dirname(path)
    head = os.path.dirname(folder[:PATH_MAX])
    fd = os.open(head, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in folder[len(head) + 1 :].split("/"):
            step = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = step
        make(fd)
    finally:
        os.close(fd)
    return os.path.join(folder, name)


def _write_beside(path: str, name: str, body: str) -> str:
    """Write ``name`` into the folder of ``path``; its full path."""

    def make(fd: int) -> None:
        out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
        os.write(out, body.encode())
        os.close(out)

    return _beside(path, name, make)


def _alerts(a: AgentProc, path: str) -> list[dict[str, object]]:
    """Alerts on ``path``, shown with its undecodable byte escaped as ``\\xe9``."""
    if not a.alerts.exists():
        return []
    shown = path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    rows = [json.loads(line) for line in a.alerts.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("path") == shown]
