"""The README's tour is real: its commands run as written (from a scratch directory) and its example
finding has exactly the keys, rule, policy and entity of a real finding of that run; the packs and
error reasons it names exist."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from agent.models import ERROR_REASONS

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _block(after: str, lang: str) -> str:
    start = README.index(after)
    m = re.compile(rf"^```{lang}\n(.*?)^```", re.S | re.M).search(README, start)
    assert m is not None, f"no {lang} block after {after!r}"
    return m.group(1)


def _run_tour(tmp_path: Path) -> list[tuple[str, int]]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}
    results = []
    for line in _block("## A three-minute tour", "sh").splitlines():
        cmd = line.split("  #", 1)[0].strip()
        if not cmd:
            continue
        cmd = cmd.replace(".venv/bin/python", shlex.quote(sys.executable))
        cmd = cmd.replace(".venv/bin/dropwarden", f"{shlex.quote(sys.executable)} -m agent")
        done = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True, text=True)
        results.append((cmd, done.returncode))
    return results


def test_tour_commands_and_documented_finding(tmp_path: Path) -> None:
    results = _run_tour(tmp_path)
    assert [rc for _, rc in results] == [0, 1, 1]  # demo files written; findings at medium and at high
    records = [json.loads(x) for x in (tmp_path / "findings.jsonl").read_text().splitlines()]
    findings = [r for r in records if r["kind"] == "finding"]
    documented = json.loads(_block("**2. Read a finding.**", "json"))
    assert set(documented) == set(findings[0])
    tail = documented["path"].split("/var/", 1)[1]  # the README shows its author's checkout
    assert documented["path"].startswith("/")
    same = [
        f for f in findings if f["rule"] == documented["rule"] and f["path"] == str(tmp_path / "var" / tail)
    ]
    assert same, f"no {documented['rule']} finding in {documented['path']}"
    for key in ("policy", "entity", "severity", "line", "member", "tags"):
        assert same[0][key] == documented[key], key
    assert records[-1]["kind"] == "summary"


def test_named_packs_and_error_reasons_exist() -> None:
    packs = {p.stem for p in (REPO / "policies").glob("*.yaml")}
    listing = README.split("## Policies", 1)[1].split("(policies/):", 1)[1].split(". ", 1)[0]
    named = set(re.findall(r"`([a-z-]+)`", listing))
    assert named
    assert named <= packs
    for reason in re.findall(r'"reason": "([a-z_]+)"', README):
        assert reason in ERROR_REASONS
