"""/metrics never opens on every interface by accident: a non-loopback bind needs TLS, basic auth or an
explicit allow_insecure_metrics (the settings refuse it; the real `dropwarden run` exits on it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.daemon.settings import ConfigError, parse_settings

REPO = Path(__file__).resolve().parents[3]
ZONES = [{"name": "a", "path": "/x"}]


@pytest.mark.parametrize(
    "address", [":9808", "0.0.0.0:9808", "[::]:9808", "10.1.2.3:9808", "metrics.example:1"]
)
def test_non_loopback_bind_without_tls_or_auth_is_refused(address: str) -> None:
    with pytest.raises(ConfigError, match="allow_insecure_metrics"):
        parse_settings({"zones": ZONES, "metrics": {"address": address}})


@pytest.mark.parametrize("address", ["127.0.0.1:9808", "127.8.0.1:1", "[::1]:9808", "localhost:9808"])
def test_loopback_binds_are_accepted(address: str) -> None:
    assert parse_settings({"zones": ZONES, "metrics": {"address": address}}).metrics.address == address


def test_explicit_opt_in_tls_or_basic_auth_allow_any_interface(tmp_path: Path) -> None:
    digest = "0" * 64
    for extra in (
        {"allow_insecure_metrics": True},
        {"basic_auth": {"username": "prom", "password_sha256": digest}},
        {"tls_cert": str(tmp_path / "c.pem"), "tls_key": str(tmp_path / "k.pem")},
    ):
        s = parse_settings({"zones": ZONES, "metrics": {"address": ":9808", **extra}})
        assert s.metrics.host_port == ("", 9808)


def test_run_with_empty_metrics_host_exits_before_binding(tmp_path: Path) -> None:
    """`dropwarden run --metrics-addr :PORT` is refused with a message naming the way out."""
    zone = tmp_path / "zone"
    zone.mkdir()
    argv = [sys.executable, "-m", "agent", "run", "--watch", str(zone), "--state-dir", str(tmp_path / "s")]
    proc = subprocess.run(
        [*argv, "--metrics-addr", ":0"], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert proc.returncode != 0
    assert "allow_insecure_metrics" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
