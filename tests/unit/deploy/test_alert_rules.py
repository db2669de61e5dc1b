"""The shipped Prometheus alerting rules: valid, unit-tested per alert, and built on real agent metrics."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.promql import PROMETHEUS_SERIES, exported_metric_names, find_tool, metric_names_in

PROM_DIR = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
ALERTS = PROM_DIR / "alerts.yml"
ALERT_TESTS = PROM_DIR / "alerts_test.yml"


def _rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


@pytest.fixture(scope="module")
def promtool() -> str:
    path = find_tool("promtool")
    if path is None:
        pytest.skip("promtool not installed (bash deploy/servers.sh installs it)")
    return path


def test_promtool_check_rules_is_clean(promtool: str) -> None:
    """`promtool check rules` accepts alerts.yml without errors or warnings."""
    proc = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout
    assert "WARNING" not in (proc.stdout + proc.stderr).upper()


def test_promtool_rule_unit_tests_pass(promtool: str) -> None:
    """Every case in alerts_test.yml (firing and silent, labels and annotations) passes under promtool."""
    proc = subprocess.run(
        [promtool, "test", "rules", ALERT_TESTS.name],
        cwd=PROM_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_promtool_rule_tests_can_fail(promtool: str, tmp_path: Path) -> None:
    """A rule unit test expecting silence from a firing alert is reported as failed: the harness bites."""
    (tmp_path / "alerts.yml").write_text(ALERTS.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "bad_test.yml").write_text(
        yaml.safe_dump(
            {
                "rule_files": ["alerts.yml"],
                "evaluation_interval": "1m",
                "tests": [
                    {
                        "interval": "1m",
                        "input_series": [
                            {
                                "series": 'dropwarden_policy_rules{job="dropwarden",instance="a:1"}',
                                "values": "0x10",
                            }
                        ],
                        "alert_rule_test": [
                            {"eval_time": "8m", "alertname": "DropwardenNoPolicyRules", "exp_alerts": []}
                        ],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    proc = subprocess.run(
        [promtool, "test", "rules", "bad_test.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    assert "DropwardenNoPolicyRules" in proc.stdout + proc.stderr


def test_every_alert_has_firing_and_silent_cases() -> None:
    """Each alert in alerts.yml is tested at least once firing and once where it must stay silent."""
    alerts = {r["alert"] for r in _rules() if "alert" in r}
    firing: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(ALERT_TESTS.read_text(encoding="utf-8"))["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    assert alerts, "no alert found in alerts.yml"
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - silent == set(), "alerts never tested silent"
    assert (firing | silent) - alerts == set(), "tests name alerts that do not exist"


def test_alerts_use_only_exported_metrics() -> None:
    """Every metric an alert expression selects is one the agent exports (or Prometheus' own `up`)."""
    exported = exported_metric_names() | PROMETHEUS_SERIES
    used: dict[str, set[str]] = {r["alert"]: metric_names_in(r["expr"]) for r in _rules()}
    unknown = {alert: names - exported for alert, names in used.items() if names - exported}
    assert unknown == {}
    assert all(used.values()), "an alert expression selects no metric at all"
    # Dead-metric guard in the other direction: the operator-facing signals the brief requires.
    all_used = set().union(*used.values())
    for required in (
        "dropwarden_findings_total",
        "dropwarden_scan_errors_total",
        "dropwarden_queue_depth",
        "dropwarden_queue_oldest_age_seconds",
        "dropwarden_inotify_overflows_total",
        "dropwarden_webhook_outbox_size",
        "dropwarden_webhook_failures_total",
        "dropwarden_policy_last_reload_success",
        "dropwarden_reconcile_last_success_timestamp_seconds",
        "dropwarden_reconcile_interval_seconds",
        "up",
    ):
        assert required in all_used, required


def test_alerts_carry_routing_labels_and_text() -> None:
    """Every alert has a severity and category label to route on, and a summary and description."""
    for rule in _rules():
        labels, notes = rule.get("labels", {}), rule.get("annotations", {})
        assert labels.get("category") in {"finding", "health"}, rule["alert"]
        assert labels.get("severity") in {"critical", "high", "warning"}, rule["alert"]
        assert notes.get("summary") and notes.get("description"), rule["alert"]


def test_metric_name_extraction_flags_unknown_names() -> None:
    """The PromQL name extractor finds metrics behind functions, matchers and grouping, not label names."""
    expr = (
        'sum by (zone, rule) (increase(dropwarden_alerts_total{zone=~"$zone"}[$__rate_interval]))'
        " / on (instance) group_left (version) dropwarden_build_info"
        ' and up offset 15m == 1 or dropwarden_invented_metric{reason="x"} > bool 0'
    )
    assert metric_names_in(expr) == {
        "dropwarden_alerts_total",
        "dropwarden_build_info",
        "up",
        "dropwarden_invented_metric",
    }
    assert "dropwarden_invented_metric" not in exported_metric_names()
