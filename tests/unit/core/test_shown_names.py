"""Names as people and programs see them: escaped, never forging lines, always valid UTF-8."""

from __future__ import annotations

import io
import json
import logging

from agent.log import configure_logging, reset_logging
from agent.models import ExtractError, Finding, Verdict
from agent.redact import printable, shown
from agent.report.jsonl import JsonlReporter
from agent.report.text import TextReporter

NAME = "/z/ev\nil\x1b[2J\udcff\u202etxt.exe"


def _finding(path: str) -> Finding:
    return Finding(
        path=path, member=None, zone=None, policy="p", rule="r", entity="CREDIT_CARD", severity="high",
        score=1.0, line=1, start=0, end=1, count=1, excerpt="card [4111 ****]\x1b[0m", fingerprint="f" * 32,
        desc="", tags=(),
    )  # fmt: skip


def test_shown_and_printable() -> None:
    """Undecodable bytes become \\xNN; printable also escapes newlines, ESC and bidi overrides."""
    assert shown("caf\udce9") == "caf\\xe9" and shown("été") == "été"
    assert printable(NAME) == "/z/ev\\nil\\x1b[2J\\xff\\u202etxt.exe"
    assert printable("plain name.txt") == "plain name.txt"


def test_text_report_keeps_one_line_per_finding_and_jsonl_is_utf8() -> None:
    """A hostile name gives exactly two text lines for its finding and one valid UTF-8 JSON line."""
    v = Verdict(path=NAME, zone=None, findings=(_finding(NAME),), errors=(), bytes=1, seconds=0.0)
    out = io.StringIO()
    TextReporter(out).verdict(v)
    text = out.getvalue()
    assert text.count("\n") == 2 and "\x1b" not in text and "\u202e" not in text
    out = io.StringIO()
    JsonlReporter(out).verdict(v)
    JsonlReporter(out).error(ExtractError(path=NAME, member=None, reason="io_error", detail="x"))
    for line in out.getvalue().encode("utf-8").splitlines():
        assert json.loads(line)["path"] == "/z/ev\nil\x1b[2J\\xff\u202etxt.exe"


def test_console_log_lines_cannot_be_forged() -> None:
    """The console renderer shows a hostile name on the event's own line, escaped."""
    stream = io.StringIO()
    configure_logging(json=False, stream=stream)
    try:
        logging.getLogger("t").warning("x")
        import structlog

        structlog.get_logger("t").warning("scan_failed", path=NAME)
    finally:
        reset_logging()
    lines = [ln for ln in stream.getvalue().splitlines() if "scan_failed" in ln]
    assert len(lines) == 1 and "\x1b" not in stream.getvalue() and "ev\\nil" in lines[0]
