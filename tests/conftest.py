"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared() -> Path | None:
    candidates = [os.environ.get("DROPWARDEN_SHARED"), REPO.parent / "shared"]
    for c in candidates:
        if c and (Path(c) / "corpus").is_dir():
            return Path(c)
    return None


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The team's read-only reference material (../shared); skips when absent (a user's clone)."""
    path = _shared()
    if path is None:
        pytest.skip("../shared is not present")
    return path


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _restore_address_space_limit() -> Iterator[None]:
    """`scan` run in-process sets RLIMIT_AS (its memory ceiling) on the test process; give every test
    the limit it started with, so no later test (nor the processes it starts) inherits a ceiling."""
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    yield
    if resource.getrlimit(resource.RLIMIT_AS) != before:
        resource.setrlimit(resource.RLIMIT_AS, before)
