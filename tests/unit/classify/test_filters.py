"""Named false-positive filters: each one rejects its family and lets real-looking secrets through."""

from __future__ import annotations

import random
from pathlib import Path
from typing import get_args

import pytest

from agent.classify.filters import FILTERS, first_match
from agent.models import FileRef
from agent.pipeline import build_pipeline, default_policy_dirs
from agent.policy.schema import FilterName
from tests.unit.classify import fakes

RNG = random.Random(15)
REAL = "Qm7vX2pLr9vBn2Tz8kWq3eLp9vBn2Tz8"


def _why(line: str, value: str) -> str | None:
    start = line.index(value)
    return first_match(FILTERS, value, line, start, start + len(value))


@pytest.mark.parametrize(
    ("line", "value", "name"),
    [
        ("password: {{ .Values.db.password }}", "{{ .Values.db.password }}", "template-reference"),
        ("password=${DB_PASSWORD}", "${DB_PASSWORD}", "template-reference"),
        ("dsn = 'pw=%(password)s'", "pw=%(password)s", "template-reference"),
        ("password: <password>", "<password>", "template-reference"),
        ("api_key = os.environ['API_KEY']", "os.environ['API_KEY']", "template-reference"),
        ("password: changeme", "changeme", "placeholder"),
        ("token: xxxxxxxxxxxxxxxxxxxx", "xxxxxxxxxxxxxxxxxxxx", "placeholder"),
        ("secret: ****************", "****************", "placeholder"),
        ("api_key: your-api-key-here", "your-api-key-here", "placeholder"),
        ("key: AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "placeholder"),
        (
            "db.password=ENC(G6N718UuyPE5bHyWKyuLQSm02auQPUtm)",
            "ENC(G6N718UuyPE5bHyWKyuLQSm02auQPUtm)",
            "encrypted-value",
        ),
        (
            "password: ENC[AES256_GCM,data:Qm7vX2pL,iv:abc,tag:def,type:str]",
            "ENC[AES256_GCM,data:Qm7vX2pL,iv:abc,tag:def,type:str]",
            "encrypted-value",
        ),
        (
            "  password: AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq" + "A" * 40,
            "AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq" + "A" * 40,
            "encrypted-value",
        ),
        (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + REAL + " ops@host",
            "AAAAC3NzaC1lZDI1NTE5AAAAI" + REAL,
            "public-key",
        ),
        ('"integrity": "sha512-' + REAL + '=="', "sha512-" + REAL + "==", "lock-file-hash"),
        (
            'checksum = "' + "3f2c9a1b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a3f2c9a1b7d4e6f8a0b1c2d3e" + '"',
            "3f2c9a1b7d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a3f2c9a1b7d4e6f8a0b1c2d3e",
            "lock-file-hash",
        ),
        ("public_key: " + REAL, REAL, "public-key"),
        (
            "request_token: 2b6f0cc9-04d5-4b1e-9a3c-7e4f2d1a8b90",
            "2b6f0cc9-04d5-4b1e-9a3c-7e4f2d1a8b90",
            "uuid",
        ),
        ("token = " + REAL + "  # pragma: allowlist secret", REAL, "allowlist-pragma"),
        ("password: aaaaaaaa", "aaaaaaaa", "placeholder"),
    ],
)
def test_each_filter_names_its_family(line: str, value: str, name: str) -> None:
    assert _why(line, value) == name


@pytest.mark.parametrize("n", range(20))
def test_generated_secrets_pass_every_filter(n: int) -> None:
    """Random tokens as generators emit them are never taken for placeholders, hashes or ciphertext."""
    value = fakes.token(RNG, 24 + n)
    assert _why(f"api_key = {value}", value) is None


def test_policy_schema_knows_every_filter() -> None:
    """Packs name filters by a schema Literal (policy never imports classify): the two lists agree."""
    assert set(get_args(FilterName)) == set(FILTERS)


def test_explain_names_the_filter(tmp_path: Path) -> None:
    """`explain` shows a dropped candidate with the filter that dropped it; `scan` never sees it."""
    path = tmp_path / "values.yaml"
    path.write_text("github_token: ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\ndb_password: ${DB_PASSWORD}\n")
    pipeline = build_pipeline(default_policy_dirs(), key=b"k" * 32)
    evaluations, _ = pipeline.explain(FileRef(path=str(path), role="contractor-drop"))
    reasons = {(d.entity, d.reason) for ev in evaluations for d in ev.decisions}
    assert ("GITHUB_TOKEN", "dropped by filter 'placeholder'") in reasons
    assert ("PASSWORD", "dropped by filter 'template-reference'") in reasons
    assert not pipeline.scan(FileRef(path=str(path), role="contractor-drop")).findings
    # explaining leaves the classifier as the scan path expects it: no score-0 candidates afterwards
    assert fakes.detect(pipeline.classifier, path.read_text()) == []
