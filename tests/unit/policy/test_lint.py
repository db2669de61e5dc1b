"""`policy lint`: each error class has a broken fixture; the shipped packs lint clean."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.commands.policy import score_reach
from agent.policy.lint import format_issue, lint
from agent.policy.regexcheck import backtracking_risk, compile_error
from tests.unit.policy.conftest import BROKEN, KNOWN
from tests.unit.policy.test_loader import LOAD_ERRORS, SHIPPED

LINT_ONLY = {
    "few_examples.yaml": [("few-examples", "examples.match"), ("few-examples", "examples.no_match")],
    "context_vetoed.yaml": [("card-rule", "not_context")],
    "trigger_misses_match.yaml": [("emp-id", "trigger")],
}


LINT_WARNINGS = {
    "shadowed_rule.yaml": [("card-in-export", "entities", "fully shadowed by rule 'any-card'")],
    "disabled_by_override.yaml": [("card-rule", "enabled", "rule is disabled by")],
}


def test_every_broken_fixture_is_covered() -> None:
    """Every file in broken/ is expected by a test (no orphan, no untested error)."""
    assert {p.name for p in BROKEN.glob("*.yaml")} == set(LOAD_ERRORS) | set(LINT_ONLY) | set(LINT_WARNINGS)


@pytest.mark.parametrize("name", sorted(LINT_WARNINGS))
def test_lint_warnings_for_unreachable_rules(name: str) -> None:
    """Rules that can never add a finding (shadowed, disabled by an override) are reported as warnings."""
    issues = lint([BROKEN / name], KNOWN)
    assert [(i.level, i.rule, i.field) for i in issues] == [
        ("warning", r, f) for r, f, _ in LINT_WARNINGS[name]
    ]
    for issue, (_, _, message) in zip(issues, LINT_WARNINGS[name], strict=True):
        assert message in issue.message and format_issue(issue).count(": warning: ") == 1


@pytest.mark.parametrize("name", sorted(LOAD_ERRORS))
def test_lint_reports_load_errors_as_lines(name: str) -> None:
    """Lint reports the loader's error as "file:rule:field: message"."""
    rule, field, message = LOAD_ERRORS[name]
    errors = [i for i in lint([BROKEN / name], KNOWN) if i.level == "error"]
    assert errors, name
    line = format_issue(errors[0])
    assert line.startswith(f"{BROKEN / name}:{rule or '-'}:{field or '-'}: ") and message in line


@pytest.mark.parametrize("name", sorted(LINT_ONLY))
def test_lint_only_errors(name: str) -> None:
    """Problems that must not stop loading are still lint errors."""
    errors = [(i.rule, i.field) for i in lint([BROKEN / name], KNOWN) if i.level == "error"]
    assert errors == LINT_ONLY[name]


def test_suggestions_in_lint_lines() -> None:
    """Unknown names come with a did-you-mean."""
    (issue,) = lint([BROKEN / "unknown_field.yaml"], KNOWN)
    assert format_issue(issue).endswith("unknown field (did you mean 'min_score' or 'min_count'?)")


def test_shipped_packs_lint_clean() -> None:
    """No error and no warning on the packs we ship, unreachable scores included."""
    assert [format_issue(i) for i in lint([SHIPPED], KNOWN)] == []
    assert [format_issue(i) for i in lint([SHIPPED], KNOWN, reach=score_reach())] == []


def test_score_ceilings_are_what_the_recognizers_declare() -> None:
    """SCORE_CEILINGS lists every built-in entity that never scores 1.0, at its highest score: the best
    pattern score, raised by the context enhancer when the recognizer has context words. A recognizer
    that scores its matches itself (its own assess() or analyze), or one of Presidio's, may reach 1.0."""
    from agent.classify.context import LinearContextEnhancer
    from agent.classify.entities import CONTEXT_BOOST, CONTEXT_FLOOR, SCORE_CEILINGS
    from agent.classify.recognizers import OURS
    from agent.classify.recognizers.base import DwPatternRecognizer
    from agent.classify.recognizers.builtin import BUILTIN

    enhancer = LinearContextEnhancer()
    assert (enhancer.context_similarity_factor, enhancer.min_score_with_context_similarity) == (
        CONTEXT_BOOST,
        CONTEXT_FLOOR,
    )
    derived = {}
    for entity, cls in OURS.items():
        scoring = ("assess", "analyze", "analyze_regions")
        if any(getattr(cls, m) is not getattr(DwPatternRecognizer, m) for m in scoring) or entity in BUILTIN:
            continue
        best = max(score for _, _, score in cls.PATTERNS)
        derived[entity] = round(
            min(1.0, max(best + CONTEXT_BOOST, CONTEXT_FLOOR)) if cls.CONTEXT else best, 4
        )
    assert {e: c for e, c in derived.items() if c < 1.0} == SCORE_CEILINGS


