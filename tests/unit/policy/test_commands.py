"""`dropwarden policy test|lint` and `explain` through the real command line and pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.cli import main
from tests.unit.policy.conftest import BROKEN
from tests.unit.policy.test_loader import SHIPPED


def _classifier_ready() -> bool:
    try:
        from agent.classify import Classifier  # noqa: F401
        from agent.pipeline import build_pipeline  # noqa: F401
    except ImportError:
        return False
    return True


needs_pipeline = pytest.mark.skipif(not _classifier_ready(), reason="agent.classify is not available")

CARD = "4539 5260 1815 9083"  # generated, Luhn-valid, not a test number


@needs_pipeline
def test_policy_test_passes_every_shipped_example(capsys: pytest.CaptureFixture[str]) -> None:
    """Every shipped rule's examples behave as declared (index/NER examples are skipped, not passed)."""
    assert main(["policy", "test"]) == 0
    out = capsys.readouterr().out
    assert "0 failed" in out and "FAIL" not in out
    assert "SKIP  edm-customer-record" in out and "(needs protected-index)" in out


@needs_pipeline
def test_policy_test_fails_on_a_wrong_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A rule whose match example produces nothing fails the run with exit 1, without echoing the text."""
    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: t\nrules:\n  - id: card\n    desc: d\n    severity: high\n    entities: [CREDIT_CARD]\n"
        f'    examples: {{match: ["no number here", "card {CARD}"], no_match: ["card {CARD}", "x"]}}\n',
        encoding="utf-8",
    )
    assert main(["policy", "test", str(pack)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  card" in out and "match    #1" in out and "no_match #1" in out
    assert "2 passed, 2 failed" in out and CARD not in out


@needs_pipeline
def test_policy_lint_clean_on_shipped(capsys: pytest.CaptureFixture[str]) -> None:
    """Lint of the shipped packs exits 0 and prints no issue (no unreachable min_score either)."""
    assert main(["policy", "lint", str(SHIPPED)]) == 0
    assert capsys.readouterr().out.splitlines() == []


@needs_pipeline
def test_policy_lint_reports_errors_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    """Lint of a broken pack prints file:rule:field: message lines and exits 1."""
    assert (
        main(["policy", "lint", str(BROKEN / "unknown_entity.yaml"), str(BROKEN / "few_examples.yaml")]) == 1
    )
    lines = capsys.readouterr().out.splitlines()
    assert any(
        ln.startswith(f"{BROKEN / 'unknown_entity.yaml'}:card-rule:entities: unknown entity") for ln in lines
    )
    assert any(":few-examples:examples.match: 1 example(s)" in ln for ln in lines)


@needs_pipeline
def test_broken_pack_gives_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    """`policy test` on a broken pack prints the one-line PolicyError and exits 2, no traceback."""
    assert main(["policy", "test", str(BROKEN / "unknown_field.yaml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith("field 'min_scor': unknown field (did you mean 'min_score' or 'min_count'?)")
    assert not any("Traceback" in ln for ln in err)


@needs_pipeline
def test_explain_shows_decisions_without_raw_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """explain lists each candidate with every rule's decision and reason, values masked."""
    f = tmp_path / "mixed.txt"
    f.write_text(
        f"Chat: my card is {CARD}\n"
        + "filler line\n" * 20
        + "QA plan: test card 4242 4242 4242 4242\n"
        + "filler line\n" * 20
        + "Pay to: Acme GmbH, IBAN DE36 1895 5597 9711 4710 49, BIC ACMEDEFFXXX.\n",
        encoding="utf-8",
    )
    assert main(["explain", str(f)]) == 0
    out = capsys.readouterr().out
    assert "FINDING high     payment-card-number" in out
    assert "allow-listed value" in out
    assert "not_context word within" in out or "no context word within" in out
    assert "min_count not reached (1 of 3 distinct values)" in out
    assert "iban-payment-instruction" in out and "accepted" in out
    for raw in (
        CARD,
        CARD.replace(" ", ""),
        "4242 4242 4242 4242",
        "1895 5597 9711",
        "DE36189555979711471049",
    ):
        assert raw not in out
    assert main(["explain", str(f), "--zone-role", "outbound"]) == 0
    assert main(["explain", str(tmp_path / "missing.txt")]) == 2


@needs_pipeline
def test_explain_zone_not_applicable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A rule limited to some zone roles says so for the others."""
    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: t\nrules:\n  - id: card-internal-only\n    desc: d\n    severity: high\n"
        "    zones: [internal]\n    entities: [CREDIT_CARD]\n",
        encoding="utf-8",
    )
    f = tmp_path / "c.txt"
    f.write_text(f"card {CARD}\n", encoding="utf-8")
    assert main(["explain", str(f), "--policies", str(pack)]) == 0
    assert "zone role 'contractor-drop' not applicable" in capsys.readouterr().out


@needs_pipeline
def test_scan_findings_carry_policy_and_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Through the full pipeline a customer statement is high under iban-customer; an invoice stays low."""
    from agent.models import FileRef
    from agent.pipeline import build_pipeline

    p = build_pipeline(None, key=b"k" * 32)
    stmt = "Account statement\nAccount holder: Jane Roe\nIBAN: DE36 1895 5597 9711 4710 49\nBalance: 1.00"
    inv = "Invoice 7\nAmount due: 10.00 EUR\nPay to: Acme, IBAN DE36 1895 5597 9711 4710 49. Reference: 7"
    ref = FileRef(path="<t>", role="contractor-drop")
    # iban-customer-record (the layout reading: "Account holder: Jane Roe") may fire as well
    assert ("bank-secrecy", "iban-customer", "high") in {
        (f.policy, f.rule, f.severity) for f in p.evaluate_text(stmt, ref).findings
    }
    assert {(f.rule, f.severity) for f in p.evaluate_text(inv, ref).findings} == {
        ("iban-payment-instruction", "low")
    }
    json.dumps([f.__dict__ for f in p.evaluate_text(stmt, ref).findings])  # findings are serialisable


@needs_pipeline
def test_policy_test_runs_recognizer_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A pack recognizer's own examples run too: its match must yield its detection, its no_match none;
    a ``secret`` group narrows the reported span to the value, the keyword stays context."""
    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: t\nrecognizers:\n  - name: acme-key\n    entity: API_TOKEN\n"
        "    patterns: [{name: k, regex: 'acme_key=(?P<secret>(?-i:AK[0-9]{6}))', score: 0.8}]\n"
        "    trigger: '(?i)acme_key'\n    max_len: 16\n    filters: [placeholder]\n"
        "    examples: {match: ['acme_key=AK123456', 'acme_key=AK000000'], no_match: ['acme_key=AK12']}\n",
        encoding="utf-8",
    )
    assert main(["policy", "test", str(pack)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  recognizer acme-key" in out and "match    #2" in out  # 000000: a placeholder run
    assert "2 passed, 1 failed" in out and "AK000000" not in out
    from agent.models import TextChunk
    from agent.pipeline import build_pipeline

    pipeline = build_pipeline([pack], key=b"k" * 32)
    [found] = pipeline.classifier.detect(TextChunk(path="x", member=None, text="acme_key=AK123456"))
    assert (found.value, found.score) == ("AK123456", 0.8)
