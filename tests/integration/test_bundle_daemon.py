"""A running agent pulls signed policy bundles from a real local HTTPS server (its CA pinned): a valid
bundle is installed and its rules alert; tampered, unsigned and older bundles are refused and counted
while the valid one stays in force; a newer valid one replaces it through a reload. Nothing is mocked:
real TLS with a generated CA, real tar bundles built by `dropwarden bundle build`, the real daemon."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.security.keys import write_keypair
from tests.helpers import CARD_POLICY, AgentProc, free_port, rewrite_tar, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
MARKING_PACK = """\
pack: fleet-markings
version: 1
desc: Fleet-wide marking rule delivered by bundle.
rules:
  - id: fleet-marking
    desc: A confidentiality marking.
    severity: high
    entities: [CONFIDENTIAL_MARKING]
    min_score: 0.3
"""


def _cert(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)
    san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dropwarden test bundle CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(san, critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_pem, crt_pem, key_pem = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    crt_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_pem, crt_pem, key_pem


class BundleServer:
    """An HTTPS server on 127.0.0.1 serving whatever bytes `body` holds at /bundle.tar."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.body = b""
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args: object) -> None:
                return

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/bundle.tar"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[BundleServer, Path]]:
    ca, crt, key = _cert(tmp_path)
    s = BundleServer(crt, key)
    try:
        yield s, ca
    finally:
        s.close()


def _build(tmp: Path, signing_key: Path, version: int) -> bytes:
    """A bundle built by the real CLI: `dropwarden bundle build`."""
    src = tmp / f"packs-{version}"
    src.mkdir(exist_ok=True)
    (src / "fleet.yaml").write_text(MARKING_PACK)
    out = tmp / f"bundle-{version}.tar"
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "bundle", "build", "--policies", str(src), "--key", str(signing_key),
         "--version", str(version), "--name", "fleet", "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return out.read_bytes()


def _tampered(data: bytes) -> bytes:
    """The same bundle with its pack edited after signing (the rule's severity lowered)."""
    return rewrite_tar(
        data,
        lambda name, body: (
            body.replace(b"severity: high", b"severity: low ") if name.endswith("fleet.yaml") else body
        ),
    )


def _unsigned(data: bytes) -> bytes:
    """The same bundle without its signature file."""
    return rewrite_tar(data, lambda name, body: None if name.endswith(".sig") else body)


def test_agent_ends_on_the_valid_bundle_and_its_metrics_say_so(
    tmp_path: Path, server: tuple[BundleServer, Path]
) -> None:
    """valid v2: installed and alerting; tampered v3, unsigned v4, older v1: refused; valid v5: in force."""
    srv, ca = server
    keys = write_keypair(tmp_path / "keys", "signing")
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    a = AgentProc(tmp_path / "agent", pol)
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "zones": [{"name": "drop", "path": str(a.zone), "role": "contractor-drop"}],
                "policies": [str(pol)],
                "state_dir": str(a.state),
                "settle_seconds": 0.3,
                "close_settle_seconds": 0.1,
                "workers": 1,
                "sinks": {"stdout": False, "jsonl": {"path": str(a.alerts)}},
                "metrics": {"address": f"127.0.0.1:{a.port}"},
                "signing_public_keys": [str(keys.public)],
                "bundle": {"source": srv.url, "ca_file": str(ca), "poll_seconds": 5, "timeout": 10},
                "log_format": "json",
            }
        )
    )
    a.argv = [*a.argv[:4], "--config", str(cfg)]
    srv.body = _build(tmp_path, keys.private, 2)
    a.start()
    try:
        assert a.metric("dropwarden_bundle_info", version="2") == 1
        assert a.metric("dropwarden_bundle_last_success_timestamp_seconds") > 0
        memo = a.zone / "memo.txt"
        memo.write_text("STRICTLY CONFIDENTIAL\n\nBoard minutes, not for distribution.\n")
        assert wait_for(lambda: any(x["rule"] == "fleet-marking" for x in a.alerts_for(memo)), 60, 0.2)

        for bad, reason in (
            (_tampered(_build(tmp_path, keys.private, 3)), "tampered"),
            (_unsigned(_build(tmp_path, keys.private, 4)), "unsigned"),
            (_build(tmp_path, keys.private, 1), "rollback"),
        ):
            srv.body = bad
            assert wait_for(
                lambda r=reason: a.metric("dropwarden_bundle_failures_total", reason=r) >= 1, 30, 0.5
            ), reason
            assert a.metric("dropwarden_bundle_info", version="2") == 1

        srv.body = _build(tmp_path, keys.private, 5)
        assert wait_for(lambda: a.metric("dropwarden_bundle_info", version="5") == 1, 30, 0.5)
        assert a.metric("dropwarden_bundle_info", version="2") == 0
        assert wait_for(lambda: b'"bundle_installed"' in a.log.read_bytes(), 10, 0.2)
        # the new bundle went through the reload path, which succeeded
        assert wait_for(lambda: a.metric("dropwarden_policy_reloads_total", outcome="success") >= 1, 30, 0.5)
    finally:
        a.stop()


def test_an_untrusted_server_certificate_is_refused(
    tmp_path: Path, server: tuple[BundleServer, Path]
) -> None:
    """The https source trusts only the pinned CA: with another CA's file the fetch fails (`tls`)."""
    from agent.daemon.bundles import FetchFailed, fetch
    from agent.daemon.settings import BundleConfig

    srv, _ = server
    (tmp_path / "other").mkdir()
    other_ca, _, _ = _cert(tmp_path / "other")
    srv.body = b"x"
    with pytest.raises(FetchFailed) as exc:
        fetch(BundleConfig(source=srv.url, ca_file=str(other_ca), timeout=5))
    assert exc.value.reason in ("tls", "unreachable")
    ok = fetch(BundleConfig(source=srv.url, ca_file=str(server[1]), timeout=5))
    assert ok == b"x"
