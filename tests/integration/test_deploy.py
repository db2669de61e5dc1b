"""The systemd unit passes systemd's own checks (`systemd-analyze verify`, exposure <= 2.0), and the
agent really runs under its MemoryDenyWriteExecute=yes.

`verify` checks that ExecStart= names an existing executable, and /opt/dropwarden/venv is not
installed on a development machine or CI. The test therefore verifies a copy of the unit whose
ExecStart= runs this interpreter (`python -m agent run --config ...`, the same program the venv's
`dropwarden` script starts); every other line is verified exactly as shipped. The security score is
computed on the shipped file itself.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "dropwarden.service"
MAX_EXPOSURE = 2.0
_SCORE = re.compile(r"Overall exposure level for dropwarden\.service:\s*(\d+(?:\.\d+)?)\s+(\w+)")


@pytest.fixture(scope="module")
def analyze() -> str:
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze not installed (bash deploy/servers.sh installs it)")
    return path


def _with_runnable_execstart(tmp_path: Path, text: str) -> Path:
    """Copy of the unit whose ExecStart= points at an executable that exists on this machine."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("ExecStart=")]
    assert len(starts) == 1
    assert (
        lines[starts[0]]
        == "ExecStart=/opt/dropwarden/venv/bin/dropwarden run --config /etc/dropwarden/agent.yaml"
    )
    lines = [
        line.replace("/opt/dropwarden/venv/bin/dropwarden", f"{sys.executable} -m agent") for line in lines
    ]
    copy = tmp_path / "dropwarden.service"
    copy.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return copy


def _verify(analyze: str, unit: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)


def test_security_exposure_is_at_most_2(analyze: str) -> None:
    """`systemd-analyze security --offline=true` rates the shipped unit 2.0 or better ("OK" or "SAFE")."""
    proc = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    m = _SCORE.search(proc.stdout)
    assert m, proc.stdout[-2000:]
    score, verdict = float(m[1]), m[2]
    assert score <= MAX_EXPOSURE, proc.stdout
    assert verdict in {"OK", "SAFE"}


def test_verify_is_clean(analyze: str, tmp_path: Path) -> None:
    """`systemd-analyze verify` prints nothing for the unit (with ExecStart= made runnable here)."""
    copy = _with_runnable_execstart(tmp_path, UNIT.read_text(encoding="utf-8"))
    proc = _verify(analyze, copy)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (proc.stdout + proc.stderr).strip() == ""


def test_verify_reports_a_misspelt_directive(analyze: str, tmp_path: Path) -> None:
    """A typo in a hardening directive is reported, so the clean verify above means something."""
    text = UNIT.read_text(encoding="utf-8").replace("\nProtectSystem=strict", "\nProtectSytem=strict")
    copy = _with_runnable_execstart(tmp_path, text)
    proc = _verify(analyze, copy)
    assert "ProtectSytem" in proc.stdout + proc.stderr


# Sets PR_SET_MDWE(PR_MDWE_REFUSE_EXEC_GAIN) -- the kernel's own W^X switch, inherited across exec and
# by the scan workers -- then execs the real CLI. systemd applies MemoryDenyWriteExecute= with a
# seccomp filter (or this prctl on newer versions); both refuse writable+executable mappings.
_MDWE_EXEC = """
import ctypes, mmap, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit(77)
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""


def test_agent_scans_under_memory_deny_write_execute(tmp_path: Path) -> None:
    """With W^X enforced by the kernel, `dropwarden scan` still reads a .docx and a .zip and finds a card."""
    docx = pytest.importorskip("docx")

    card = "4526 0181 5908 3012"  # generated, Luhn-valid, not a published test number
    document = docx.Document()
    document.add_paragraph(f"Please charge the card {card} for the renewal.")
    document.save(tmp_path / "renewal.docx")
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as zf:
        zf.writestr("notes/payment.txt", f"Card on file: {card}\n")
    probe = subprocess.run(
        [sys.executable, "-c", _MDWE_EXEC, "-c", "import mmap; mmap.mmap(-1, 4096, prot=7)"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if probe.returncode == 77:
        pytest.skip("kernel without PR_SET_MDWE (Linux < 6.3)")
    assert probe.returncode != 0 and "Permission denied" in probe.stderr, "W^X was not enforced"

    proc = subprocess.run(
        [sys.executable, "-c", _MDWE_EXEC, "-m", "agent", "scan", str(tmp_path), "--format", "text"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=UNIT.parents[1],
        env={**os.environ, "PYTHONPATH": str(UNIT.parents[1])},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 1 = findings, not a crash
    assert "renewal.docx" in proc.stdout and "bundle.zip" in proc.stdout, proc.stdout
    assert "errors: 0" in proc.stdout, proc.stdout
