"""Every alert sink given an alert a hostile share produces: a path and members with undecodable bytes
(lone surrogates once decoded), C0 and C1 controls (C1 CSI drives a terminal like ESC [), a newline,
U+2028 and a bidi override, and an excerpt read from content that was not UTF-8. Real JSONL file, real
UDP syslog receiver, real HTTP webhook receiver: each delivers the alert, in valid UTF-8, one record,
no raw control character, the name shown as the reports show it."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from agent.actions.jsonl import JsonlSink
from agent.actions.outbox import Outbox
from agent.actions.sinks import alert_to_dict
from agent.actions.syslog import SyslogSink
from agent.actions.webhook import WebhookSink
from agent.models import Alert
from agent.redact import printable
from tests.helpers import wait_for
from tests.unit.actions.conftest import Receiver, make_alert

PATH = "/srv/drop/dir-\udcff\udcfe/two\nlines\x7f\x9b31m \u2028\u202etxt.exe \udced\udca0\udc80.txt"
#: The path as JSON alerts show it: undecodable bytes as \\xNN (the rest stays, escaped by JSON).
PATH_SHOWN = "/srv/drop/dir-\\xff\\xfe/two\nlines\x7f\x9b31m \u2028\u202etxt.exe \\xed\\xa0\\x80.txt"
MEMBER = "inner/m-\udcff\x85.txt"
EXCERPT = "Subject: st\udcff\udcfeat\udced\udca0\udc80 [4929 **** **** 6474] \x9b2J"
#: Characters no alert may carry raw (JSON escapes C0 itself; the rest is the sinks' job).
RAW = ("\x7f", "\x85", "\x9b", "\u2028", "\u202e", "\x1b")


def _hostile() -> Alert:
    return make_alert(
        path=PATH, member=MEMBER, excerpt=EXCERPT, occurrences=2, members=(MEMBER, "b\udcfe.txt"),
        excerpts=(EXCERPT, "x\udcff"),
    )  # fmt: skip


def _check_json(line: str) -> None:
    assert not any(c in line for c in RAW), line
    _check_values(json.loads(line))


def _check_values(doc: dict[str, Any]) -> None:
    assert doc["path"] == PATH_SHOWN
    assert doc["member"] == "inner/m-\\xff\x85.txt" and doc["members"][1] == "b\\xfe.txt"
    assert doc["excerpt"] == "Subject: st\\xff\\xfeat\\xed\\xa0\\x80 [4929 **** **** 6474] \x9b2J"
    assert doc["excerpts"][1] == "x\\xff"


def test_alert_to_dict_holds_no_lone_surrogate() -> None:
    json.dumps(alert_to_dict(_hostile()), ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize("fmt", ["native", "ecs"])
def test_jsonl_sink_writes_one_valid_line(tmp_path: Path, fmt: str) -> None:
    log = tmp_path / "alerts.jsonl"
    sink = JsonlSink(str(log), fmt=fmt)
    sink.send(_hostile())
    sink.send(make_alert(1))
    sink.close()
    lines = log.read_bytes().decode("utf-8").splitlines()  # str.splitlines: U+2028 and U+0085 too
    assert len(lines) == 2
    if fmt == "native":
        _check_json(lines[0])
    else:
        assert json.loads(lines[0])["file"]["name"].endswith("\\xed\\xa0\\x80.txt")


def test_syslog_message_is_one_printable_line(udp_server: socket.socket) -> None:
    sink = SyslogSink(f"127.0.0.1:{udp_server.getsockname()[1]}", transport="udp", hostname="fs01")
    sink.send(_hostile())
    sink.close()
    msg = udp_server.recv(65535).decode("utf-8")
    assert "\n" not in msg and not any(c in msg for c in RAW)
    assert not any(ord(c) < 0x20 for c in msg)
    assert printable(PATH_SHOWN + "!" + "inner/m-\\xff\x85") in msg


def test_webhook_delivers_the_alert(receiver: Receiver, tmp_path: Path) -> None:
    outbox = Outbox(str(tmp_path / "outbox.db"))
    sink = WebhookSink("hook", receiver.url, outbox, min_backoff=0.02, max_backoff=0.2, timeout=2.0)
    sink.start()
    try:
        sink.send(_hostile())
        assert wait_for(lambda: receiver.requests, 10.0)
    finally:
        sink.close()
        outbox.close()
    (alert,) = receiver.requests[0].body["alerts"]
    _check_values(alert)
