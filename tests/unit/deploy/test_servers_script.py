"""deploy/servers.sh: idempotent when the servers are there, and harmless (exit 0, advice) for non-root."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "servers.sh"


def test_script_is_valid_bash() -> None:
    """`bash -n` parses the script (CI and the Makefile run it unattended)."""
    proc = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr


def test_script_is_a_no_op_when_everything_is_installed() -> None:
    """With every tool it installs already present it installs nothing and exits 0."""
    check = subprocess.run(["bash", str(SCRIPT), "--check"], capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        pytest.skip(f"not every test tool is installed here: {check.stdout.strip()}")
    proc = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "already present" in proc.stdout


def test_non_root_without_servers_prints_advice_and_exits_zero() -> None:
    """Run as `nobody` with none of the tools on PATH: exit 0 naming the Debian packages, apt never run."""
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0 or setpriv is None:
        pytest.skip("needs root and setpriv to switch to an unprivileged user")
    work = Path(tempfile.mkdtemp(prefix="dw-servers-"))
    try:
        os.chmod(work, 0o755)  # noqa: S103 - `nobody` must traverse it to run the script
        bindir = work / "bin"
        bindir.mkdir()
        for tool in ("id", "sort", "dirname"):  # all the script needs besides bash builtins
            (bindir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
        script = work / "servers.sh"
        shutil.copy(SCRIPT, script)
        shutil.copytree(SCRIPT.parent / "test-deps.d", work / "test-deps.d")
        os.chmod(script, 0o755)  # noqa: S103 - `nobody` must read and run it
        proc = subprocess.run(
            [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "/bin/bash", str(script)],
            capture_output=True,
            text=True,
            timeout=30,
            env={"PATH": str(bindir), "HOME": str(work)},
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    assert "not root" in proc.stdout
    for package in ("prometheus", "prometheus-alertmanager", "systemd"):
        assert package in proc.stdout.split(), package
