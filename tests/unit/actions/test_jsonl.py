"""JSONL alert log: one object per line, rotation by copytruncate and by rename + SIGHUP reopen."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from agent.actions.jsonl import JsonlSink
from agent.actions.sinks import ALERT_FIELDS
from tests.unit.actions.conftest import PLANTED, make_alert


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_lines_are_complete_alert_objects(tmp_path: Path) -> None:
    """Each alert becomes one JSON line with every field in the stable order, file mode 0600."""
    path = tmp_path / "logs" / "alerts.jsonl"
    sink = JsonlSink(str(path), fsync=True)
    sink.send(make_alert(1))
    sink.send(make_alert(2, member="a.zip!b.txt", excerpt='quote " and \\ and ü'))
    sink.close()
    rows = _lines(path)
    assert [list(r) for r in rows] == [list(ALERT_FIELDS)] * 2
    assert rows[1]["member"] == "a.zip!b.txt" and rows[1]["excerpt"] == 'quote " and \\ and ü'
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert PLANTED not in path.read_text("utf-8")


def test_survives_copytruncate(tmp_path: Path) -> None:
    """After an external truncate the next line starts at offset 0: no NUL-filled gap."""
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(str(path))
    for i in range(5):
        sink.send(make_alert(i))
    copy = tmp_path / "alerts.jsonl.1"
    copy.write_bytes(path.read_bytes())  # what logrotate copytruncate does
    with open(path, "r+b") as f:
        f.truncate(0)
    sink.send(make_alert(99))
    sink.close()
    data = path.read_bytes()
    assert b"\x00" not in data
    assert [r["id"] for r in _lines(path)] == [f"{99:032x}"]
    assert len(_lines(copy)) == 5


def test_reopen_after_rename(tmp_path: Path) -> None:
    """After logrotate renames the file, reopen() (SIGHUP) writes to a fresh file at the old path."""
    path = tmp_path / "alerts.jsonl"
    sink = JsonlSink(str(path))
    sink.send(make_alert(1))
    rotated = tmp_path / "alerts.jsonl.1"
    os.rename(path, rotated)
    sink.send(make_alert(2))  # before SIGHUP: still the old (renamed) file, nothing lost
    sink.reopen()
    sink.send(make_alert(3))
    sink.close()
    assert [r["id"] for r in _lines(rotated)] == [f"{1:032x}", f"{2:032x}"]
    assert [r["id"] for r in _lines(path)] == [f"{3:032x}"]


def test_failed_reopen_recovers_at_next_send(tmp_path: Path) -> None:
    """A reopen that fails (directory gone) raises, sends fail, and once the path is back sends resume."""
    logdir = tmp_path / "logs"
    path = logdir / "alerts.jsonl"
    sink = JsonlSink(str(path))
    path.unlink()
    logdir.rmdir()
    logdir.write_text("not a directory")  # even root cannot create a file under a regular file
    with pytest.raises(FileExistsError):
        sink.reopen()
    with pytest.raises(FileExistsError):
        sink.send(make_alert(1))
    logdir.unlink()
    sink.send(make_alert(2))
    sink.close()
    assert [r["id"] for r in _lines(path)] == [f"{2:032x}"]


def test_unusable_path_fails_at_construction(tmp_path: Path) -> None:
    """A misconfigured log path is reported when the sink is built, not silently at the first alert."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(FileExistsError):
        JsonlSink(str(blocker / "alerts.jsonl"))
