"""Helpers for policy tests: hand-built detections (the evaluator is pure) and packs on disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.models import Detection
from agent.redact import Redactor

#: What the classifier and the index detectors provide (see the classify helper's API).
KNOWN = frozenset(
    [
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_SSN",
        "SWIFT_BIC",
        "BANK_ACCOUNT",
        "US_BANK_NUMBER",
        "PRIVATE_KEY",
        "AWS_ACCESS_KEY",
        "AWS_SECRET_KEY",
        "GITHUB_TOKEN",
        "GITLAB_TOKEN",
        "KUBERNETES_SECRET",
        "KEYSTORE",
        "SLACK_TOKEN",
        "JWT",
        "AZURE_KEY",
        "GCP_SERVICE_KEY",
        "PASSWORD",
        "SECRET",
        "CONNECTION_STRING",
        "CONFIDENTIAL_MARKING",
        "EMAIL_ADDRESS",
        "PHONE_NUMBER",
        "IP_ADDRESS",
        "URL",
        "EDM_MATCH",
        "DOC_FINGERPRINT",
    ]
)
BROKEN = Path(__file__).parent / "broken"


def make_detection(
    text: str,
    value: str,
    entity: str = "IBAN_CODE",
    score: float = 0.9,
    occurrence: int = 0,
    attributes: tuple[tuple[str, str], ...] = (),
    context_radius: int = 300,
) -> Detection:
    """A detection of ``value`` (its n-th occurrence) in ``text``, with context as the classifier gives it."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(value, start + 1)
    end = start + len(value)
    c0 = max(0, start - context_radius)
    return Detection(
        entity=entity,
        start=start,
        end=end,
        score=score,
        recognizer="test",
        path="/srv/drop/file.txt",
        member=None,
        line=text.count("\n", 0, start) + 1,
        value=value,
        context=text[c0 : end + context_radius],
        context_start=c0,
        attributes=attributes,
    )


@pytest.fixture
def det() -> Callable[..., Detection]:
    return make_detection


@pytest.fixture
def redactor() -> Redactor:
    return Redactor(b"k" * 32)


@pytest.fixture
def write_pack(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a YAML pack (dedented) into tmp_path and return its path."""

    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text), encoding="utf-8")
        return p

    return _write


@pytest.fixture
def state(tmp_path: Path) -> Path:
    """A private state directory (0700, ours), as the agent's and a scanning user's are."""
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    return d


def pack_with_value_set(root: Path, pack: str, allow: str) -> Path:
    """``root``/packs holding local.yaml (``pack``) and the value set allow.txt (``allow``)."""
    d = root / "packs"
    d.mkdir()
    (d / "local.yaml").write_text(pack)
    (d / "allow.txt").write_text(allow)
    return d
