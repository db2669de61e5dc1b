"""deploy/fleet: the central Prometheus (federation) and the Alertmanager fleet routing pass the real
tools' own checks, and route by site and severity as their comments promise."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.promql import find_tool

FLEET = Path(__file__).resolve().parents[3] / "deploy" / "fleet"
CENTRAL = FLEET / "prometheus-central.example.yml"
ROUTING = FLEET / "alertmanager-fleet.example.yml"


def test_central_prometheus_passes_promtool(tmp_path: Path) -> None:
    """`promtool check config` accepts the federation example (its password file made to exist)."""
    promtool = find_tool("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (bash deploy/servers.sh installs it)")
    text = CENTRAL.read_text(encoding="utf-8")
    (tmp_path / "pw").write_text("x\n", encoding="utf-8")
    (tmp_path / "ca.pem").write_text("", encoding="utf-8")
    text = text.replace("/etc/prometheus/federation.password", str(tmp_path / "pw"))
    text = text.replace("/etc/prometheus/sites-ca.pem", str(tmp_path / "ca.pem"))
    conf = tmp_path / "prometheus.yml"
    conf.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [promtool, "check", "config", "--syntax-only", str(conf)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_central_prometheus_federates_every_dropwarden_series_with_site_labels() -> None:
    """The federate job keeps the sites' labels and asks for `up` and every dropwarden_* series."""
    job = yaml.safe_load(CENTRAL.read_text(encoding="utf-8"))["scrape_configs"][0]
    assert job["metrics_path"] == "/federate" and job["honor_labels"] is True
    assert '{__name__=~"dropwarden_.*"}' in job["params"]["match[]"]
    assert all("site" in group["labels"] for group in job["static_configs"])


def test_fleet_routing_passes_amtool(tmp_path: Path) -> None:
    """`amtool check-config` accepts the fleet routing example."""
    amtool = find_tool("amtool") or shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (it comes with prometheus-alertmanager: bash deploy/servers.sh)")
    proc = subprocess.run([amtool, "check-config", str(ROUTING)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fleet_routing_sends_each_site_to_its_team_and_pages_on_critical() -> None:
    """Each site branch has a critical pager and a health route; unknown sites fall back to the SOC."""
    routes = yaml.safe_load(ROUTING.read_text(encoding="utf-8"))["route"]["routes"]
    sites = [r for r in routes if any(m.startswith("site = ") for m in r["matchers"])]
    assert len(sites) >= 2
    for site in sites:
        inner = [m for r in site["routes"] for m in r["matchers"]]
        assert 'severity = "critical"' in inner and 'category = "health"' in inner
    assert routes[-1]["matchers"] == ['site =~ ".+"'] and routes[-1]["receiver"] == "soc"
