"""The Grafana dashboard: importable Grafana 10 JSON whose every query names metrics the agent exports."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.promql import PROMETHEUS_SERIES, exported_metric_names, find_tool, metric_names_in

DASHBOARD = Path(__file__).resolve().parents[3] / "deploy" / "grafana" / "dashboard.json"
_LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(dash: dict) -> Iterator[dict]:
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows keep their panels inside


def _exprs(dash: dict) -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in _panels(dash) for t in p.get("targets", [])]


def _variable_selectors(dash: dict) -> list[str]:
    out = []
    for var in dash["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = _LABEL_VALUES.match(query)
        assert m, f"variable {var['name']}: unexpected query {query!r}"
        out.append(m["selector"])
    return out


def test_dashboard_is_grafana10_importable() -> None:
    """The JSON has Grafana 10 schema, a Prometheus data-source variable, and instance/zone variables."""
    dash = _dashboard()
    assert dash["schemaVersion"] >= 38
    assert dash["uid"] and dash["title"] and dash["id"] is None
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("instance", "zone"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"]["uid"] == "${DS_PROMETHEUS}"
    ids = [p["id"] for p in _panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in _panels(dash):
        assert {"h", "w", "x", "y"} <= panel["gridPos"].keys(), panel["title"]
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]


def test_dashboard_queries_use_only_exported_metrics() -> None:
    """Every panel query and variable query selects only metrics that agent.metrics.Metrics exports."""
    dash = _dashboard()
    exported = exported_metric_names() | PROMETHEUS_SERIES
    unknown = {}
    for title, expr in _exprs(dash) + [("variable", s) for s in _variable_selectors(dash)]:
        names = metric_names_in(expr)
        assert names, f"{title}: query selects no metric: {expr}"
        if names - exported:
            unknown[title] = names - exported
    assert unknown == {}


def test_dashboard_covers_the_operator_signals() -> None:
    """Findings, throughput, latency heatmaps, errors, queue, inotify, webhooks and reloads have panels."""
    dash = _dashboard()
    used = set().union(*(metric_names_in(e) for _, e in _exprs(dash)))
    for required in (
        "dropwarden_alerts_total",
        "dropwarden_findings_total",
        "dropwarden_files_scanned_total",
        "dropwarden_scanned_bytes_total",
        "dropwarden_scan_duration_seconds_bucket",
        "dropwarden_verdict_latency_seconds_bucket",
        "dropwarden_scan_errors_total",
        "dropwarden_queue_depth",
        "dropwarden_queue_oldest_age_seconds",
        "dropwarden_inotify_overflows_total",
        "dropwarden_webhook_deliveries_total",
        "dropwarden_webhook_failures_total",
        "dropwarden_webhook_outbox_size",
        "dropwarden_policy_reloads_total",
    ):
        assert required in used, required
    heatmaps = [p for p in _panels(dash) if p["type"] == "heatmap"]
    assert {m for p in heatmaps for t in p["targets"] for m in metric_names_in(t["expr"])} == {
        "dropwarden_scan_duration_seconds_bucket",
        "dropwarden_verdict_latency_seconds_bucket",
    }
    assert all(t.get("format") == "heatmap" for p in heatmaps for t in p["targets"])


def test_dashboard_promql_parses(tmp_path: Path) -> None:
    """Every panel query, with Grafana's variables filled in, is valid PromQL according to promtool."""
    promtool = find_tool("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (bash deploy/servers.sh installs it)")
    fill = {"$__rate_interval": "2m", "$__range": "6h", "$instance": ".*", "$zone": ".*", "$site": ".*"}
    rules = []
    for i, (_title, expr) in enumerate(_exprs(_dashboard())):
        for var, value in fill.items():
            expr = expr.replace(var, value)
        assert "$" not in expr, expr
        rules.append({"record": f"dashboard:panel_{i}:check", "expr": expr})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}), encoding="utf-8")
    proc = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboard_has_a_fleet_view_by_site() -> None:
    """A `site` variable filters every query, and the fleet row shows agents up, bundles, alerts and
    unscanned files per host."""
    dash = _dashboard()
    variables = [v["name"] for v in dash["templating"]["list"]]
    assert variables.index("site") < variables.index("instance")
    assert all('site=~"$site"' in e for _, e in _exprs(dash) if 'instance=~"$instance"' in e)
    fleet = {t for t, e in _exprs(dash) if "by (site" in e}
    wanted = {"Agents up by site", "Policy bundle per agent", "Alerts by host", "Unscanned files by host"}
    assert wanted <= fleet
    used = set().union(*(metric_names_in(e) for _, e in _exprs(dash)))
    assert {"dropwarden_bundle_info", "dropwarden_bundle_last_success_timestamp_seconds"} <= used
