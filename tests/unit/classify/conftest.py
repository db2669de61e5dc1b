"""Classifier fixtures shared by the classify tests (built once: building costs ~0.3 s)."""

from __future__ import annotations

import pytest

from agent.classify import Classifier


@pytest.fixture(scope="session")
def classifier() -> Classifier:
    """A classifier with every built-in entity and the prefilter on."""
    return Classifier()
