"""CONFIDENTIAL_MARKING: label lines match, prose does not."""

from __future__ import annotations

import pytest

from agent.classify import Classifier
from tests.unit.classify.fakes import detect

LABELS = [
    ("STRICTLY CONFIDENTIAL", "strict"),
    ("*** CONFIDENTIAL ***", "confidential"),
    ("CONFIDENTIAL – DO NOT DISTRIBUTE", "confidential"),
    ("INTERNAL – CONFIDENTIAL", "confidential"),
    ("[RESTRICTED]", "restricted"),
    ("== SECRET ==", "strict"),
    ("Subject to banking secrecy", "strict"),
    ("Bankkundengeheimnis", "strict"),
    ("Classification: Confidential", "confidential"),
    ("Security classification: RESTRICTED", "restricted"),
    ("Klassifizierung: Streng vertraulich", "strict"),
    ("Classification : vertraulich", "confidential"),
    ("Classificazione: strettamente riservato", "strict"),
    ("# Strictement confidentiel", "strict"),
    ("Diffusion restreinte", "restricted"),
    ("-- Segreto bancario --", "strict"),
    ("Secret bancaire", "strict"),
    ("Confidentiel", "confidential"),
    ("Riservato", "confidential"),
    ("Confidenziale - page 2 of 3", "confidential"),
    ("Bankgeheimnis", "strict"),
    ("STRENG VERTRAULICH", "strict"),
    ("Page 1 of 3 | CONFIDENTIAL | Acme Bank AG", "confidential"),
    ("Vertraulich – nur für den internen Gebrauch", "confidential"),
]


@pytest.mark.parametrize(("line", "level"), LABELS)
def test_label_lines_match_with_level(classifier: Classifier, line: str, level: str) -> None:
    """A marking used as a label line is found with its level and a confident score."""
    found = detect(classifier, f"Quarterly report\n{line}\nThe figures below ...", "CONFIDENTIAL_MARKING")
    assert found, line
    top = max(found, key=lambda d: d.score)
    assert top.attribute("level") == level and top.score >= 0.5


@pytest.mark.parametrize(
    "text",
    [
        "We keep your data confidential and never share it with anyone.",
        "The Recipient shall hold all Confidential Information in strict confidence for five years.",
        "Die Unterlagen sind vertraulich zu behandeln und dürfen nicht weitergegeben werden, sagte er.",
        "It is no secret that our restricted stock units vest over four years.",
        "This is confidential.",
        "Keep it secret",
        "Les informations confidentielles restent la propriété exclusive du prestataire.",
    ],
)
def test_prose_does_not_match(classifier: Classifier, text: str) -> None:
    """The same words inside sentences are not labels."""
    assert detect(classifier, text, "CONFIDENTIAL_MARKING") == []


def test_internal_only_is_low_and_header_scores_higher(classifier: Classifier) -> None:
    """Internal-use labels score low; a label scores higher in a header or as a classification field."""
    (internal,) = detect(classifier, "For internal use only", "CONFIDENTIAL_MARKING")
    assert internal.attribute("level") == "internal" and internal.score < 0.5
    (body,) = detect(classifier, "CONFIDENTIAL", "CONFIDENTIAL_MARKING")
    (header,) = detect(classifier, "CONFIDENTIAL", "CONFIDENTIAL_MARKING", part="header")
    (field,) = detect(classifier, "Classification: CONFIDENTIAL", "CONFIDENTIAL_MARKING")
    assert header.score > body.score and field.score > body.score
