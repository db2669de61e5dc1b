"""Fixtures for the alert sinks: alert factory and a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agent.models import Alert
from tests.helpers import free_port

#: A planted fake card number (Luhn-valid, random); alerts carry only its redacted form.
PLANTED = "4929 3817 5520 6474"
REDACTED = "card 4929 **** **** 6474 paid"


def make_alert(i: int = 0, **over: Any) -> Alert:
    """A realistic alert whose excerpt is redacted the way the pipeline redacts it."""
    values: dict[str, Any] = {
        "id": f"{i:032x}",
        "time": 1_795_000_000.25 + i,
        "host": "fs01",
        "zone": "contractors",
        "role": "contractor-drop",
        "path": f"/srv/drop/acme/invoice-{i}.xlsx",
        "member": None,
        "policy": "pci",
        "rule": "card-number-bulk",
        "entity": "CREDIT_CARD",
        "severity": "high",
        "excerpt": REDACTED,
        "fingerprint": f"fp-{i:08x}",
        "desc": "Payment card numbers",
        "count": 3,
        "tags": ("pci",),
        "line": 7,
    }
    values.update(over)
    return Alert(**values)


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Receiver:
    """A real webhook receiver; ``statuses`` is consumed one per request, then ``default``."""

    port: int
    requests: list[Request] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default: int = 200
    gets: int = 0
    decide: Callable[[Any], int] | None = None
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                with receiver.lock:
                    if receiver.decide is not None:
                        status = receiver.decide(body)
                    else:
                        status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                    if 200 <= status < 300:
                        receiver.requests.append(Request(self.path, dict(self.headers), body))
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/moved")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_GET(self) -> None:  # a followed redirect would land here and "succeed"
                with receiver.lock:
                    receiver.gets += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def alert_ids(self) -> list[str]:
        """Ids of every alert the receiver accepted, in arrival order (either payload format)."""
        ids: list[str] = []
        with self.lock:
            for r in self.requests:
                if isinstance(r.body, dict):
                    ids += [a["id"] for a in r.body["alerts"]]
                else:
                    ids += [a["labels"]["alert_id"] for a in r.body]
        return ids


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver on a free port, stopped after the test."""
    r = Receiver(port=free_port())
    r.start()
    yield r
    r.stop()


@pytest.fixture
def down_receiver() -> Iterator[Receiver]:
    """A receiver whose port is closed until the test calls ``start()``."""
    r = Receiver(port=free_port())
    yield r
    r.stop()


@pytest.fixture
def udp_server() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    yield s
    s.close()
