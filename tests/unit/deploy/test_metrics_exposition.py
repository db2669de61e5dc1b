"""The agent's /metrics exposition passes Prometheus' own linter (`promtool check metrics`)."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client import generate_latest

from agent.metrics import Metrics
from tests.unit.deploy.promql import find_tool, touch_all


@pytest.fixture(scope="module")
def promtool() -> str:
    path = find_tool("promtool")
    if path is None:
        pytest.skip("promtool not installed (bash deploy/servers.sh installs it)")
    return path


def _check(promtool: str, exposition: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "metrics"], input=exposition.decode(), capture_output=True, text=True, timeout=60
    )


def test_every_metric_passes_promtool_check_metrics(promtool: str) -> None:
    """With every family given a sample, promtool finds no naming, type or help-text problem."""
    m = Metrics()
    touch_all(m)
    exposition = generate_latest(m.registry)
    assert b"dropwarden_verdict_latency_seconds_bucket" in exposition
    proc = _check(promtool, exposition)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "" and proc.stderr.strip() == ""


def test_promtool_check_metrics_rejects_a_bad_counter(promtool: str) -> None:
    """A counter without the _total suffix is reported: the linter this suite relies on really lints."""
    bad = b"# HELP dropwarden_things Things.\n# TYPE dropwarden_things counter\ndropwarden_things 1\n"
    proc = _check(promtool, bad)
    assert proc.returncode != 0
    assert "_total" in proc.stdout + proc.stderr
