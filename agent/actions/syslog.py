"""RFC 5424 syslog sink over a unix socket (/dev/log), UDP (RFC 5426), TCP (RFC 6587 framing) or
TLS (RFC 5425: octet counting over TLS, the server certificate checked against ``ca_file`` or the
system CAs, host name included; an optional client certificate for mutual TLS).

The structured-data element ``[dropwarden@32473 ...]`` carries the bounded facts a SIEM filters on
(rule, severity, zone, ...) so nobody has to parse the free-text MSG. 32473 is the enterprise
number RFC 5612 reserves for examples; a site with its own PEN can pass ``sd_id``.
"""

from __future__ import annotations

import os
import socket
import ssl
import threading
from typing import Literal

from agent.actions.sinks import iso_utc
from agent.models import Alert
from agent.redact import printable

#: Syslog severities (RFC 5424 table 2) for our alert severities.
SYSLOG_SEVERITY = {"critical": 2, "high": 3, "medium": 4, "low": 5}
FACILITY_AUTHPRIV = 10  # security messages, kept out of world-readable logs by most distributions
MAX_UDP_BYTES = 8192  # well below the 65507 UDP limit; RFC 5426 receivers must take at least 2048


def sd_escape(value: str) -> str:
    """Escape a PARAM-VALUE: ``"``, ``\\`` and ``]`` take a backslash (RFC 5424 section 6.3.3)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _header_field(value: str, limit: int) -> str:
    """A header field is printable US-ASCII without spaces, or the NILVALUE ``-``."""
    cleaned = "".join(c for c in value if 33 <= ord(c) <= 126)[:limit]
    return cleaned or "-"


def format_message(
    alert: Alert,
    facility: int = FACILITY_AUTHPRIV,
    hostname: str | None = None,
    app_name: str = "dropwarden",
    procid: int | None = None,
    sd_id: str = "dropwarden@32473",
) -> bytes:
    """One RFC 5424 message: ``<PRI>1 TIMESTAMP HOST APP PROCID alert [SD] MSG``."""
    pri = facility * 8 + SYSLOG_SEVERITY.get(alert.severity, 4)
    host = _header_field(hostname or alert.host or socket.gethostname(), 255)
    params = {
        "rule": alert.rule,
        "severity": alert.severity,
        "zone": alert.zone or "",
        "policy": alert.policy,
        "entity": alert.entity,
        "alert_id": alert.id,
        "fingerprint": alert.fingerprint,
        "count": str(alert.count),
        "occurrences": str(alert.occurrences),
    }
    sd = "[" + sd_id + "".join(f' {k}="{sd_escape(v)}"' for k, v in params.items()) + "]"
    where = printable(alert.path + (f"!{alert.member}" if alert.member else ""))
    msg = f"{alert.entity} found by rule {alert.rule} in {where}: {printable(alert.excerpt)}"
    msg = " ".join(msg.split())  # one line: no newline can forge a second record downstream
    header = (
        f"<{pri}>1 {iso_utc(alert.time)} {host} {_header_field(app_name, 48)} "
        f"{procid if procid is not None else os.getpid()} alert {sd} "
    )
    return (header + msg).encode("utf-8")


def _parse_hostport(address: str, default_port: int) -> tuple[str, int]:
    if address.startswith("["):  # [::1]:514
        host, _, rest = address[1:].partition("]")
        return host, int(rest.lstrip(":") or default_port)
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return address, default_port
    return host, int(port)


class SyslogSink:
    """Sends each alert as one RFC 5424 message; reconnects on the next alert after an error."""

    def __init__(
        self,
        address: str = "/dev/log",
        transport: Literal["unix", "udp", "tcp", "tls"] = "unix",
        facility: int = FACILITY_AUTHPRIV,
        hostname: str | None = None,
        *,
        name: str = "syslog",
        timeout: float = 2.0,
        sd_id: str = "dropwarden@32473",
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
    ) -> None:
        if transport not in ("unix", "udp", "tcp", "tls"):
            raise ValueError(f"syslog transport must be unix, udp, tcp or tls, not {transport!r}")
        if not 0 <= facility <= 23:
            raise ValueError(f"syslog facility must be 0..23, not {facility}")
        self.name = name
        self.address = address
        self.transport = transport
        self.facility = facility
        self.hostname = hostname
        self.sd_id = sd_id
        self._timeout = timeout
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._stream = False
        self._tls: ssl.SSLContext | None = None
        if transport == "tls":
            self._tls = ssl.create_default_context(cafile=ca_file)  # verifies chain and host name
            self._tls.minimum_version = ssl.TLSVersion.TLSv1_2
            if cert_file:
                self._tls.load_cert_chain(cert_file, key_file)

    def _connect(self) -> socket.socket:
        if self.transport == "unix":
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                sock.settimeout(self._timeout)
                sock.connect(self.address)
                self._stream = False
            except OSError:
                sock.close()
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self._timeout)
                sock.connect(self.address)
                self._stream = True
            return sock
        host, port = _parse_hostport(self.address, 6514 if self._tls is not None else 514)
        kind = socket.SOCK_DGRAM if self.transport == "udp" else socket.SOCK_STREAM
        info = socket.getaddrinfo(host, port, type=kind)[0]
        sock = socket.socket(info[0], kind)
        sock.settimeout(self._timeout)
        try:
            sock.connect(info[4])
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=host)
        except OSError:
            sock.close()
            raise
        self._stream = self.transport in ("tcp", "tls")
        return sock

    def send(self, alert: Alert) -> None:
        data = format_message(alert, self.facility, self.hostname, sd_id=self.sd_id)
        with self._lock:
            if self._sock is None:
                self._sock = self._connect()
            if self.transport in ("tcp", "tls"):
                frame = str(len(data)).encode() + b" " + data  # RFC 6587 / 5425 octet counting
            elif self._stream:
                frame = data + b"\n"  # unix stream sockets (rsyslog imuxsock) split on newlines
            else:
                frame = data[:MAX_UDP_BYTES]
            try:
                if self._stream:
                    self._sock.sendall(frame)
                else:
                    self._sock.send(frame)
            except OSError:
                self._drop()  # reconnect next time; this alert's failure is the dispatcher's to count
                raise

    def reopen(self) -> None:
        """Reconnect on the next alert (syslog daemon restarted, /dev/log recreated)."""
        with self._lock:
            self._drop()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        if self._sock is not None:
            sock, self._sock = self._sock, None
            sock.close()
