"""The agent observed by a real Prometheus and alerting a real Alertmanager, all on loopback.

One module-scoped scenario: start Alertmanager, the agent (watching a temp zone, webhook in
Alertmanager format) and Prometheus (scraping the agent every second, with deploy/prometheus/alerts.yml
loaded), then drop a file holding a generated Luhn-valid card number. The tests then read the
outcome through each server's own HTTP API. Every server is started and stopped here, bound to
127.0.0.1, and every wait is a bounded poll.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import fake_card, free_port
from tests.unit.deploy.promql import find_tool

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
WAIT = 30.0  # seconds, the bound on every wait in this module


# -- helpers ---------------------------------------------------------------------------------------
def _http(url: str, data: bytes | None = None, timeout: float = 5.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return 0, b""


def _poll(what: str, check: Callable[[], Any], logs: list[Path], timeout: float = WAIT) -> Any:
    """Call ``check`` until it returns something truthy; fail with the processes' log tails if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{_tail(p)}" for p in logs)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n{tails}")


def _tail(path: Path, n: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-n:])
    except OSError:
        return "<no log>"


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def _start(name: str, argv: list[str], log: Path, url: str, ready_path: str, **kw: Any) -> Proc:
    with log.open("wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kw)
    p = Proc(name, proc, log, url)

    def ready() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"{name} exited with {proc.returncode}:\n{_tail(log)}")
        return _http(url + ready_path)[0] == 200

    try:
        _poll(f"{name} to answer {ready_path}", ready, [log])
    except BaseException:
        p.stop()
        raise
    return p


def agent_argv(zone: Path, state: Path, metrics_port: int, webhook_url: str) -> list[str]:
    """The quick-start command line of `dropwarden run`, with one worker and a short settle time."""
    flags = {
        "--watch": str(zone),
        "--state-dir": str(state),
        "--metrics-addr": f"127.0.0.1:{metrics_port}",
        "--webhook-url": webhook_url,
        "--webhook-format": "alertmanager",
        "--settle": "0.3",
        "--workers": "1",
        "--log-format": "json",
    }
    return [sys.executable, "-m", "agent", "run", *(part for pair in flags.items() for part in pair)]


def _prom_query(base: str, query: str) -> list[dict[str, Any]]:
    status, body = _http(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    if status != 200:
        return []
    doc = json.loads(body)
    return doc["data"]["result"] if doc.get("status") == "success" else []


def _prom_value(base: str, query: str) -> float | None:
    result = _prom_query(base, query)
    return float(result[0]["value"][1]) if result else None


# -- the scenario --------------------------------------------------------------------------------------
@dataclass
class Scenario:
    agent: Proc
    prometheus: Proc
    alertmanager: Proc
    zone: Path
    card: str
    baseline_alerts: float  # sum(dropwarden_alerts_total) in Prometheus before the drop (0 if absent)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    prometheus_bin = find_tool("prometheus")
    alertmanager_bin = find_tool("alertmanager", "prometheus-alertmanager")
    if prometheus_bin is None or alertmanager_bin is None:
        pytest.skip("prometheus/alertmanager not installed (bash deploy/servers.sh installs them)")

    tmp = tmp_path_factory.mktemp("observability")
    started: list[Proc] = []
    try:
        # Alertmanager: one catch-all receiver, no clustering, storage in tmp.
        am_port = free_port()
        (tmp / "am.yml").write_text(
            yaml.safe_dump(
                {
                    "route": {"receiver": "null", "group_wait": "1s", "group_interval": "1s"},
                    "receivers": [{"name": "null"}],
                }
            ),
            encoding="utf-8",
        )
        (tmp / "am-data").mkdir()
        am = _start(
            "alertmanager",
            [
                alertmanager_bin,
                f"--config.file={tmp / 'am.yml'}",
                f"--storage.path={tmp / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            tmp / "alertmanager.log",
            f"http://127.0.0.1:{am_port}",
            "/-/ready",
        )
        started.append(am)

        # The agent, with exactly the quick-start flags an operator would use.
        zone, state = tmp / "drop", tmp / "state"
        zone.mkdir()
        agent_port = free_port()
        agent = _start(
            "agent",
            agent_argv(zone, state, agent_port, f"{am.url}/api/v2/alerts"),
            tmp / "agent.log",
            f"http://127.0.0.1:{agent_port}",
            "/metrics",
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        started.append(agent)

        # Prometheus scraping the agent every second, with the shipped alerting rules loaded.
        prom_port = free_port()
        (tmp / "prometheus.yml").write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(ALERTS)],
                    "scrape_configs": [
                        {
                            "job_name": "dropwarden",
                            "static_configs": [{"targets": [f"127.0.0.1:{agent_port}"]}],
                        }
                    ],
                }
            ),
            encoding="utf-8",
        )
        (tmp / "tsdb").mkdir()
        prom = _start(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            tmp / "prometheus.log",
            f"http://127.0.0.1:{prom_port}",
            "/-/ready",
        )
        started.append(prom)
        logs = [p.log for p in started]

        # Baseline: Prometheus has scraped the ready agent (its zone is watched) before anything lands.
        _poll(
            "a first successful scrape of the ready agent",
            lambda: _prom_value(prom.url, 'sum(dropwarden_watched_directories{job="dropwarden"})'),
            logs,
        )
        baseline = _prom_value(prom.url, "sum(dropwarden_alerts_total)") or 0.0

        card = fake_card(random.Random(os.urandom(8)))
        spaced = " ".join(card[i : i + 4] for i in range(0, 16, 4))
        (zone / "renewal-invoice.txt").write_text(
            f"Invoice 2291 for ACME Widgets\nPlease charge the card {spaced} for the yearly renewal.\n",
            encoding="utf-8",
        )
        yield Scenario(agent, prom, am, zone, card, baseline)
    finally:
        for p in reversed(started):
            p.stop()


