"""CONFIDENTIAL_MARKING: label lines match, prose does not."""

from __future__ import annotations

import pytest

from agent.classify import Classifier
from tests.unit.classify.fakes import best, detect

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


FIELD_LABELS = [
    ('"footer": "STRICTLY CONFIDENTIAL",', "strict"),
    ('{"id": 3, "header": "Private and Confidential", "body": "x"}', "confidential"),
    ("classification: Estrictamente confidencial", "strict"),
    ("<classification>Vertraulich</classification>", "confidential"),
    ("Classification: Restricted - Meeting notes - kickoff Quartz", "restricted"),
    ("Title: Classification: Restricted - Meeting notes - kickoff Quartz", "restricted"),
    ("Vertraulichkeitsstufe: vertraulich", "confidential"),
    ("Niveau de confidentialité : Diffusion restreinte", "restricted"),
    ("Subject: [VERTRAULICH] Budget 2026", "confidential"),
    ("Document classification: C3 – Confidential", "confidential"),
]
TITLE_LABELS = [
    ("VERTRAULICH – Vorstandsvorlage Projekt Kranich", "confidential"),
    ("Strictement confidentiel : plan de financement 2026", "strict"),
    ("Board memo: Project Heron | Strictly confidential", "strict"),
    ("Harbourline Ltd · Private and Confidential · 2/3", "confidential"),
    ("Vertrouwelijk | Pagina 1 van 2", "confidential"),
    ("DOCUMENTO CONFIDENCIAL", "confidential"),
    ("_DOCUMENTO CONFIDENCIAL_", "confidential"),
    ("Strikt vertrouwelijk", "strict"),
    ("Très confidentiel", "strict"),
    ("Riservatissimo", "strict"),
    ("TLP:RED", "strict"),
    ("TLP:AMBER", "confidential"),
    ("COMMERCIAL IN CONFIDENCE", "confidential"),
    ("VS – NUR FÜR DEN DIENSTGEBRAUCH", "restricted"),
    ("VS-NfD", "restricted"),
]


@pytest.mark.parametrize(("line", "level"), FIELD_LABELS + TITLE_LABELS)
def test_label_fields_and_titles_match(classifier: Classifier, line: str, level: str) -> None:
    """Label fields (JSON/YAML/XML keys, Classification:, Subject:) and title/footer lines in six
    languages are markings with their level, whatever follows the label after a separator."""
    found = detect(classifier, f"Memo\n{line}\nThe figures below ...", "CONFIDENTIAL_MARKING")
    assert found, line
    top = max(found, key=lambda d: d.score)
    assert top.attribute("level") == level and top.score >= 0.5


@pytest.mark.parametrize(
    "text",
    [
        "1. Confidential Information",
        "Confidential Information",
        "Cláusula 1 – Información confidencial",
        "§ 3 Confidential Information",
        "JWT_SECRET=Xk29fLm3pQ7zAb",
        "API_SECRET=changeme",
        '"title": "Confidential computing whitepaper"',
        "Subject: Confidential information request",
        "# Secret Santa 2025",
        "Secret Santa – sign-up sheet",
        "| Confidential | client data, contracts, salaries of all staff |",
        "Public / Internal / Confidential / Strictly confidential",
        "the recipient would reasonably understand to be\nconfidential.",
        "Dit bericht is vertrouwelijk. Bent u niet de geadresseerde, verwijder het dan.",
    ],
)
def test_defined_terms_names_and_wrapped_prose_do_not_match(classifier: Classifier, text: str) -> None:
    """Contract headings, variable names, titles that merely start with a marking word, table cells and
    sentences wrapped onto their own line are not labels."""
    found = [d for d in detect(classifier, text, "CONFIDENTIAL_MARKING") if d.score >= 0.5]
    assert found == [], text


