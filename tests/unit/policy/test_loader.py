"""Loading, layering and compiling packs; every broken pack gives a one-line PolicyError."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.models import RecognizerSpec
from agent.policy import PolicyError, compile_policies, load_policies
from tests.unit.policy.conftest import BROKEN, KNOWN

SHIPPED = Path(__file__).resolve().parents[3] / "policies"
EX = "    examples: {match: [a, b], no_match: [c, d]}\n"

BASE = """\
pack: base
version: 1
rules:
  - id: card
    desc: cards
    severity: high
    entities: [CREDIT_CARD]
  - id: iban
    desc: ibans
    severity: medium
    entities: [IBAN_CODE]
    context: [holder]
"""


def test_shipped_packs_load_with_the_documented_entities() -> None:
    """The shipped packs load against the entities the classifier and index detectors provide."""
    ps = load_policies([SHIPPED], KNOWN)
    ids = [r.id for r in ps.rules]
    assert len(ids) == len(set(ids)) >= 15
    assert {"payment-card-number", "iban-customer", "private-key", "edm-customer-record"} <= set(ids)
    assert "CREDIT_CARD" in ps.entities() and len(ps.digest) == 64


def test_digest_is_stable_and_tracks_changes(write_pack: Callable[[str, str], Path]) -> None:
    """Loading twice gives the same digest; changing any effective field changes it."""
    p = write_pack("base.yaml", BASE)
    d1 = load_policies([p], KNOWN).digest
    assert load_policies([p], KNOWN).digest == d1
    write_pack("base.yaml", BASE.replace("severity: medium", "severity: low"))
    assert load_policies([p], KNOWN).digest != d1


def test_later_pack_disables_overrides_and_adds(
    write_pack: Callable[[str, str], Path], tmp_path: Path
) -> None:
    """A later file may disable a rule, replace fields of another by id, and add its own rules."""
    write_pack("10-base.yaml", BASE)
    write_pack(
        "50-local.yaml",
        """\
        pack: local
        disable: [card]
        override:
          - id: iban
            severity: critical
            context: [kontoinhaber]
        rules:
          - id: ssn
            desc: ssn
            severity: high
            entities: [US_SSN]
        """,
    )
    ps = load_policies([tmp_path], KNOWN)
    rules = {r.id: r for r in ps.rules}
    assert not rules["card"].enabled and ps.disabled_by == (("card", str(tmp_path / "50-local.yaml")),)
    assert rules["iban"].severity == "critical" and rules["iban"].context == ("kontoinhaber",)
    assert rules["iban"].desc == "ibans" and rules["iban"].pack == "base"  # untouched fields kept
    assert rules["ssn"].pack == "local"
    assert ps.entities() == frozenset({"IBAN_CODE", "US_SSN"})


def test_files_in_a_dir_load_sorted_by_name_and_dirs_in_given_order(
    write_pack: Callable[[str, str], Path], tmp_path: Path
) -> None:
    """Layering is deterministic: a dir's files sorted by name, then the next dir given."""
    write_pack("b.yaml", "pack: b\noverride: [{id: card, severity: low}]\n")
    write_pack("a.yaml", BASE)
    local = tmp_path / "local"
    local.mkdir()
    (local / "00-late.yaml").write_text("pack: late\noverride: [{id: card, severity: critical}]\n")
    ps = load_policies([tmp_path, local], KNOWN)
    assert {r.id: r.severity for r in ps.rules}["card"] == "critical"
    with pytest.raises(PolicyError, match="no earlier pack defines this rule"):
        load_policies([local, tmp_path], KNOWN)


def test_redefining_a_rule_in_a_later_pack_is_an_error(write_pack: Callable[[str, str], Path]) -> None:
    """Re-declaring an existing id (instead of overriding it) is rejected, naming the earlier file."""
    a = write_pack("a.yaml", BASE)
    b = write_pack("b.yaml", BASE.replace("pack: base", "pack: again"))
    with pytest.raises(PolicyError) as exc:
        load_policies([a, b], KNOWN)
    assert exc.value.rule == "card" and exc.value.field == "id" and str(a) in exc.value.message


