"""RFC 5424 syslog messages over real sockets on 127.0.0.1 and a unix datagram socket."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest

from agent.actions.syslog import SyslogSink, format_message, sd_escape
from tests.unit.actions.conftest import PLANTED, make_alert

# <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD-ID params] MSG
RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<host>\S+) dropwarden "
    r'(?P<pid>\d+) alert (?P<sd>\[dropwarden@32473(?: [^ =\]"]{1,32}="(?:[^"\\\]]|\\["\\\]])*")+\]) '
    r"(?P<msg>.*)$",
    re.S,
)


def test_udp_message_format(udp_server: socket.socket) -> None:
    """A UDP datagram carries one well-formed RFC 5424 message with PRI authpriv/err and the SD element."""
    port = udp_server.getsockname()[1]
    sink = SyslogSink(f"127.0.0.1:{port}", transport="udp", hostname="fs01")
    sink.send(make_alert(1, severity="high"))
    data, _ = udp_server.recvfrom(65535)
    sink.close()
    m = RFC5424.match(data.decode("utf-8"))
    assert m, data
    assert int(m["pri"]) == 10 * 8 + 3
    assert m["host"] == "fs01" and int(m["pid"]) == os.getpid()
    assert m["ts"] == "2026-11-18T11:06:41.250Z"
    assert 'rule="card-number-bulk"' in m["sd"] and 'severity="high"' in m["sd"]
    assert 'zone="contractors"' in m["sd"] and f'alert_id="{1:032x}"' in m["sd"]
    assert "/srv/drop/acme/invoice-1.xlsx" in m["msg"] and "4929 **** **** 6474" in m["msg"]
    assert PLANTED not in data.decode("utf-8")


def test_sd_param_escaping(udp_server: socket.socket) -> None:
    """Quotes, backslashes and closing brackets in SD values are escaped; the element still parses."""
    assert sd_escape('a"b\\c]d') == 'a\\"b\\\\c\\]d'
    port = udp_server.getsockname()[1]
    sink = SyslogSink(f"127.0.0.1:{port}", transport="udp")
    sink.send(make_alert(2, rule='r"1]\\x', zone="z]", member="line\nbreak.txt"))
    data, _ = udp_server.recvfrom(65535)
    sink.close()
    text = data.decode("utf-8")
    m = RFC5424.match(text)
    assert m, text
    assert 'rule="r\\"1\\]\\\\x"' in m["sd"] and 'zone="z\\]"' in m["sd"]
    assert "\n" not in text


def test_header_fields_are_sanitised() -> None:
    """Spaces or control characters in the hostname cannot shift the header fields; an empty zone is ''."""
    raw = format_message(make_alert(3, zone=None, severity="critical"), facility=4, hostname="bad host\n")
    m = RFC5424.match(raw.decode("utf-8"))
    assert m and m["host"] == "badhost" and int(m["pri"]) == 4 * 8 + 2
    assert 'zone=""' in m["sd"]


def test_tcp_octet_counting_framing() -> None:
    """Over TCP each message is framed as 'LEN SP MSG' (RFC 6587) and two alerts share one connection."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(5)
        sink = SyslogSink(f"127.0.0.1:{srv.getsockname()[1]}", transport="tcp")
        sink.send(make_alert(1))
        sink.send(make_alert(2))
        conn, _ = srv.accept()
        conn.settimeout(5)
        sink.close()
        buf = b""
        while chunk := conn.recv(65536):
            buf += chunk
        conn.close()
    frames = []
    while buf:
        length, _, rest = buf.partition(b" ")
        frames.append(rest[: int(length)])
        buf = rest[int(length) :]
    assert len(frames) == 2 and all(RFC5424.match(f.decode()) for f in frames)


def test_unix_datagram_socket(tmp_path: Path) -> None:
    """The default transport writes datagrams to a unix socket like /dev/log."""
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as srv:
        srv.bind(path)
        srv.settimeout(5)
        sink = SyslogSink(path)
        sink.send(make_alert(1))
        assert RFC5424.match(srv.recv(65535).decode())
        sink.reopen()
        sink.send(make_alert(2))
        assert f'alert_id="{2:032x}"' in srv.recv(65535).decode()
        sink.close()


def test_missing_socket_raises_for_the_dispatcher(tmp_path: Path) -> None:
    """With no syslog daemon listening, send raises (the dispatcher counts it) instead of hanging."""
    sink = SyslogSink(str(tmp_path / "absent.sock"))
    with pytest.raises(FileNotFoundError):
        sink.send(make_alert(1))