def _logs(s: Scenario) -> list[Path]:
    return [s.agent.log, s.prometheus.log, s.alertmanager.log]


# -- the tests ------------------------------------------------------------------------------------------
def test_prometheus_sees_the_alert_counter_increase(scenario: Scenario) -> None:
    """Prometheus, scraping the real agent, sees sum(dropwarden_alerts_total) rise after the card lands."""
    s = scenario
    after = _poll(
        "dropwarden_alerts_total to increase in Prometheus",
        lambda: (
            (v := _prom_value(s.prometheus.url, "sum(dropwarden_alerts_total)"))
            and v > s.baseline_alerts
            and v
        ),
        _logs(s),
    )
    assert after >= s.baseline_alerts + 1
    series = _prom_query(s.prometheus.url, 'dropwarden_alerts_total{job="dropwarden"}')
    labels = [r["metric"] for r in series]
    assert any(
        m.get("zone") == "drop" and m.get("rule") and m.get("severity") in {"high", "critical"}
        for m in labels
    )
    assert all("path" not in m for m in labels)  # label values are bounded sets, never file paths


def test_alertmanager_receives_a_redacted_alert(scenario: Scenario) -> None:
    """Alertmanager's API returns the agent's alert with alertname/severity/rule/zone and no card digits."""
    s = scenario

    def received() -> list[dict[str, Any]]:
        status, body = _http(f"{s.alertmanager.url}/api/v2/alerts")
        if status != 200:
            return []
        return [a for a in json.loads(body) if a["labels"].get("zone") == "drop"]

    alerts = _poll("the alert to reach Alertmanager", received, _logs(s))
    card_alerts = [a for a in alerts if a["labels"].get("rule") == "payment-card-number"]
    assert card_alerts, [a["labels"] for a in alerts]
    alert = card_alerts[0]
    labels, notes = alert["labels"], alert["annotations"]
    assert labels["alertname"] == "DropwardenFinding"
    assert labels["severity"] in {"high", "critical"}
    assert labels["zone"] == "drop"
    assert labels["policy"] and labels["entity"] == "CREDIT_CARD"

    # No secret in clear anywhere in the alert: neither the number nor its hidden middle digits.
    spaced = " ".join(s.card[i : i + 4] for i in range(0, 16, 4))
    blob = json.dumps(alert)
    assert s.card not in blob and spaced not in blob
    for key in ("summary", "description", "excerpt", "path"):
        digits = re.sub(r"\D", "", notes.get(key, ""))
        assert s.card not in digits and s.card[4:12] not in digits, key
    assert "*" in notes["excerpt"], notes["excerpt"]  # a redacted excerpt, not an omitted one


def test_shipped_rules_evaluate_cleanly_on_live_data(scenario: Scenario) -> None:
    """A real Prometheus loads deploy/prometheus/alerts.yml and evaluates every rule without error."""
    s = scenario

    def evaluated() -> list[dict[str, Any]]:
        status, body = _http(f"{s.prometheus.url}/api/v1/rules")
        if status != 200:
            return []
        rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
        return rules if rules and all(r["health"] != "unknown" for r in rules) else []

    rules = _poll("every rule to be evaluated once", evaluated, _logs(s))
    shipped = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    assert len(rules) == sum(len(g["rules"]) for g in shipped["groups"])
    assert [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"] == []
    # Healthy agent, fresh servers: no health alert is even pending (no false alarm at start-up).
    active = [
        r["name"] for r in rules if r.get("state") != "inactive" and r["labels"].get("category") == "health"
    ]
    assert active == []


def test_live_metrics_pass_promtool_check_metrics(scenario: Scenario) -> None:
    """The running agent's /metrics, with finding series present, is clean under `promtool check metrics`."""
    promtool = find_tool("promtool")
    if promtool is None:
        pytest.skip("promtool not installed")
    s = scenario
    body = _poll(
        "the finding series on the agent's /metrics",
        lambda: (b := _http(f"{s.agent.url}/metrics")[1]) and b"dropwarden_alerts_total{" in b and b,
        _logs(s),
    )
    proc = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert proc.returncode == 0, (proc.stdout + proc.stderr).decode()


def test_agent_logs_never_show_the_card_number(scenario: Scenario) -> None:
    """After alerting, nothing the agent wrote to stdout/stderr holds the card number."""
    s = scenario
    _poll(
        "the agent to deliver the webhook",
        lambda: b"dropwarden_webhook_deliveries_total{" in _http(f"{s.agent.url}/metrics")[1],
        _logs(s),
    )
    text = s.agent.log.read_text(encoding="utf-8", errors="replace")
    assert s.card not in re.sub(r"[ -]", "", text)
