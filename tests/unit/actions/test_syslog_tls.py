"""Syslog over TLS (RFC 5425) against a real local TLS listener with a generated CA: the message
arrives octet-counted; a server whose certificate does not chain to the CA, or names another host,
is refused before anything is sent."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.actions.syslog import SyslogSink
from tests.unit.actions.conftest import PLANTED, make_alert
from tests.unit.actions.test_syslog import RFC5424


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca(tmp: Path, label: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(_name(f"{label} CA")).issuer_name(_name(f"{label} CA"))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False,
        ), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    path = tmp / f"{label}-ca.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, path


def _server_cert(
    tmp: Path, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate, Path], host: str
) -> tuple[Path, Path]:
    ca_key, ca_cert, _ = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    san = x509.SubjectAlternativeName([x509.DNSName(host), x509.IPAddress(ipaddress.ip_address("127.0.0.2"))])
    cert = (
        x509.CertificateBuilder().subject_name(_name(host)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    tag = f"{ca_cert.subject.rfc4514_string()}-{host}".replace("=", "_").replace(" ", "_")
    cert_path, key_path = tmp / f"{tag}.pem", tmp / f"{tag}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _TlsListener:
    """A one-connection RFC 5425 receiver on 127.0.0.1 in a thread."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.srv = socket.create_server(("127.0.0.1", 0))
        self.srv.settimeout(10)
        self.port = self.srv.getsockname()[1]
        self.data = b""
        self.error: Exception | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.srv.accept()
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(10)
                while chunk := tls.recv(65536):
                    self.data += chunk
        except (OSError, ssl.SSLError) as exc:
            self.error = exc

    def close(self) -> None:
        self.thread.join(10)
        self.srv.close()


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, object]:
    good = _ca(tmp_path, "good")
    other = _ca(tmp_path, "other")
    return {
        "ca": good[2],
        "localhost": _server_cert(tmp_path, good, "localhost"),
        "wrong-host": _server_cert(tmp_path, good, "syslog.example"),
        "other-ca": _server_cert(tmp_path, other, "localhost"),
    }


def test_message_arrives_octet_counted_over_verified_tls(pki: dict) -> None:
    listener = _TlsListener(*pki["localhost"])
    sink = SyslogSink(f"localhost:{listener.port}", transport="tls", ca_file=str(pki["ca"]))
    sink.send(make_alert(1))
    sink.send(make_alert(2))
    sink.close()
    listener.close()
    assert listener.error is None
    frames, buf = [], listener.data
    while buf:
        length, _, rest = buf.partition(b" ")
        frames.append(rest[: int(length)])
        buf = rest[int(length) :]
    assert len(frames) == 2
    assert all(RFC5424.match(f.decode()) for f in frames)
    assert PLANTED.encode() not in listener.data


@pytest.mark.parametrize("server", ["other-ca", "wrong-host"])
def test_unverified_server_is_refused(pki: dict, server: str) -> None:
    listener = _TlsListener(*pki[server])
    sink = SyslogSink(f"localhost:{listener.port}", transport="tls", ca_file=str(pki["ca"]))
    with pytest.raises(ssl.SSLCertVerificationError):
        sink.send(make_alert(1))
    sink.close()
    listener.close()
    assert listener.data == b""