def _rule(rid: str, entities: str, min_score: float) -> str:
    return (
        f"  - id: {rid}\n    desc: d\n    severity: high\n    entities: [{entities}]\n"
        f"    min_score: {min_score}\n    examples: {{match: [a, b], no_match: [c, d]}}\n"
    )


def test_entities_that_never_reach_min_score_warn(
    write_pack: Callable[[str, str], Path], tmp_path: Path
) -> None:
    """A rule entity whose recognizers never score as high as the rule's min_score is a warning (the
    rule never fires when that holds for all of them); pack recognizers count with their own scores."""
    recognizers = (
        "recognizers:\n"
        "  - {name: weak, entity: WEAK_ID, patterns: [{name: p, regex: 'W[0-9]{6}', score: 0.3}]}\n"
        "  - {name: hinted, entity: HINTED_ID, context: [ref],\n"
        "     patterns: [{name: p, regex: 'H[0-9]{6}', score: 0.3}]}\n"
    )
    rules = (
        _rule("bank-only", "US_BANK_NUMBER", 0.5)
        + _rule("bank-and-iban", "US_BANK_NUMBER, IBAN_CODE", 0.5)
        + _rule("bank-low", "US_BANK_NUMBER", 0.4)
        + _rule("weak", "WEAK_ID", 0.5)
        + _rule("hinted", "HINTED_ID", 0.65)
        + _rule("hinted-high", "HINTED_ID, WEAK_ID", 0.7)
    )
    write_pack("10.yaml", "pack: a\n" + recognizers + "rules:\n" + rules)
    got = {i.rule: (i.level, i.field, i.message) for i in lint([tmp_path], KNOWN, reach=score_reach())}
    assert got == {
        "bank-only": (
            "warning",
            "min_score",
            "US_BANK_NUMBER (at most 0.4) never reaches min_score 0.5: the rule never fires",
        ),
        "bank-and-iban": (
            "warning",
            "min_score",
            "US_BANK_NUMBER (at most 0.4) never reaches min_score 0.5: it never adds a finding of this rule",
        ),
        "weak": (
            "warning",
            "min_score",
            "WEAK_ID (at most 0.3) never reaches min_score 0.5: the rule never fires",
        ),
        "hinted-high": (
            "warning",
            "min_score",
            "HINTED_ID (at most 0.65), WEAK_ID (at most 0.3) never reach min_score 0.7: the rule never fires",
        ),
    }


def test_disabled_and_shadowed_rules_warn(write_pack: Callable[[str, str], Path], tmp_path: Path) -> None:
    """A rule disabled by a later pack, or fully covered by an unconditional rule, is a warning."""
    ex = "    examples: {match: [a, b], no_match: [c, d]}\n"
    write_pack(
        "10.yaml",
        "pack: a\nrules:\n"
        + "  - id: any-card\n    desc: d\n    severity: high\n    entities: [CREDIT_CARD]\n"
        + ex
        + "  - id: card-in-export\n    desc: d\n    severity: medium\n    entities: [CREDIT_CARD]\n"
        + "    min_score: 0.8\n"
        + ex
        + "  - id: ssn\n    desc: d\n    severity: high\n    entities: [US_SSN]\n"
        + ex,
    )
    write_pack("20.yaml", "pack: b\ndisable: [ssn]\n")
    issues = lint([tmp_path], KNOWN)
    assert {(i.level, i.rule, i.field) for i in issues} == {
        ("warning", "card-in-export", "entities"),
        ("warning", "ssn", "enabled"),
    }
    assert any("fully shadowed by rule 'any-card'" in i.message for i in issues)


@pytest.mark.parametrize(
    "pattern",
    [
        r"\bEMP-\d{6}\b",
        r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){3,7}(?:[ ]?[A-Z0-9]{1,3})?\b",
        r"(?i)password\s*[:=]\s*\S+",
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"(?:ghp|gho|ghs)_[A-Za-z0-9]{36}",
        r"(a|b)+c",
        r"(?:\d{3}-)+\d{4}",
    ],
)
def test_safe_regexes_pass(pattern: str) -> None:
    """Ordinary recognizer patterns are neither compile errors nor backtracking risks."""
    assert compile_error(pattern) is None and backtracking_risk(pattern) is None


@pytest.mark.parametrize(
    "pattern",
    [
        r"(a+)+$",
        r"(.*)*x",
        r"(\w+\s?)+$",
        r"(?:a|ab)*c",
        r"(?:ab|\wb)*c",
        r"((ab)*)+",
        r"(x+x+)+y",
        r"(a|a?)+b",
    ],
)
def test_catastrophic_regexes_are_flagged(pattern: str) -> None:
    """Nested unbounded quantifiers and overlapping alternation under a quantifier are flagged."""
    assert backtracking_risk(pattern)
