"""The constant entity list the light commands use is the real registry's."""

from __future__ import annotations

from agent.classify.engine import Classifier
from agent.classify.entities import KNOWN_ENTITIES


def test_known_entities_match_the_registry() -> None:
    """A recognizer added (or removed) without updating agent/classify/entities.py fails here."""
    real = Classifier.known_entities()
    assert sorted(real - KNOWN_ENTITIES) == [], "add these to agent/classify/entities.py"
    assert sorted(KNOWN_ENTITIES - real) == [], "remove these from agent/classify/entities.py"
