"""deploy/install.md followed step by step, as far as this machine allows: a non-editable install into a
fresh venv, the example config adapted to scratch paths, the unit's ExecStart run by hand, the self-test."""

from __future__ import annotations

import json
import random
import re
import shutil
import signal
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import fake_card, free_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

pytestmark = pytest.mark.integration


def _run(*cmd: str | Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run from / as systemd does: never from the checkout, whose ./agent would shadow the install."""
    return subprocess.run(
        [str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, check=False, cwd="/"
    )


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guide's `pip install <checkout>` (a wheel, not editable) into a fresh venv, offline: the wheel
    is built without build isolation and the venv sees this environment's dependencies via a .pth file."""
    import setuptools

    if int(setuptools.__version__.split(".")[0]) < 77:
        pytest.skip("building the wheel offline needs setuptools>=77 in this environment")
    base = tmp_path_factory.mktemp("install")
    src = base / "src"  # build from a copy: never write build/ into the checkout others work in
    src.mkdir()
    for name in ("agent", "policies", "deploy"):  # the wheel carries deploy/ assets as data
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    r = _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--no-build-isolation",
        src,
        "-w",
        base / "whl",
    )
    assert r.returncode == 0, r.stderr[-2000:]
    venv = base / "opt-dropwarden" / "venv"
    r = _run(getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", venv)
    assert r.returncode == 0, r.stderr
    wheel = next((base / "whl").glob("dropwarden-*.whl"))
    r = _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        venv / "bin" / "python",
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        wheel,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    purelib = _run(venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    # plain path lines: this env's dependencies, without its .pth files (an editable checkout hook)
    (Path(purelib.stdout.strip()) / "_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


def test_wheel_install_finds_shipped_packs_and_scans(venv: Path, tmp_path: Path) -> None:
    """The installed `dropwarden` runs from the venv (not the checkout), `policy test` finds the shipped
    packs under share/dropwarden/policies, and `scan` reports a card number."""
    dw = venv / "bin" / "dropwarden"
    r = _run(dw, "--version")
    assert r.returncode == 0 and "dropwarden" in r.stdout, r.stderr
    where = _run(
        venv / "bin" / "python",
        "-c",
        "import agent, agent.pipeline as p; print(agent.__file__); print(p.default_policy_dirs()[0])",
    )
    mod, packs = where.stdout.split()
    assert mod.startswith(str(venv)) and packs == str(venv / "share" / "dropwarden" / "policies"), where
    r = _run(dw, "policy", "test")
    assert r.returncode == 0 and re.search(r"\d+ passed, 0 failed", r.stdout), r.stdout[-2000:] + r.stderr
    (tmp_path / "drop").mkdir()
    (tmp_path / "drop" / "invoice.txt").write_text(
        f"Please charge card {fake_card(random.Random(5))} today\n"
    )
    r = _run(dw, "scan", "--format", "jsonl", "--no-progress", "--jobs", "1", tmp_path / "drop")
    rules = {json.loads(x).get("rule") for x in r.stdout.splitlines() if x.startswith('{"kind": "finding"')}
    assert "payment-card-number" in rules, r.stdout[-2000:] + r.stderr[-2000:]


def test_guide_config_and_execstart_run_by_hand(venv: Path, tmp_path: Path) -> None:
    """agent.example.yaml with the guide's paths moved under a scratch dir validates as the guide says, the
    unit's ExecStart line starts the agent, the section 11 self-test raises an alert, SIGTERM stops it."""
    etc, shares = tmp_path / "etc", tmp_path / "srv"
    (etc / "keys").mkdir(parents=True)
    dw = venv / "bin" / "dropwarden"
    r = _run(dw, "keys", "generate", "--kind", "quarantine", "--out", tmp_path / "wkeys")  # section 4
    assert r.returncode == 0, r.stderr
    shutil.copy(tmp_path / "wkeys" / "quarantine.pub", etc / "keys" / "quarantine.pub")
    cfg = (DEPLOY / "agent.example.yaml").read_text()
    for old, new in (
        ("/srv/shares", str(shares)),
        ("/etc/dropwarden", str(etc)),
        ("/var/lib/dropwarden", str(tmp_path / "state")),
        ("/var/log/dropwarden", str(tmp_path / "log")),
        ("127.0.0.1:9808", f"127.0.0.1:{free_port()}"),
        ("127.0.0.1:9093", f"127.0.0.1:{free_port()}"),
    ):
        cfg = cfg.replace(old, new)
    (etc / "agent.yaml").write_text(cfg)
    validate = re.search(
        r"^sudo -u dropwarden (/opt/dropwarden/venv/bin/dropwarden config check .*)$",
        (DEPLOY / "install.md").read_text(),
        re.M,
    )
    assert validate is not None
    check = validate[1].replace("/opt/dropwarden/venv", str(venv)).replace("/etc/dropwarden", str(etc))
    r = subprocess.run(check.split(), capture_output=True, text=True, cwd="/")
    assert r.returncode == 1  # the shares do not exist yet: named, one line each
    assert "zones.0.path: zone 'contractor-drop'" in r.stdout
    for zone in yaml.safe_load((etc / "agent.yaml").read_text())["zones"]:
        Path(zone["path"]).mkdir(parents=True, exist_ok=True)
    r = subprocess.run(check.split(), capture_output=True, text=True, cwd="/")
    assert r.returncode == 0, r.stdout + r.stderr
    unit = (DEPLOY / "dropwarden.service").read_text()
    m = re.search(r"^ExecStart=(.*)$", unit, re.M)
    assert m is not None
    argv = m.group(1).replace("/opt/dropwarden/venv", str(venv)).replace("/etc/dropwarden", str(etc)).split()
    log = (tmp_path / "agent.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd="/")
    try:
        end = time.monotonic() + 60
        while "agent_ready" not in (tmp_path / "agent.log").read_text():
            assert proc.poll() is None and time.monotonic() < end, (tmp_path / "agent.log").read_text()[
                -3000:
            ]
            time.sleep(0.2)
        selftest = re.search(
            r"^printf '(.*)\\n' > /srv/shares/contractor-drop/(\S+)$",
            (DEPLOY / "install.md").read_text(),
            re.M,
        )
        assert selftest is not None
        card = fake_card(random.Random(11))
        text = re.sub(
            r"\d{4} \d{4} \d{4} \d{4}", " ".join(card[i : i + 4] for i in range(0, 16, 4)), selftest[1]
        )
        (shares / "contractor-drop" / selftest[2]).write_text(text + "\n")
        alerts = tmp_path / "log" / "alerts.jsonl"
        while not (alerts.exists() and alerts.read_text().strip()):
            assert proc.poll() is None and time.monotonic() < end + 30, (tmp_path / "agent.log").read_text()[
                -3000:
            ]
            time.sleep(0.2)
        alert = json.loads(alerts.read_text().splitlines()[-1])
        assert alert["rule"] == "payment-card-number" and card not in alerts.read_text()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
