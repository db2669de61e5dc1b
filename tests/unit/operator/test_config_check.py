"""`dropwarden config check`: one line per problem naming file and field; exit 0 / 1 / 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from agent.cli import main
from tests.helpers import as_nobody
from tests.unit.operator.conftest import write_config


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    rc = main(["config", "check", "--config", str(path)])
    return rc, capsys.readouterr().out.splitlines()


def test_good_config_with_builtin_and_override_only_pack(agent_config: Path, capsys) -> None:
    assert check(agent_config, capsys) == (0, [])


def test_missing_zone_is_named(tmp_path: Path, capsys) -> None:
    cfg = write_config(tmp_path, zones=[{"name": "sftp-in", "path": str(tmp_path / "nope")}])
    rc, lines = check(cfg, capsys)
    assert rc == 1
    assert lines == [f"{cfg}: zones.0.path: zone 'sftp-in': {tmp_path / 'nope'} does not exist"]


def test_missing_zone_may_be_a_warning_for_the_unit(tmp_path: Path, capsys) -> None:
    cfg = write_config(tmp_path, zones=[{"name": "sftp-in", "path": str(tmp_path / "nope")}])
    assert main(["config", "check", "--zones-may-be-missing", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out.splitlines()
    missing = tmp_path / "nope"
    assert out == [
        f"{cfg}: zones.0.path: warning: zone 'sftp-in': {missing} does not exist (the agent retries it)"
    ]


def test_zone_that_is_a_file(tmp_path: Path, capsys) -> None:
    (tmp_path / "f").write_text("x")
    cfg = write_config(tmp_path, zones=[{"name": "z", "path": str(tmp_path / "f")}])
    rc, lines = check(cfg, capsys)
    assert rc == 1
    assert "zones.0.path" in lines[0]
    assert "is not a directory" in lines[0]


def _as_nobody() -> list[str]:
    """Run the check as an unprivileged user (root reads every directory, so the test drops it)."""
    return as_nobody("cannot test unreadable folders")


@pytest.fixture
def world_path() -> Iterator[Path]:
    """A scratch dir another user can reach (pytest's own tmp tree is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="dropwarden-check-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_unreadable_zone_and_read_only_quarantine_zone(world_path: Path) -> None:
    from agent.security.keys import write_keypair

    tmp_path = world_path
    keys = write_keypair(tmp_path / "keys", "quarantine")
    (tmp_path / "keys").chmod(0o755)
    keys.public.chmod(0o644)
    (tmp_path / "locked").mkdir(mode=0o700)
    (tmp_path / "ro").mkdir(mode=0o555)
    (tmp_path / "state").mkdir()
    (tmp_path / "state").chmod(0o777)
    cfg = write_config(
        tmp_path,
        zones=[
            {"name": "locked", "path": str(tmp_path / "locked")},
            {"name": "ro", "path": str(tmp_path / "ro"), "quarantine": True},
        ],
        quarantine_public_key=str(keys.public),
    )
    for p in (cfg, *(tmp_path / "policies.d").iterdir()):
        p.chmod(0o644)
    (tmp_path / "policies.d").chmod(0o755)
    (tmp_path / "zone").chmod(0o755)
    argv = [*_as_nobody(), sys.executable, "-m", "agent", "config", "check", "--config", str(cfg)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert f"{cfg}: zones.0.path: zone 'locked': {tmp_path / 'locked'} is not readable by this user" in lines
    assert f"{cfg}: zones.1.quarantine: zone 'ro': {tmp_path / 'ro'} is not writable (quarantine)" in lines
    assert len(lines) == 2


def test_overlapping_zones(tmp_path: Path, capsys) -> None:
    (tmp_path / "zone" / "sub").mkdir(parents=True)
    cfg = write_config(
        tmp_path,
        zones=[
            {"name": "a", "path": str(tmp_path / "zone")},
            {"name": "b", "path": str(tmp_path / "zone/sub")},
        ],
    )
    rc, lines = check(cfg, capsys)
    assert rc == 1
    assert lines == [f"{cfg}: <root>: zone 'b' overlaps zone 'a'"]


def test_missing_config_file(tmp_path: Path, capsys) -> None:
    rc, lines = check(tmp_path / "agent.yaml", capsys)
    assert rc == 1
    assert lines == [f"{tmp_path / 'agent.yaml'}: <file>: No such file or directory"]


def test_usage_error_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["config", "check", "--no-such-option"])
    assert exc.value.code == 2


def test_broken_and_unknown_override_packs_are_named(agent_config: Path, capsys) -> None:
    local = agent_config.parent / "policies.d"
    (local / "60-broken.yaml").write_text("pack: [unclosed\n")
    (local / "70-typo.yaml").write_text("pack: typo\nversion: 1\noverride:\n  - id: marking-strictly\n")
    rc, lines = check(agent_config, capsys)
    assert rc == 1
    assert any(line.startswith(f"{local / '60-broken.yaml'}: <pack>: invalid YAML") for line in lines)
    assert any(
        line.startswith(f"{local / '70-typo.yaml'}: marking-strictly.override: no earlier pack")
        for line in lines
    )


def test_unsigned_pack_when_signatures_are_required(tmp_path: Path, capsys) -> None:
    from agent.security.keys import write_keypair

    keys = write_keypair(tmp_path / "keys", "signing")
    cfg = write_config(tmp_path, require_signed=True, signing_public_keys=[str(keys.public)])
    rc, lines = check(cfg, capsys)
    assert rc == 1
    shipped = lines[0].split(": ")[0]
    assert len(lines) == 1
    assert (
        # a policy directory is trusted through its signed manifest (agent.security.manifest)
        lines[0] == f"{shipped}: policies: signature rejected (unsigned): policy-manifest.json not found"
    )


def test_keys_certificates_and_targets(tmp_path: Path, capsys) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    cfg = write_config(
        tmp_path,
        signing_public_keys=[str(garbage)],
        metrics={
            "address": "0.0.0.0:9808",
            "basic_auth": {"username": "prom", "password_file": str(tmp_path / "missing")},
        },
        sinks={
            "webhooks": [{"url": "https://siem.example:99999/x", "ca_file": str(garbage)}],
            "syslog": {"address": "no-port", "transport": "tcp"},
        },
    )
    rc, lines = check(cfg, capsys)
    fields = [line.split(": ")[1] for line in lines]
    assert rc == 1
    assert fields == [
        "signing_public_keys.0",
        "metrics.basic_auth.password_file",
        "metrics.basic_auth",
        "sinks.webhooks.0.url",
        "sinks.webhooks.0.ca_file",
        "sinks.syslog.address",
    ]


def test_metrics_tls_pair_that_does_not_parse(tmp_path: Path, capsys) -> None:
    (tmp_path / "c.pem").write_text("nope")
    cfg = write_config(
        tmp_path, metrics={"tls_cert": str(tmp_path / "c.pem"), "tls_key": str(tmp_path / "c.pem")}
    )
    rc, lines = check(cfg, capsys)
    assert rc == 1
    assert lines[0].startswith(f"{cfg}: metrics.tls_cert: ")


def test_indexes_load_and_verify(tmp_path: Path, capsys) -> None:
    from agent.classify.indexes.protect import build_edm_index
    from agent.redact import load_or_create_key

    key = load_or_create_key(tmp_path / "agent.key")
    table = tmp_path / "customers.csv"
    table.write_text("name,email\nLena Brunner,lena.brunner@example.com\n")
    build_edm_index(str(table), None, key).save(tmp_path / "good.edm")
    build_edm_index(str(table), None, b"another key of 32 bytes........").save(tmp_path / "other.edm")
    (tmp_path / "corrupt.edm").write_bytes(b"\x00garbage")
    capsys.readouterr()
    cfg = write_config(
        tmp_path,
        key_file=str(tmp_path / "agent.key"),
        indexes={"edm": [str(tmp_path / n) for n in ("good.edm", "other.edm", "corrupt.edm")]},
    )
    rc, lines = check(cfg, capsys)
    assert rc == 1
    assert [line.split(": ")[1] for line in lines] == ["indexes.edm", "indexes.edm"]
    assert str(tmp_path / "other.edm") in lines[0]
    assert str(tmp_path / "corrupt.edm") in lines[1]


def test_does_not_import_presidio(agent_config: Path) -> None:
    code = (
        "import sys\nfrom agent.cli import main\n"
        f"rc = main(['config', 'check', '--config', {str(agent_config)!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('presidio', 'spacy')))\n"
        "print(rc, heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "0 []"


def test_yaml_of_this_suite_is_a_valid_agent_config(agent_config: Path) -> None:
    from agent.daemon.settings import load_settings

    assert load_settings(agent_config).policies[0] == "builtin"
    assert yaml.safe_load(agent_config.read_text())["policies"][0] == "builtin"


def test_broken_acknowledgement_file(tmp_path: Path, capsys) -> None:
    acks = tmp_path / "acknowledged.yaml"
    acks.write_text("acknowledged:\n  - rule: iban-customer\n")
    cfg = write_config(tmp_path, acknowledged=str(acks))
    rc, lines = check(cfg, capsys)
    assert rc == 1
    assert lines == [f"{acks}: acknowledged.0.fingerprint: Field required"]


def test_ocr_engine_is_checked_when_ocr_is_on(tmp_path: Path, capsys) -> None:
    """A language Tesseract has no data for (or no Tesseract at all) is a problem while OCR is on,
    and no problem with limits.max_ocr_pages: 0 (images then report unscanned by design)."""
    cfg = write_config(tmp_path, limits={"ocr_languages": "qqq"})
    rc, lines = check(cfg, capsys)
    assert rc == 1
    assert [line for line in lines if ": limits.ocr_languages: " in line], lines
    (tmp_path / "off").mkdir()
    off = write_config(tmp_path / "off", limits={"ocr_languages": "qqq", "max_ocr_pages": 0})
    rc, lines = check(off, capsys)
    assert rc == 0, lines


def test_tessdata_listing_equals_what_tesseract_lists() -> None:
    """The OCR check reads Tesseract's tessdata directory instead of running it: same languages."""
    from agent.commands.config import tesseract_languages
    from agent.extract.ocr import languages_installed

    exe = shutil.which("tesseract")
    if exe is None:
        pytest.skip("needs Tesseract")
    assert tesseract_languages(exe) == languages_installed()
    assert "eng" in tesseract_languages(exe)


def test_tessdata_listing_reads_the_one_debian_directory(tmp_path: Path) -> None:
    from agent.commands.config import tesseract_languages

    data = tmp_path / "5" / "tessdata"
    data.mkdir(parents=True)
    (data / "xyz.traineddata").write_bytes(b"")
    (data / "pdf.ttf").write_bytes(b"")
    (data / "configs").mkdir()
    assert tesseract_languages("/usr/bin/tesseract", env={}, root=tmp_path) == {"xyz"}


def test_tessdata_listing_asks_tesseract_when_the_directory_is_not_certain(tmp_path: Path) -> None:
    """Another binary, $TESSDATA_PREFIX, or several version directories: Tesseract itself answers."""
    from agent.commands.config import tesseract_languages
    from agent.extract.ocr import languages_installed

    (tmp_path / "5" / "tessdata").mkdir(parents=True)
    (tmp_path / "5" / "tessdata" / "xyz.traineddata").write_bytes(b"")
    asked = languages_installed()
    assert "xyz" not in asked
    assert tesseract_languages("/usr/bin/tesseract", env={"TESSDATA_PREFIX": "/x"}, root=tmp_path) == asked
    assert tesseract_languages("/opt/tess/bin/tesseract", env={}, root=tmp_path) == asked
    (tmp_path / "4.00" / "tessdata").mkdir(parents=True)
    assert tesseract_languages("/usr/bin/tesseract", env={}, root=tmp_path) == asked


def test_pack_whose_rules_are_not_a_list_is_a_problem_line(tmp_path: Path, capsys) -> None:
    """Without require_signed the loader alone reads the packs (the check used to read them a second
    time for the signature path, and crashed on ``rules: 5``)."""
    cfg = write_config(tmp_path)
    (tmp_path / "policies.d" / "60-bad.yaml").write_text("pack: bad\nrules: 5\n")
    rc, lines = check(cfg, capsys)
    assert rc == 1
    assert lines == [f"{tmp_path / 'policies.d' / '60-bad.yaml'}: rules: must be a list"]


def test_packs_checked_before_are_remembered_in_the_private_state_dir(tmp_path: Path, capsys) -> None:
    """With the agent's state dir present (0700, ours) the check remembers the packs it checked; the
    answer is the same, and an edited pack is checked again."""
    cfg = write_config(tmp_path)
    (tmp_path / "state").mkdir(mode=0o700)
    assert check(cfg, capsys) == (0, [])
    entry = tmp_path / "state" / "checked-packs-config.json"
    assert entry.stat().st_mode & 0o777 == 0o600
    assert check(cfg, capsys) == (0, [])
    local = tmp_path / "policies.d" / "50-local.yaml"
    local.write_text(local.read_text().replace("severity: low", "severity: extreme"))
    rc, lines = check(cfg, capsys)
    assert rc == 1
    levels = "'low', 'medium', 'high' or 'critical'"
    assert lines == [f"{local}: marking-strictly-confidential.severity: must be one of {levels}"]
    assert check(cfg, capsys) == (rc, lines)  # from the cache: the same line
