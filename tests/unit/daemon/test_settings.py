"""Agent configuration: validated, errors name the dotted field, `run` exits 2 on them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.daemon.settings import ConfigError, load_settings, parse_settings, parse_watch

REPO = Path(__file__).resolve().parents[3]


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    """A config with only a zone gets the documented defaults."""
    s = parse_settings(
        {"zones": [{"name": "drop", "path": str(tmp_path / "z")}], "state_dir": str(tmp_path / "st")}
    )
    assert s.settle_seconds == 1.0 and s.reconcile_interval == 3600 and s.alert_min_severity == "medium"
    assert s.metrics.address == "127.0.0.1:9808" and s.workers >= 1
    assert s.key_path == tmp_path / "st" / "agent.key"
    assert s.zones[0].role == "contractor-drop" and not s.zones[0].quarantine


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"zones": [{"name": "a", "path": "/x", "role": "dropbox"}]}, "zones.0.role"),
        ({"zones": [{"name": "a", "path": "/x"}], "workers": 0}, "workers"),
        ({"zones": [{"name": "a", "path": "/x"}], "metrics": {"address": "nope"}}, "metrics.address"),
        (
            {"zones": [{"name": "a", "path": "/x"}], "sinks": {"webhooks": [{"url": "ftp://h"}]}},
            "sinks.webhooks.0.url",
        ),
        ({"zones": [{"name": "a", "path": "/x"}], "bogus": 1}, "bogus"),
        ({"zones": []}, "zones"),
        (
            {"zones": [{"name": "a", "path": "/x"}], "metrics": {"basic_auth": {"username": "u"}}},
            "metrics.basic_auth",
        ),
    ],
)
def test_errors_name_the_field(data: dict, field: str) -> None:
    """Each invalid value yields a one-line error naming the dotted field."""
    with pytest.raises(ConfigError) as e:
        parse_settings(data, "agent.yaml")
    msg = str(e.value)
    assert msg.startswith(f"agent.yaml: {field}: ") and "\n" not in msg


def test_overlapping_zones_rejected() -> None:
    """Two zones where one contains the other are refused (one file, one zone)."""
    with pytest.raises(ConfigError, match="overlaps"):
        parse_settings({"zones": [{"name": "a", "path": "/x"}, {"name": "b", "path": "/x/y"}]})


def test_yaml_file_errors(tmp_path: Path) -> None:
    """A missing file and broken YAML are ConfigErrors, not tracebacks."""
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("zones: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_settings(bad)


def test_parse_watch_roles() -> None:
    """--watch PATH[:role] defaults to contractor-drop and keeps colons in paths."""
    assert parse_watch("/srv/drop", 0)["role"] == "contractor-drop"
    assert parse_watch("/srv/out:outbound", 1) == {"name": "out-1", "path": "/srv/out", "role": "outbound"}
    assert parse_watch("/srv/a:b", 0)["path"] == "/srv/a:b"


def test_run_prints_config_error_and_exits_2(tmp_path: Path) -> None:
    """`dropwarden run --config` with a bad field prints `config error: file: field: msg` and exits 2."""
    cfg = tmp_path / "agent.yaml"
    cfg.write_text(f"zones:\n  - name: a\n    path: {tmp_path}\n    role: bogus\nstate_dir: {tmp_path}/st\n")
    p = subprocess.run([sys.executable, "-m", "agent", "run", "--config", str(cfg)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith(f"config error: {cfg}: zones.0.role: ") and "Traceback" not in p.stderr


def test_state_dir_inside_a_zone_rejected() -> None:
    """A state directory inside a watched zone is refused: the agent would scan its own journal."""
    with pytest.raises(ConfigError, match="state_dir lies inside zone"):
        parse_settings({"zones": [{"name": "a", "path": "/srv/drop"}], "state_dir": "/srv/drop/.state"})
