"""`make deb` builds a Debian package that apt installs, that works, and that purge removes cleanly.

Everything is real: deploy/build-deb.sh runs dpkg-buildpackage with dh-virtualenv, apt-get installs
the .deb on this machine (as root), the installed `dropwarden` scans a carded file, systemd-analyze
verifies the installed unit, and `apt-get purge` must leave no config, state or venv behind. Needs
root, apt-get and the build tools (`make test` installs them via deploy/test-deps.d/packaging.list);
skips otherwise. Set DROPWARDEN_DEB to a prebuilt .deb to skip the build.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.unit.classify.fakes import luhn_complete

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
INSTALLED = [
    Path("/opt/dropwarden/venv/bin/dropwarden"),
    Path("/usr/bin/dropwarden"),
    Path("/etc/dropwarden/agent.yaml"),
    Path("/usr/share/dropwarden/policies"),
    Path("/usr/share/dropwarden/prometheus/alerts.yml"),
    Path("/usr/share/dropwarden/grafana/dashboard.json"),
    Path("/usr/share/doc/dropwarden/sbom.cdx.json"),
    Path("/usr/lib/sysusers.d/dropwarden.conf"),
    Path("/usr/lib/tmpfiles.d/dropwarden.conf"),
]
UNIT_DIRS = (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system"))


def _run(argv: list[str], timeout: float = 600, **kw: object) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, check=False, **kw)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("installing a .deb needs root and apt-get")
    prebuilt = os.environ.get("DROPWARDEN_DEB")
    if prebuilt:
        return Path(prebuilt)
    for tool in ("dpkg-buildpackage", "dh", "dh_virtualenv"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (bash deploy/servers.sh installs the build tools)")
    if _run(["dpkg", "-s", "dropwarden"]).returncode == 0:
        pytest.skip("a dropwarden package is already installed on this machine: not touching it")
    out = tmp_path_factory.mktemp("deb")
    proc = _run(["bash", str(REPO / "deploy" / "build-deb.sh"), str(out)], timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    debs = sorted(out.glob("dropwarden_*_amd64.deb"))
    assert len(debs) == 1, proc.stdout
    return debs[0]


@pytest.fixture(scope="module")
def installed(deb: Path) -> Iterator[Path]:
    proc = _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", str(deb)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    try:
        yield deb
    finally:
        _run(["apt-get", "purge", "-y", "-q", "dropwarden"])


def test_package_metadata_names_the_runtime_and_recommends_tesseract(deb: Path) -> None:
    """The control file depends on Debian's Python 3.11 and systemd and recommends Tesseract's languages."""
    fields = _run(["dpkg-deb", "--field", str(deb), "Depends", "Recommends", "Architecture"]).stdout
    assert "python3.11" in fields and "systemd" in fields
    assert "libarchive13" in fields and "catdoc" in fields  # 7z/RAR/ISO and Word 97-2003 readers
    for reader in ("pff-tools", "libwpd-tools", "libvisio-tools", "libmspub-tools", "libchm-bin"):
        assert reader in fields  # PST/OST, WordPerfect, Visio, Publisher, CHM (unsupported_format without)
    for lang in ("eng", "deu", "fra", "ita"):
        assert f"tesseract-ocr-{lang}" in fields
    assert "Architecture: amd64" in fields


def test_installed_package_lays_out_every_asset(installed: Path) -> None:
    """The venv, command, conffile, policies, rules, dashboard, SBOM and system user are all there."""
    for path in INSTALLED:
        assert path.exists(), path
    assert any((d / "dropwarden.service").is_file() for d in UNIT_DIRS)
    conffiles = _run(["dpkg-query", "--showformat=${Conffiles}", "--show", "dropwarden"]).stdout
    assert "/etc/dropwarden/agent.yaml" in conffiles
    sbom = json.loads(Path("/usr/share/doc/dropwarden/sbom.cdx.json").read_text(encoding="utf-8"))
    names = {c["name"].lower().replace("_", "-") for c in sbom["components"]}
    assert {"presidio-analyzer", "spacy", "google-re2"} <= names
    assert _run(["getent", "passwd", "dropwarden"]).returncode == 0
    state = Path("/var/lib/dropwarden")
    assert state.is_dir() and (state.stat().st_mode & 0o777) == 0o700


def test_installed_unit_is_not_started_and_verifies(installed: Path) -> None:
    """postinst starts nothing; `systemd-analyze verify` accepts the installed unit as it is."""
    unit = next(d / "dropwarden.service" for d in UNIT_DIRS if (d / "dropwarden.service").is_file())
    running = _run(["pgrep", "-f", "/opt/dropwarden/venv/bin/dropwarden run"])
    assert running.returncode != 0, running.stdout
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed")
    proc = _run([analyze, "verify", str(unit)], timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_installed_command_reports_its_revision_and_scans(installed: Path, tmp_path: Path) -> None:
    """`dropwarden --version` names a git revision; `dropwarden scan` finds a card in a file."""
    version = _run(["/usr/bin/dropwarden", "--version"], timeout=60)
    assert version.returncode == 0, version.stderr
    assert "revision" in version.stdout and "unknown" not in version.stdout
    sample = tmp_path / "statement.txt"
    sample.write_text(f"Customer card on file: {luhn_complete('453201511283036')}\n", encoding="utf-8")
    proc = _run(
        ["/usr/bin/dropwarden", "scan", str(sample), "--format", "jsonl", "--key-file", str(tmp_path / "k")],
        timeout=300,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert any(r.get("kind") == "finding" and r.get("entity") == "CREDIT_CARD" for r in records), records


def test_purge_leaves_nothing_behind(deb: Path) -> None:
    """After `apt-get purge`: no venv, no conffile, no state or log directory, no unit."""
    proc = _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", str(deb)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    Path("/etc/dropwarden/policies.d/50-local.yaml").write_text("# local\n", encoding="utf-8")
    proc = _run(["apt-get", "purge", "-y", "-q", "dropwarden"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    leftovers = [
        p
        for p in (
            Path("/opt/dropwarden"),
            Path("/etc/dropwarden"),
            Path("/var/lib/dropwarden"),
            Path("/var/log/dropwarden"),
            Path("/usr/bin/dropwarden"),
            Path("/usr/share/dropwarden"),
            *(d / "dropwarden.service" for d in UNIT_DIRS),
        )
        if p.exists() or p.is_symlink()
    ]
    assert leftovers == []
