"""deploy/install.md: the files it installs exist and its Alertmanager routing example is valid."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.promql import find_tool

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
DOC = DEPLOY / "install.md"


def _alertmanager_example() -> str:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(r"<!-- alertmanager\.yml:.*?-->\s*```yaml\n(.*?)```", text, re.S)
    assert m, "the Alertmanager example block is missing from install.md"
    return m.group(1)


def test_every_deploy_file_the_guide_installs_exists() -> None:
    """Each `deploy/...` file named in the guide's table is shipped in the repository."""
    text = DOC.read_text(encoding="utf-8")
    named = set(re.findall(r"^\| `([\w./-]+)` \|", text, re.M))
    assert len(named) >= 6
    assert {n for n in named if not (DEPLOY / n).is_file()} == set()


def test_alertmanager_example_routes_findings_and_health() -> None:
    """The routing example sends agent findings and category=finding alerts to the security receivers."""
    doc = yaml.safe_load(_alertmanager_example())
    matchers = [m for r in doc["route"]["routes"] for m in r["matchers"]]
    assert 'alertname = "DropwardenFinding"' in matchers
    assert 'category = "finding"' in matchers and 'category = "health"' in matchers


def test_alertmanager_example_passes_amtool(tmp_path: Path) -> None:
    """`amtool check-config` accepts the routing example as written in the guide."""
    amtool = find_tool("amtool")
    if amtool is None:
        pytest.skip("amtool not installed (it comes with prometheus-alertmanager: bash deploy/servers.sh)")
    path = tmp_path / "alertmanager.yml"
    path.write_text(_alertmanager_example(), encoding="utf-8")
    proc = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_logrotate_file_passes_a_dry_run(tmp_path: Path) -> None:
    """`logrotate -d` parses deploy/logrotate/dropwarden without error (user names swapped for root)."""
    logrotate = find_tool("logrotate", "/usr/sbin/logrotate")
    if logrotate is None:
        pytest.skip("logrotate not installed")
    # The dropwarden user exists only on an installed server; everything else is checked as shipped.
    conf = (
        (DEPLOY / "logrotate" / "dropwarden")
        .read_text(encoding="utf-8")
        .replace("dropwarden dropwarden", "root root")
    )
    path = tmp_path / "dropwarden"
    path.write_text(conf, encoding="utf-8")
    path.chmod(0o644)
    proc = subprocess.run(
        [logrotate, "-d", "-s", str(tmp_path / "state"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = proc.stdout + proc.stderr
    assert "error" not in out.lower(), out
    assert "/var/log/dropwarden/alerts.jsonl" in out
