"""`dropwarden scan` end to end, as a separate process: formats, exit codes, hostile input, no leaks."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from agent.demo import group4, iban, luhn_complete

REPO = Path(__file__).resolve().parents[2]


def run_scan(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(env_home)}
    return subprocess.run(
        [sys.executable, "-m", "agent", "scan", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


@pytest.fixture(scope="module")
def secrets_tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A folder of generated files holding fake values, in several formats, plus hostile files."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    rng = random.Random(1234)
    root = tmp_path_factory.mktemp("tree")
    card = group4(luhn_complete("45", 16, rng))
    de_iban = group4(iban("DE", "".join(rng.choice("0123456789") for _ in range(18))))
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    (root / "card.txt").write_text(f"Customer: Lena Brunner\nCard number: {card}\nExpiry 09/29\n")
    (root / "statement.csv").write_text(
        f"account holder,iban,balance\nLena Brunner,{de_iban},12000.00\n", encoding="utf-8"
    )
    (root / "deploy_key.pem").write_text(pem)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner/notes.txt", f"Card on file for the client: {card}\n")
    (root / "bundle.zip").write_bytes(buf.getvalue())
    (root / "hello.txt").write_text("Nothing to see here: quarterly planning notes.\n")
    # hostile files: the scan must report them and go on
    (root / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R")
    (root / "random.docx").write_bytes(random.Random(5).randbytes(4096))
    (root / "empty.txt").write_bytes(b"")
    os.mkfifo(root / "pipe.fifo")
    os.symlink("/etc/hostname", root / "escape.txt")
    values = [card, card.replace(" ", ""), de_iban, de_iban.replace(" ", ""), pem.splitlines()[1]]
    return root, values


def test_jsonl_contract_exit_code_and_hostile_files(secrets_tree, tmp_path) -> None:
    """JSONL has findings, errors and a summary; exit 1 on findings; hostile files are errors, not crashes."""
    root, _ = secrets_tree
    proc = run_scan(str(root), "--format", "jsonl", env_home=tmp_path)
    assert proc.returncode == 1, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    kinds = {r["kind"] for r in records}
    assert kinds == {"finding", "error", "summary"}
    assert records[-1]["kind"] == "summary"
    findings = [r for r in records if r["kind"] == "finding"]
    for f in findings:
        assert set(f) >= {
            "path",
            "member",
            "policy",
            "rule",
            "entity",
            "severity",
            "score",
            "line",
            "start",
            "end",
            "excerpt",
            "fingerprint",
        }
        assert f["severity"] in ("low", "medium", "high", "critical")
    by_file = {(Path(f["path"]).name, f["member"]) for f in findings if f["severity"] != "low"}
    assert ("card.txt", None) in by_file
    assert ("bundle.zip", "inner/notes.txt") in by_file
    assert ("deploy_key.pem", None) in by_file
    errors = {Path(r["path"]).name: r["reason"] for r in records if r["kind"] == "error"}
    assert errors.get("pipe.fifo") == "not_regular_file"
    assert errors.get("escape.txt") == "symlink_outside"
    assert errors.get("broken.pdf") == "malformed"
    assert errors.get("random.docx") == "malformed"
    summary = records[-1]
    assert summary["files"] >= 7  # every regular file got a verdict, hostile ones included


def test_no_matched_value_in_any_output_format(secrets_tree, tmp_path) -> None:
    """No planted value appears in clear in JSONL, text or SARIF output, nor on stderr."""
    root, values = secrets_tree
    for fmt in ("jsonl", "text", "sarif"):
        proc = run_scan(str(root), "--format", fmt, env_home=tmp_path)
        assert proc.returncode == 1, proc.stderr
        for v in values:
            assert v not in proc.stdout, f"{fmt} leaks a value"
            assert v not in proc.stderr, f"{fmt} stderr leaks a value"
    sarif = json.loads(run_scan(str(root), "--format", "sarif", env_home=tmp_path).stdout)
    assert sarif["version"] == "2.1.0"
    assert sarif["runs"][0]["results"]


def test_fail_on_threshold_and_clean_exit(secrets_tree, tmp_path) -> None:
    """Exit 0 on a clean file; --fail-on critical lets high findings pass."""
    root, _ = secrets_tree
    assert run_scan(str(root / "hello.txt"), env_home=tmp_path).returncode == 0
    assert run_scan(str(root / "card.txt"), "--fail-on", "critical", env_home=tmp_path).returncode == 0
    assert run_scan(str(root / "card.txt"), "--fail-on", "high", env_home=tmp_path).returncode == 1


def test_usage_and_config_errors_exit_2(tmp_path) -> None:
    """A missing path or a broken policy pack exits 2 with a one-line message, no traceback."""
    proc = run_scan(str(tmp_path / "nope"), env_home=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("pack: broken\nrules:\n  - id: Not_Kebab\n    severity: urgent\n")
    (tmp_path / "f.txt").write_text("hello")
    proc = run_scan(str(tmp_path / "f.txt"), "--policies", str(bad), env_home=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "bad.yaml" in proc.stderr


@pytest.mark.slow
def test_public_corpus_every_file_accounted_for(shared_dir, tmp_path) -> None:
    """Over the whole public corpus, every file gets a verdict or an error record, and score.py runs."""
    files = shared_dir / "corpus" / "files"
    out = tmp_path / "out.jsonl"
    proc = run_scan(
        str(files),
        "--format",
        "jsonl",
        "--output",
        str(out),
        "--protect-data",
        str(shared_dir / "corpus" / "protected" / "customers.csv"),
        "--protect-docs",
        str(shared_dir / "corpus" / "protected" / "docs"),
        env_home=tmp_path,
    )
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    summary = records[-1]
    n_files = sum(1 for p in files.rglob("*") if p.is_file() and not p.is_symlink())
    assert summary["kind"] == "summary"
    assert summary["files"] == n_files
    score = subprocess.run(
        [
            sys.executable,
            str(shared_dir / "eval" / "score.py"),
            "--labels",
            str(shared_dir / "corpus" / "labels.jsonl"),
            "--findings",
            str(out),
            "--root",
            str(files),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert score.returncode == 0, score.stderr
    assert "precision=" in score.stdout.splitlines()[-1]