def test_policy_error_is_one_line_naming_file_rule_field(write_pack: Callable[[str, str], Path]) -> None:
    """The error string follows "<file>: rule '<id>': field '<field>': <message> (did you mean ...?)"."""
    p = write_pack("x.yaml", BASE.replace("context: [holder]", "contxt: [holder]"))
    with pytest.raises(PolicyError) as exc:
        load_policies([p], KNOWN)
    assert (
        str(exc.value)
        == f"{p}: rule 'iban': field 'contxt': unknown field (did you mean 'context' or 'not_context'?)"
    )
    assert "\n" not in str(exc.value)
    assert (exc.value.file, exc.value.rule, exc.value.field, exc.value.suggestion) == (
        str(p),
        "iban",
        "contxt",
        "'context' or 'not_context'",
    )


def test_unknown_entity_suggests_close_matches_and_lists_known(
    write_pack: Callable[[str, str], Path],
) -> None:
    """A misspelt entity names the nearest known ones and the full list."""
    p = write_pack("x.yaml", BASE.replace("[IBAN_CODE]", "[IBAN]"))
    with pytest.raises(PolicyError) as exc:
        load_policies([p], KNOWN)
    assert exc.value.field == "entities" and "IBAN_CODE" in exc.value.suggestion
    assert "known: AWS_ACCESS_KEY" in exc.value.message


def test_ner_entities_load_without_a_model(write_pack: Callable[[str, str], Path]) -> None:
    """PERSON/LOCATION rules load when no recognizer produces them (lint only warns)."""
    p = write_pack("x.yaml", BASE.replace("[IBAN_CODE]", "[PERSON]"))
    ps, issues = compile_policies([p], KNOWN)
    assert ps is not None and "PERSON" in ps.entities()
    assert [(i.level, i.field) for i in issues] == [("warning", "entities")]


def test_custom_recognizer_compiles_to_spec_and_defines_an_entity(
    write_pack: Callable[[str, str], Path],
) -> None:
    """A YAML recognizer becomes a RecognizerSpec and its entity becomes usable in rules."""
    p = write_pack(
        "x.yaml",
        r"""
        pack: custom
        recognizers:
          - name: employee-id
            entity: EMPLOYEE_ID
            patterns: [{name: emp, regex: '\bEMP-\d{6}\b', score: 0.6}]
            context: [employee]
            validator: none
        rules:
          - id: employee-id
            desc: employee ids
            severity: medium
            entities: [EMPLOYEE_ID]
        """,
    )
    ps = load_policies([p], KNOWN)
    assert ps.recognizers == (
        RecognizerSpec(
            "employee-id", "EMPLOYEE_ID", (("emp", r"\bEMP-\d{6}\b", 0.6),), ("employee",), "none", 0.0
        ),
    )
    assert "EMPLOYEE_ID" in ps.entities()


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    """A policy path that does not exist is reported, not silently ignored."""
    with pytest.raises(PolicyError, match="no such policy file or directory"):
        load_policies([tmp_path / "nope"], KNOWN)