def test_markup_and_topic_titles(classifier: Classifier) -> None:
    """A marking alone in an HTML element is a label; a concept name opening an article title is not."""
    html = '<html><body><p style="color:red">STRICTLY CONFIDENTIAL</p><p>Board minutes.</p></body></html>'
    assert best(classifier, html, "CONFIDENTIAL_MARKING") >= 0.8
    assert (
        best(classifier, "<p>We keep your data confidential and never share it.</p>", "CONFIDENTIAL_MARKING")
        == 0
    )
    assert best(classifier, "Banking secrecy: what changed in 2025", "CONFIDENTIAL_MARKING") == 0
    assert best(classifier, "Subject to banking secrecy", "CONFIDENTIAL_MARKING") >= 0.8


@pytest.mark.parametrize(
    "line",
    [
        "Confidential draft – not for circulation  ·  Page 2 of 5",
        "Page 3 of 7 | Strictly Confidential",
        "CONFIDENTIAL INFORMATION – PROPERTY OF ACME CORP",
        "Vertrauliches Dokument",
        "Privé et confidentiel",
        "Riservato al personale interno",
    ],
)
def test_handling_words_and_page_numbers_stay_labels(classifier: Classifier, line: str) -> None:
    """Handling instructions, ownership words and page numbers on a label line do not make it prose."""
    text = f"Quarterly plan\n\nThe team met on Monday.\n\n{line}\n"
    assert best(classifier, text, "CONFIDENTIAL_MARKING") >= 0.5


@pytest.mark.parametrize(
    "text",
    [
        "Book a free, confidential consultation today.",
        "The draft is confidential until the board has seen it.",
        "Ihre Angaben werden vertraulich behandelt.",
    ],
)
def test_handling_words_in_prose_do_not_match(classifier: Classifier, text: str) -> None:
    """The same words in a sentence are still prose, not a label."""
    assert best(classifier, text, "CONFIDENTIAL_MARKING") < 0.5


@pytest.mark.parametrize(
    ("text", "labelled"),
    [
        (
            '<html><head><meta name="classification" content="Vertrouwelijk"><title>Q</title></head></html>',
            True,
        ),
        ('<property name="security.classification" value="Confidential"/>', True),
        ('<meta name="description" content="We keep your data confidential">', False),
        ("Schutzklasse\tvertraulich\nKST\tBudget", True),
        ("Label\tConfidential\tclient data, contracts and salaries", False),
    ],
)
def test_name_value_attribute_pairs_are_label_fields(
    classifier: Classifier, text: str, labelled: bool
) -> None:
    """A marking as the value of a name/value attribute pair (HTML meta, XML property) or of a sheet row
    whose first cell is the field name is a label; prose in a description and a levels table are not."""
    assert (best(classifier, text, "CONFIDENTIAL_MARKING") >= 0.5) is labelled


@pytest.mark.parametrize(
    "line",
    [
        "Non restreint",
        "NON RESTREINT",
        "Classification: Non restreint",
        "<dc:rights>Non restreint</dc:rights>",
        "NOT CONFIDENTIAL",
        "Non-confidential",
        "Classification: nicht vertraulich",
        "Niet vertrouwelijk",
        "No confidencial",
        "Non riservato",
        "Confidential: no",
        "Vertraulich: nein",
        '<meta name="confidential" content="false">',
        "UNCLASSIFIED",
        "Classification: public",
    ],
)
def test_negated_and_cleared_levels_are_not_markings(classifier: Classifier, line: str) -> None:
    """A level that is denied ("Non restreint", "not confidential", "Confidential: no") is no label."""
    assert (
        detect(classifier, f"Quarterly report\n{line}\nThe figures below ...", "CONFIDENTIAL_MARKING") == []
    )


@pytest.mark.parametrize(
    "line",
    [
        "<dc:rights>Restreint</dc:rights>",
        "Confidential – not for distribution",
        "CONFIDENTIAL - DO NOT FORWARD",
        "Confidential: Non-disclosure terms apply",
        "Nicht weitergeben – VERTRAULICH",
    ],
)
def test_negation_words_elsewhere_on_a_label_line_keep_the_marking(classifier: Classifier, line: str) -> None:
    """Only a negation that governs the level clears it: handling instructions with "not" stay labels."""
    assert detect(classifier, f"Quarterly report\n{line}\nThe figures below ...", "CONFIDENTIAL_MARKING")
