"""Log lines journald understands: under systemd ($JOURNAL_STREAM names our stream) every line starts
with its syslog priority ``<N>``, so `journalctl -p err` shows errors only; NO_COLOR is honoured."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.log import configure_logging, reset_logging

EMIT = """
import structlog
from agent.log import configure_logging
configure_logging(json=True, level="debug")
log = structlog.get_logger("t")
log.debug("d_happened"); log.info("i_happened"); log.warning("w_happened"); log.error("e_happened")
log.critical("c_happened")
"""


def _run(out: Path, env: dict[str, str]) -> list[str]:
    with out.open("w") as f:
        st = os.fstat(f.fileno())
        env = {k: (v.format(dev=st.st_dev, ino=st.st_ino)) for k, v in env.items()}
        subprocess.run([sys.executable, "-c", EMIT], stdout=f, env={**os.environ, **env}, check=True)
    return out.read_text().splitlines()


def test_priority_prefix_when_stdout_is_the_journal_stream(tmp_path: Path) -> None:
    lines = _run(tmp_path / "stream", {"JOURNAL_STREAM": "{dev}:{ino}"})
    assert [line[:3] for line in lines] == ["<7>", "<6>", "<4>", "<3>", "<2>"]
    assert lines[3].startswith('<3>{"')
    assert '"event": "e_happened"' in lines[3]


def test_no_prefix_elsewhere(tmp_path: Path) -> None:
    # a JOURNAL_STREAM inherited by a process whose output now goes somewhere else: plain JSON
    lines = _run(tmp_path / "stream", {"JOURNAL_STREAM": "1:2"})
    assert all(line.startswith("{") for line in lines)
    assert len(lines) == 5


def test_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    import structlog

    master, slave = os.openpty()
    tty = os.fdopen(slave, "w")
    try:
        for value, coloured in (("", True), ("1", False)):
            monkeypatch.setenv("NO_COLOR", value)
            configure_logging(json=False, level="info", stream=tty)
            structlog.get_logger("t").warning("w_happened")
            tty.flush()
            text = os.read(master, 65536).decode()
            assert "w_happened" in text
            assert ("\x1b[" in text) is coloured
    finally:
        reset_logging()
        tty.close()
        os.close(master)
