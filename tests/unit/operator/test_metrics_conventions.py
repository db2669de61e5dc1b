"""Metrics conventions: standard process/python collectors, reload timestamp, policy info, no
``_created`` series, and a runbook section behind every operational alert."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import generate_latest

from agent import __version__
from agent.metrics import Metrics

#: The severities of Prometheus/Alertmanager practice for operational (health) alerts.
OPERATIONAL_SEVERITIES = {"critical", "warning", "info"}


def test_standard_collectors_reload_time_policy_info_and_no_created() -> None:
    m = Metrics()
    m.inotify_overflows.inc()  # a counter: its _created sibling must not appear
    m.loaded("a" * 64)
    m.loaded("b" * 64)  # a reload: one policy_info series, the current one
    text = generate_latest(m.registry).decode()
    for name in (
        "process_resident_memory_bytes",
        "process_open_fds",
        "python_info",
        "python_gc_objects_collected_total",
    ):
        assert re.search(rf"^{name}(\{{| )", text, re.M), name
    assert "_created" not in text
    info = [line for line in text.splitlines() if line.startswith("dropwarden_policy_info{")]
    assert info == [f'dropwarden_policy_info{{sha256="{"b" * 64}",version="{__version__}"}} 1.0']
    stamp = re.search(r"^dropwarden_config_reload_timestamp_seconds (\S+)$", text, re.M)
    assert stamp is not None
    assert float(stamp[1]) > 1.7e9


def test_every_operational_alert_has_a_runbook_section(repo_root: Path) -> None:
    rules = yaml.safe_load((repo_root / "deploy/prometheus/alerts.yml").read_text())
    runbooks = (repo_root / "deploy/runbooks.md").read_text()
    anchors = {h[3:].strip().lower() for h in runbooks.splitlines() if h.startswith("## ")}
    health = [r for g in rules["groups"] if g["name"] != "dropwarden-findings" for r in g["rules"]]
    assert len(health) >= 10
    for rule in health:
        url = rule["annotations"]["runbook_url"]
        assert url == f"deploy/runbooks.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in anchors
        assert rule["labels"]["severity"] in OPERATIONAL_SEVERITIES
