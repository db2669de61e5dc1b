"""Unscanned is not clean: a file that could not be read completely raises its own finding, through the
policy engine (shipped rule, tunable per zone role), and what was read before the limit still counts.

Real files, the real pipeline with the shipped packs; nothing of it is mocked."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agent.demo import group4, luhn_complete
from agent.models import UNSCANNED_ENTITY, ExtractError, FileRef, Limits
from agent.pipeline import build_pipeline, default_policy_dirs

REPO = Path(__file__).resolve().parents[3]
CARD = group4(luhn_complete("45", 16, random.Random(77)))


@pytest.fixture(scope="module")
def pipeline():
    return build_pipeline(None, b"k" * 32, Limits(max_text_chars=2_000))


def _unscanned(verdict) -> dict[str, str]:
    found = [f for f in verdict.findings if f.entity == UNSCANNED_ENTITY]
    return {f.excerpt.rsplit(": ", 1)[1]: f.severity for f in found}


def _encrypted_zip(path: Path) -> None:
    """A zip whose only member has the 'encrypted' flag set (what any ZipCrypto writer produces)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("secret.txt", f"card {CARD}\n")
    data = bytearray(buf.getvalue())
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        data[at + flag_at] |= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("role", ["contractor-drop", "outbound"])
def test_encrypted_member_raises_an_unscanned_finding_naming_the_reason(pipeline, tmp_path, role) -> None:
    """An encrypted archive member in a drop or outbound zone is a medium finding naming 'encrypted'."""
    path = tmp_path / "payload.zip"
    _encrypted_zip(path)
    v = pipeline.scan(FileRef(str(path), zone="z", role=role, root=str(tmp_path)))
    assert "encrypted" in {e.reason for e in v.errors}
    assert _unscanned(v) == {"encrypted": "medium"}
    f = next(f for f in v.findings if f.entity == UNSCANNED_ENTITY)
    assert (f.policy, f.rule, f.path, f.zone) == ("unscanned", "unscanned-content", str(path), "z")


def test_internal_zone_does_not_alert_on_unscanned(pipeline, tmp_path) -> None:
    """The shipped rule covers contractor-drop and outbound; an internal share's error stays an error."""
    path = tmp_path / "payload.zip"
    _encrypted_zip(path)
    v = pipeline.scan(FileRef(str(path), role="internal", root=str(tmp_path)))
    assert v.errors and not _unscanned(v)


def test_text_before_the_limit_is_still_evaluated(pipeline, tmp_path) -> None:
    """A card in the first KB of a file cut at the text limit alerts, and so does the cut itself."""
    path = tmp_path / "big.txt"
    path.write_text(f"Card number: {CARD}\n" + "filler words only\n" * 2_000)
    v = pipeline.scan(FileRef(str(path), role="contractor-drop", root=str(tmp_path)))
    assert any(f.entity == "CREDIT_CARD" for f in v.findings)
    assert _unscanned(v) == {"limit_bytes": "medium"}


def test_one_finding_per_reason_and_vanished_is_not_content(pipeline) -> None:
    """Many members failing for one reason make one finding; a vanished file missed nothing."""
    ref = FileRef("/zone/x.zip", role="outbound")
    errors = [ExtractError(ref.path, f"m{i}.docx", "malformed", "bad") for i in range(50)]
    errors += [ExtractError(ref.path, None, "timeout", "late"), ExtractError(ref.path, None, "vanished", "")]
    findings = pipeline.unscanned(ref, errors)
    assert sorted(f.excerpt for f in findings) == [
        f"not read completely: {r}" for r in ("malformed", "timeout")
    ]
    assert pipeline.unscanned(ref, [ExtractError(ref.path, None, "vanished", "gone")]) == ()


def test_packs_tune_severity_per_zone_and_can_disable_the_rule(tmp_path) -> None:
    """The unscanned rule is a rule like any other: an override pack raises it to high for outbound."""
    local = tmp_path / "zz-local.yaml"
    local.write_text(
        "pack: local\noverride:\n  - {id: unscanned-content, severity_by_zone: {outbound: high}}\n"
    )
    p = build_pipeline([*default_policy_dirs(), local], b"k" * 32)
    ref = FileRef("/zone/a.pdf", role="outbound")
    err = [ExtractError(ref.path, None, "timeout", "late")]
    assert [f.severity for f in p.unscanned(ref, err)] == ["high"]
    local.write_text("pack: local\ndisable: [unscanned-content]\n")
    p = build_pipeline([*default_policy_dirs(), local], b"k" * 32)
    assert p.unscanned(ref, err) == ()


def _scan(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(home)}
    cmd = [sys.executable, "-m", "agent", "scan", "--format", "jsonl", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)


@pytest.mark.slow
def test_scan_fails_on_unscanned_files_unless_told_not_to(tmp_path) -> None:
    """`scan` exits 1 on an encrypted zip (unscanned counts toward --fail-on); the flag opts out."""
    path = tmp_path / "drop" / "payload.zip"
    path.parent.mkdir()
    _encrypted_zip(path)
    proc = _scan(str(path), home=tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert '"entity": "UNSCANNED_CONTENT"' in proc.stdout and "encrypted" in proc.stdout
    assert _scan(str(path), "--no-fail-on-unscanned", home=tmp_path).returncode == 0


def test_policy_test_runs_the_unscanned_examples_as_reason_codes(capsys) -> None:
    """`policy test` runs the unscanned rule's examples (reason codes) instead of skipping them."""
    from agent.cli import main

    assert main(["policy", "test", "-v"]) == 0
    lines = [ln for ln in capsys.readouterr().out.splitlines() if "unscanned-content" in ln]
    assert len(lines) == 6 and all(ln.startswith("PASS") for ln in lines)
