"""The metrics endpoint: TLS and basic auth in front of prometheus_client's WSGI app."""

from __future__ import annotations

import base64
import datetime
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.daemon.exporter import start_metrics_server
from agent.daemon.settings import parse_settings
from agent.metrics import Metrics
from tests.helpers import free_port


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    c, k = tmp / "cert.pem", tmp / "key.pem"
    c.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return c, k


def test_tls_and_basic_auth(tmp_path: Path) -> None:
    """Over TLS, /metrics answers 401 without credentials or with a wrong password, 200 with the right one."""
    cert, key = _self_signed(tmp_path)
    pw_file = tmp_path / "pw"
    pw_file.write_text("correct horse\n")
    port = free_port()
    s = parse_settings(
        {
            "zones": [{"name": "z", "path": str(tmp_path)}],
            "metrics": {
                "address": f"127.0.0.1:{port}",
                "tls_cert": str(cert),
                "tls_key": str(key),
                "basic_auth": {"username": "prom", "password_file": str(pw_file)},
            },
        }
    )
    m = Metrics()
    m.files_scanned.labels(zone="z", format="pdf").inc()
    httpd = start_metrics_server(s, m)
    ctx = ssl.create_default_context(cafile=str(cert))
    url = f"https://localhost:{port}/metrics"
    try:
        for creds in (None, b"prom:wrong"):
            headers = {"Authorization": "Basic " + base64.b64encode(creds).decode()} if creds else {}
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=ctx, timeout=5)
            assert e.value.code == 401
        good = {"Authorization": "Basic " + base64.b64encode(b"prom:correct horse").decode()}
        with urllib.request.urlopen(urllib.request.Request(url, headers=good), context=ctx, timeout=5) as r:
            assert 'dropwarden_files_scanned_total{format="pdf",zone="z"} 1.0' in r.read().decode()
    finally:
        httpd.shutdown()
