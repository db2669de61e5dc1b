"""The tuning tools see what the daemon runs (`--config`), and `scan --baseline` reports new findings only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from tests.unit.operator.conftest import write_config

MARKED = "STRICTLY CONFIDENTIAL\nBoard minutes of the merger project, draft two.\n"


@pytest.fixture(autouse=True)
def _private_scan_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))


def scan_jsonl(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]]]:
    capsys.readouterr()
    rc = main(["scan", "--format", "jsonl", "--jobs", "1", *args])
    return rc, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def findings(records: list[dict[str, object]]) -> list[dict[str, object]]:
    return [r for r in records if r["kind"] == "finding"]


def test_acceptance_override_only_pack_through_config(agent_config: Path, capsys) -> None:
    zone = agent_config.parent / "zone"
    (zone / "minutes.txt").write_text(MARKED)
    assert main(["config", "check", "--config", str(agent_config)]) == 0
    capsys.readouterr()
    assert main(["policy", "lint", "--config", str(agent_config)]) == 0
    # the same local pack alone has nothing to override
    assert main(["policy", "lint", str(agent_config.parent / "policies.d")]) == 1
    assert "no earlier pack defines this rule" in capsys.readouterr().out

    rc, plain = scan_jsonl(capsys, str(zone))
    assert [(f["rule"], f["severity"], f["zone"]) for f in findings(plain)] == [
        ("marking-strictly-confidential", "high", None)
    ]
    assert rc == 1
    rc, tuned = scan_jsonl(capsys, "--config", str(agent_config), str(zone))
    assert [(f["rule"], f["severity"], f["zone"]) for f in findings(tuned)] == [
        ("marking-strictly-confidential", "low", "drop")
    ]
    assert rc == 0  # low is below the default --fail-on medium


def test_acceptance_missing_zone_fails_the_check(tmp_path: Path, capsys) -> None:
    cfg = write_config(tmp_path, zones=[{"name": "contractor-in", "path": str(tmp_path / "gone")}])
    assert main(["config", "check", "--config", str(cfg)]) == 1
    assert "zone 'contractor-in'" in capsys.readouterr().out


def test_builtin_entry_on_the_command_line(agent_config: Path, capsys) -> None:
    local = str(agent_config.parent / "policies.d")
    assert main(["policy", "lint", "builtin", local]) == 0
    capsys.readouterr()
    assert main(["policy", "test", "builtin", local]) == 0
    assert " 0 failed" in capsys.readouterr().out


def test_policy_test_and_explain_with_config_print_no_log_lines(agent_config: Path, capsys) -> None:
    zone = agent_config.parent / "zone"
    (zone / "minutes.txt").write_text(MARKED)
    assert main(["policy", "test", "--config", str(agent_config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith("skipped")
    assert all(line.startswith(("PASS", "FAIL", "SKIP")) for line in out[:-1])
    assert main(["explain", "--config", str(agent_config), str(zone / "minutes.txt")]) == 0
    out = capsys.readouterr().out
    assert "FINDING low      marking-strictly-confidential" in out
    assert all(not line.startswith(("{", "20")) for line in out.splitlines())


def test_config_error_is_exit_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "bad.yaml").write_text("zones: []\n")
    (tmp_path / "f.txt").write_text("x")
    assert main(["scan", "--config", str(tmp_path / "bad.yaml"), str(tmp_path / "f.txt")]) == 2
    assert main(["policy", "lint", "--config", str(tmp_path / "bad.yaml")]) == 2
    assert "zones" in capsys.readouterr().err


def test_acceptance_baseline(tmp_path: Path, capsys) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "minutes.txt").write_text(MARKED)
    (tree / "keys.txt").write_text("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEYq\n")
    rc, first = scan_jsonl(capsys, str(tree))
    assert rc == 1
    assert len(findings(first)) >= 1
    baseline = tmp_path / "previous.jsonl"
    baseline.write_text("".join(json.dumps(r) + "\n" for r in first))

    rc, again = scan_jsonl(capsys, "--baseline", str(baseline), str(tree))
    assert rc == 0
    assert findings(again) == []
    assert again[-1]["baselined"] == len(findings(first))

    (tree / "new.txt").write_text("STRICTLY CONFIDENTIAL\nQuarterly figures, do not forward.\n")
    rc, third = scan_jsonl(capsys, "--baseline", str(baseline), str(tree))
    assert rc == 1
    assert [(f["path"], f["rule"]) for f in findings(third)] == [
        (str(tree / "new.txt"), "marking-strictly-confidential")
    ]


def test_baseline_same_value_elsewhere_is_new(tmp_path: Path, capsys) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.txt").write_text(MARKED)
    _, first = scan_jsonl(capsys, str(tree))
    baseline = tmp_path / "previous.jsonl"
    baseline.write_text("".join(json.dumps(r) + "\n" for r in first))
    (tree / "b.txt").write_text(MARKED)  # same rule, same fingerprint, another path
    rc, again = scan_jsonl(capsys, "--baseline", str(baseline), str(tree))
    assert rc == 1
    assert [f["path"] for f in findings(again)] == [str(tree / "b.txt")]


def test_baseline_that_is_not_jsonl(tmp_path: Path, capsys) -> None:
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "report.txt").write_text("HIGH something\n")
    assert main(["scan", "--baseline", str(tmp_path / "report.txt"), str(tmp_path / "f.txt")]) == 2
    assert "line 1: not JSON" in capsys.readouterr().err
