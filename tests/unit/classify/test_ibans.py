"""IBANs of every registry country in every spelling, customer context in four languages, bare IBANs."""

from __future__ import annotations

import random

import pytest

from agent.classify import Classifier, ClassifierSettings
from agent.classify.validators import IBAN_LENGTHS
from agent.models import FileRef
from agent.pipeline import build_pipeline, default_policy_dirs
from tests.unit.classify import fakes


@pytest.fixture(scope="module")
def ibans() -> Classifier:
    return Classifier(ClassifierSettings(entities=frozenset({"IBAN_CODE"})))


def _spellings(iban: str) -> list[str]:
    grouped = fakes.grouped(iban)
    cut = grouped.index(" ", 10)
    return [
        f"IBAN {iban}",
        f"IBAN: {grouped}",
        f"Konto {fakes.grouped(iban, '-')}",
        f"iban: {grouped.lower()}",
        f"IBAN {iban.lower()}",
        f"IBAN {grouped[:cut]}\n{grouped[cut + 1 :]}",  # wrapped at a group break (PDF, table cell)
    ]


@pytest.mark.parametrize("country", sorted(IBAN_LENGTHS))
def test_every_registry_country_in_every_spelling(ibans: Classifier, country: str) -> None:
    iban = fakes.iban(random.Random(country), country)
    assert len(iban) == IBAN_LENGTHS[country]
    for text in _spellings(iban):
        found = fakes.detect(ibans, text, "IBAN_CODE")
        assert [d.attribute("country") for d in found] == [country], text
        assert found[0].value.replace(" ", "").replace("-", "").replace("\n", "").upper() == iban


def _with_letters(bban: str, country: str = "GB") -> str:
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(numeric) % 97:02d}{bban}"


def test_lower_case_needs_the_label(ibans: Classifier) -> None:
    """Lower-case hex ids and hashes share the shape: without an IBAN label they are not IBANs."""
    iban = _with_letters("ACME" + "".join(random.Random(7).choices("0123456789", k=14)))
    assert [d.attribute("country") for d in fakes.detect(ibans, f"IBAN {iban.lower()}", "IBAN_CODE")] == [
        "GB"
    ]
    assert fakes.detect(ibans, f"build {iban.lower()} done", "IBAN_CODE") == []


@pytest.fixture(scope="module")
def pipeline():  # type: ignore[no-untyped-def]
    return build_pipeline(default_policy_dirs(), key=b"k" * 32)


def _rules(pipeline, text: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    ev = pipeline.evaluate_text(text, FileRef(path="/srv/drop/t.txt", role="contractor-drop"))
    return {f.rule: f.severity for f in ev.findings}


@pytest.mark.parametrize(
    "template",
    [
        "Hi, my IBAN is {g}, please update my profile.",
        "Could you make a transfer from {g} to my savings account?",
        "Meine IBAN lautet {g}, bitte für die Rückerstattung verwenden.",
        "Bonjour, mon IBAN est {g}, merci.",
        "Buongiorno, il mio IBAN è {g}.",
        "Ciao, questo IBAN {g} è quello nuovo.",
    ],
)
def test_a_customer_writing_about_their_own_account_alerts(pipeline, template: str) -> None:  # type: ignore[no-untyped-def]
    iban = fakes.iban(random.Random(template), "FR")
    rules = _rules(pipeline, template.format(g=fakes.grouped(iban)))
    assert rules.get("iban-customer") == "high", rules


def test_a_bare_iban_is_a_low_finding(pipeline) -> None:  # type: ignore[no-untyped-def]
    iban = fakes.iban(random.Random(5), "IT")
    assert _rules(pipeline, iban) == {"iban-bare": "low"}
    assert _rules(pipeline, iban[:-1] + str((int(iban[-1]) + 1) % 10)) == {}  # checksum off: nothing
