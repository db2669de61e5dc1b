"""The layer contracts in pyproject.toml hold, and cover every module directly under agent/.

`make lint` runs `lint-imports` too; as a test a broken contract also fails `pytest` alone.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import agent

#: Modules that may import the command line: the entry points themselves.
_ENTRY = {"__main__", "cli", "commands"}


def _contracts(repo_root: Path) -> list[dict[str, Any]]:
    config = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["importlinter"]["contracts"])


def test_layer_contracts_are_kept(repo_root: Path) -> None:
    """lint-imports exits 0: no stage imports the daemon, another stage, or the command line."""
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    proc = subprocess.run(
        [str(exe), "--no-cache", "--config", str(repo_root / "pyproject.toml")],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_every_module_is_forbidden_to_import_the_command_line(repo_root: Path) -> None:
    """A module added under agent/ must be named in the "nothing imports the command line" contract."""
    (contract,) = [
        c for c in _contracts(repo_root) if c.get("forbidden_modules") == ["agent.cli", "agent.commands"]
    ]
    listed = set(contract["source_modules"])
    present = {f"agent.{m.name}" for m in pkgutil.iter_modules(agent.__path__)} - {
        f"agent.{m}" for m in _ENTRY
    }
    assert present - listed == set(), "add these to the contract in pyproject.toml"
    assert listed - present == set(), "these modules no longer exist"
