"""sd_notify over a real unix datagram socket."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from agent.daemon.notify import Notifier


def _sock(addr: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(addr)
    s.settimeout(2)
    return s


def test_ready_stopping_on_path_socket(tmp_path: Path) -> None:
    """READY=1 and STOPPING=1 arrive as datagrams on the NOTIFY_SOCKET path."""
    path = str(tmp_path / "notify")
    with _sock(path) as s:
        n = Notifier({"NOTIFY_SOCKET": path})
        assert n.ready()
        assert b"READY=1" in s.recv(4096).split(b"\n")
        assert n.stopping()
        assert s.recv(4096).startswith(b"STOPPING=1")


def test_abstract_socket_and_watchdog_interval() -> None:
    """'@name' means the abstract namespace; WATCHDOG=1 is sent at half of WATCHDOG_USEC."""
    name = f"dropwarden-test-{os.getpid()}"
    with _sock("\0" + name) as s:
        n = Notifier({"NOTIFY_SOCKET": "@" + name, "WATCHDOG_USEC": "2000000"})
        assert n.watchdog_interval == 1.0
        assert n.watchdog(now=100.0)
        assert s.recv(100) == b"WATCHDOG=1"
        assert not n.watchdog(now=100.5)  # too soon
        assert n.watchdog(now=101.1)


def test_no_socket_is_a_noop() -> None:
    """Outside systemd every call returns False and nothing breaks."""
    n = Notifier({})
    assert not n.enabled and not n.ready() and not n.watchdog()
    assert not Notifier({"NOTIFY_SOCKET": "/nonexistent/sock"}).ready()
