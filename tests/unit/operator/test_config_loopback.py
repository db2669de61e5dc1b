"""`config check` and the settings share one idea of loopback: an empty host (all interfaces) is not."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from agent.cli import main
from agent.daemon.settings import is_loopback
from tests.unit.operator.conftest import write_config


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("", False),  # ":9808": every interface
        (str(IPv4Address(0)), False),  # 0.0.0.0
        ("::", False),
        ("10.0.0.5", False),
        ("metrics.example", False),
        ("localhost.example", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("address", "in_clear"),
    [(":9808", True), ("0.0.0.0:9808", True), ("127.0.0.1:9808", False), ("[::1]:9808", False)],
)
def test_a_password_without_tls_off_loopback_is_a_problem(
    address: str, in_clear: bool, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """basic_auth without tls_cert: on every interface (an empty host too) the password travels in clear."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret-for-the-test\n")
    secret.chmod(0o600)
    cfg = write_config(
        tmp_path,
        metrics={"address": address, "basic_auth": {"username": "prom", "password_file": str(secret)}},
    )
    rc = main(["config", "check", "--config", str(cfg)])
    out = capsys.readouterr().out.splitlines()
    clear = [line for line in out if ": metrics.basic_auth: " in line]
    assert clear == (
        [f"{cfg}: metrics.basic_auth: a password on {address} without tls_cert travels in clear"]
        if in_clear
        else []
    )
    assert rc == (1 if in_clear else 0), out
