"""Log lines about a file whose name is not UTF-8 or holds control and bidi characters: JSON lines
show the name as alerts do (\\xNN for each undecodable byte, never a lone-surrogate escape a strict
JSON reader refuses), console lines escape it whole (one line, nothing for the terminal)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator

import pytest
import structlog

from agent.log import configure_logging, reset_logging

NAME = "/srv/drop/dir-\udcff\udcfe/two\nlines\x1b[2J\u202etxt.exe \udced\udca0\udc80.txt"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    yield out
    reset_logging()


def test_json_lines_show_undecodable_bytes_as_alerts_do(stream: io.StringIO) -> None:
    configure_logging(json=True, level="info", stream=stream)
    structlog.get_logger("t").warning("scan_failed", path=NAME, reason="timeout")
    line = stream.getvalue()
    assert "\\udc" not in line and "\x1b" not in line and line.count("\n") == 1
    shown = "/srv/drop/dir-\\xff\\xfe/two\nlines\x1b[2J\u202etxt.exe \\xed\\xa0\\x80.txt"
    assert json.loads(line)["path"] == shown
    line.encode("utf-8")


def test_console_lines_escape_the_name_whole(stream: io.StringIO) -> None:
    configure_logging(json=False, level="info", stream=stream)
    structlog.get_logger("t").warning("scan_failed", path=NAME, reason="timeout")
    line = stream.getvalue()
    assert line.count("\n") == 1 and "\x1b" not in line and "\u202e" not in line
    unrepr = line.replace("\\\\", "\\")  # the console renderer shows the value's repr
    assert "dir-\\xff\\xfe/two\\nlines\\x1b[2J\\u202etxt.exe \\xed\\xa0\\x80.txt" in unrepr