#: Broken fixtures that must not even load (lint-only problems load fine).
LOAD_ERRORS = {
    "invalid_yaml.yaml": ("", "", "invalid YAML at line"),
    "not_mapping.yaml": ("", "", "must be a mapping"),
    "unknown_field.yaml": ("card-rule", "min_scor", "unknown field"),
    "unknown_pack_field.yaml": ("", "rulez", "unknown field"),
    "unknown_entity.yaml": ("card-rule", "entities", "unknown entity 'CREDITCARD'"),
    "missing_desc.yaml": ("no-desc", "desc", "required field is missing"),
    "bad_severity.yaml": ("card-rule", "severity_by_zone.internal", "must be one of"),
    "bad_id.yaml": ("Card_Rule", "id", "kebab-case"),
    "bad_zone.yaml": ("card-rule", "zones.0", "must be one of"),
    "duplicate_id.yaml": ("card-rule", "id", "duplicate rule id"),
    "min_score_above_one.yaml": ("card-rule", "min_score", "above 1.0"),
    "empty_zones.yaml": ("card-rule", "zones", "applies nowhere"),
    "bad_regex.yaml": ("bad-regex", "patterns.0.regex", "does not compile"),
    "backtracking_regex.yaml": ("slow-regex", "patterns.0.regex", "nested quantifiers"),
    "backtracking_alternation.yaml": ("slow-alt", "patterns.0.regex", "overlapping alternation"),
    "backtracking_value_pattern.yaml": ("card-rule", "exceptions.value_patterns.0", "nested quantifiers"),
    "bad_value_pattern.yaml": ("card-rule", "exceptions.value_patterns.0", "does not compile"),
    "override_unknown.yaml": ("card-rul", "override", "no earlier pack"),
    "disable_unknown.yaml": ("card-rulez", "disable", "no earlier pack"),
    "bad_window.yaml": ("card-rule", "window", "exactly one of"),
    "missing_value_set.yaml": ("card-rule", "exceptions.value_sets.0", "cannot read"),
    "bad_recognizer_validator.yaml": ("emp-id", "validator", "must be one of"),
    "bad_trigger.yaml": ("emp-id", "trigger", "does not compile in re2"),
}


@pytest.mark.parametrize("name", sorted(LOAD_ERRORS))
def test_broken_pack_raises_policy_error(name: str) -> None:
    """Each broken fixture is rejected with the expected file, rule, field and message."""
    rule, field, message = LOAD_ERRORS[name]
    with pytest.raises(PolicyError) as exc:
        load_policies([BROKEN / name], KNOWN)
    assert exc.value.file == str(BROKEN / name)
    assert (exc.value.rule, exc.value.field) == (rule, field)
    assert message in exc.value.message
    assert "\n" not in str(exc.value) and "Traceback" not in str(exc.value)


def test_override_value_sets_resolve_next_to_the_overriding_file(
    write_pack: Callable[[str, str], Path], tmp_path: Path
) -> None:
    """A local pack's allow-list file is found next to that local pack, not next to the base pack."""
    base = write_pack("base.yaml", BASE)
    local_dir = tmp_path / "policies.d"
    local_dir.mkdir()
    (local_dir / "own-ibans.txt").write_text("DE36 1895 5597 9711 4710 49\n", encoding="utf-8")
    (local_dir / "50-local.yaml").write_text(
        "pack: local\noverride:\n  - id: iban\n    exceptions: {value_sets: [own-ibans.txt]}\n",
        encoding="utf-8",
    )
    ps = load_policies([base, local_dir], KNOWN)
    iban = next(r for r in ps.rules if r.id == "iban")
    assert iban.allow_values == frozenset({"DE36189555979711471049"})


def test_the_unscanned_rule_check_reads_packs_as_the_loader_does(tmp_path: Path) -> None:
    """with_unscanned_rule parses packs with the loader's safe YAML (libyaml's when there): a rule on
    UNSCANNED_CONTENT is found by id or entity, and a tag asking for a Python object builds nothing."""
    import yaml

    from agent.policy.shipped import UNSCANNED_PACK, default_policy_dirs, load_yaml, with_unscanned_rule

    shipped_rule = default_policy_dirs()[0] / UNSCANNED_PACK
    own = tmp_path / "own.yaml"
    own.write_text(BASE.replace("entities: [IBAN_CODE]", "entities: [UNSCANNED_CONTENT]"))
    assert with_unscanned_rule([own]) == [own]
    hostile = tmp_path / "hostile.yaml"
    marker = tmp_path / "constructed"
    hostile.write_text(f"rules: !!python/object/apply:os.system ['touch {marker}']\n")
    assert with_unscanned_rule([hostile]) == [shipped_rule, hostile]
    assert not marker.exists()
    with pytest.raises(yaml.YAMLError, match="python/object"):
        load_yaml(hostile.read_text())
    assert load_yaml(BASE) == yaml.safe_load(BASE)  # the same plain types, whichever parser
