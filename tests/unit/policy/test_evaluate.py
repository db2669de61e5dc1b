"""The evaluator is a pure function: every decision path is tested with hand-built detections."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.models import Detection
from agent.policy import DocContext, PolicySet, evaluate, load_policies
from agent.redact import Redactor
from tests.unit.policy.conftest import KNOWN, make_detection

DOC = DocContext(path="/srv/drop/file.txt", member=None, zone="drop", role="contractor-drop")
IBAN = "DE36 1895 5597 9711 4710 49"
IBAN2 = "AT33 1760 3137 2159 0109"
IBAN3 = "NL11ERDL9013962459"
EX = '      examples: {match: ["a", "b"], no_match: ["c", "d"]}\n'


def pack(tmp_path: Path, rules: str, name: str = "p.yaml", extra: str = "") -> PolicySet:
    path = tmp_path / name
    path.write_text("pack: test-pack\nversion: 1\n" + extra + "rules:\n" + rules, encoding="utf-8")
    return load_policies([path], KNOWN)


def rule(rid: str = "r", entity: str = "IBAN_CODE", extra: str = "", severity: str = "high") -> str:
    return f"  - id: {rid}\n    desc: test\n    severity: {severity}\n    entities: [{entity}]\n" + "".join(
        f"    {line}\n" for line in extra.strip("\n").splitlines() if line
    )


def run(ps: PolicySet, dets: list[Detection], doc: DocContext = DOC, explain: bool = True):
    return evaluate(dets, doc, ps, Redactor(b"k" * 32), explain=explain)


def reasons(ev, rid: str = "r") -> list[str]:
    return [d.reason for d in ev.decisions if d.rule == rid]


def test_accepted_detection_becomes_a_safe_finding(tmp_path: Path, redactor: Redactor) -> None:
    """An accepted detection yields a Finding: pack, rule, severity, masked excerpt, keyed fingerprint."""
    ps = pack(tmp_path, rule(extra="tags: [bank]\nactions: [alert, quarantine]"))
    text = f"Account holder: Jane Roe, IBAN {IBAN}"
    ev = run(ps, [make_detection(text, IBAN)])
    (f,) = ev.findings
    assert (f.policy, f.rule, f.entity, f.severity, f.count) == ("test-pack", "r", "IBAN_CODE", "high", 1)
    assert f.tags == ("bank",) and f.actions == ("alert", "quarantine") and f.desc == "test"
    assert f.fingerprint == redactor.fingerprint("IBAN_CODE", IBAN)
    assert "1895 5597" not in f.excerpt and "DE36" in f.excerpt and "holder" in f.excerpt
    assert (f.path, f.zone, f.line) == (DOC.path, "drop", 1)
    assert "5597" not in repr(ev)


def test_below_min_score_is_rejected_with_reason(tmp_path: Path) -> None:
    """A score under min_score produces no finding and explains the numbers."""
    ps = pack(tmp_path, rule(extra="min_score: 0.8"))
    ev = run(ps, [make_detection(IBAN, IBAN, score=0.79)])
    assert not ev.findings
    assert reasons(ev) == ["score 0.79 below min_score 0.80"]
    assert run(ps, [make_detection(IBAN, IBAN, score=0.8)]).findings


def test_context_word_within_char_window(tmp_path: Path) -> None:
    """A required context word counts only inside the window, on either side of the value."""
    ps = pack(tmp_path, rule(extra="context: [account holder]\nwindow: {chars: 40}"))
    near_before = f"Account holder: J. Roe. IBAN {IBAN}"
    near_after = f"IBAN {IBAN} (account holder J. Roe)"
    far = "Account holder: J. Roe." + " " * 60 + f"IBAN {IBAN}"
    assert run(ps, [make_detection(near_before, IBAN)]).findings
    assert run(ps, [make_detection(near_after, IBAN)]).findings
    ev = run(ps, [make_detection(far, IBAN)])
    assert not ev.findings and reasons(ev) == ["no context word within 40 chars"]


def test_context_word_within_token_window(tmp_path: Path) -> None:
    """A tokens window counts words, not characters, so long words do not push context out."""
    ps = pack(tmp_path, rule(extra="context: [kunde]\nwindow: {tokens: 3}"))
    assert run(ps, [make_detection(f"Kunde Hans Muster {IBAN}", IBAN)]).findings
    assert not run(ps, [make_detection(f"Kunde Hans Peter Muster {IBAN}", IBAN)]).findings


@pytest.mark.parametrize(
    ("text", "accepted"),
    [
        (f"RELEVÉ de compte: {IBAN}", True),  # case and accents folded
        (f"releve de compte: {IBAN}", True),
        (f"client_name=Jane iban={IBAN}", True),  # underscores separate words
        (f'{{"clientName": "Jane", "iban": "{IBAN}"}}', True),  # so does camelCase
        (f"Placeholder {IBAN}", False),  # whole words: "holder" is not in "placeholder"
        (f"Holders {IBAN}", False),
        (f"releve {IBAN}", False),  # a multi-word phrase needs all its words
        (f"Holder {IBAN}", True),
    ],
)
def test_context_matching_is_whole_word_case_and_accent_insensitive(
    tmp_path: Path, text: str, accepted: bool
) -> None:
    """Context words match whole words and phrases, ignoring case, accents and punctuation."""
    ps = pack(tmp_path, rule(extra="context: [holder, client, relevé de compte]"))
    assert bool(run(ps, [make_detection(text, IBAN)]).findings) is accepted


def test_a_phrase_cannot_span_the_value(tmp_path: Path) -> None:
    """Words before and after the value never join into one phrase ("pay" IBAN "to")."""
    ps = pack(tmp_path, rule(extra="context: [pay to]"))
    assert not run(ps, [make_detection(f"pay {IBAN} to", IBAN)]).findings


def test_not_context_vetoes(tmp_path: Path) -> None:
    """A not_context word within its window rejects an otherwise accepted value."""
    ps = pack(
        tmp_path,
        rule(extra="context: [customer]\nnot_context: [pay to, zahlbar an]\nnot_context_window: {chars: 30}"),
    )
    ev = run(ps, [make_detection(f"Customer 12. Zahlbar an: ACME, IBAN {IBAN}", IBAN)])
    assert not ev.findings and reasons(ev) == ["not_context word within 30 chars"]
    far = "Pay to ACME." + " " * 40 + f"Customer 12, IBAN {IBAN}"
    assert run(ps, [make_detection(far, IBAN)]).findings


def test_exception_values_are_compared_normalised(tmp_path: Path) -> None:
    """An allow-listed value matches whatever its spacing, dashes or case."""
    ps = pack(tmp_path, rule(extra=f'exceptions: {{values: ["{IBAN}"]}}'))
    for shown in (IBAN.replace(" ", ""), IBAN.replace(" ", "-"), IBAN.lower()):
        ev = run(ps, [make_detection(f"x {shown}", shown)])
        assert not ev.findings and reasons(ev) == ["allow-listed value"]
    assert run(ps, [make_detection(IBAN2, IBAN2)]).findings


def test_exception_value_patterns(tmp_path: Path) -> None:
    """A value matching an exception regex (searched in the raw value) is not a finding."""
    ps = pack(tmp_path, rule(entity="AWS_ACCESS_KEY", extra='exceptions: {value_patterns: ["EXAMPLE$"]}'))
    ev = run(ps, [make_detection("AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY")])
    assert reasons(ev) == ["allow-listed value pattern"]
    assert run(
        ps, [make_detection("AKIA5WPFWHAE3MLTXZPP", "AKIA5WPFWHAE3MLTXZPP", "AWS_ACCESS_KEY")]
    ).findings


def test_exception_value_sets_file_relative_to_pack(tmp_path: Path) -> None:
    """value_sets reads allow-listed values from a file next to the pack, ignoring blanks and comments."""
    (tmp_path / "own-ibans.txt").write_text(f"# our accounts\n\n{IBAN}\n", encoding="utf-8")
    ps = pack(tmp_path, rule(extra="exceptions: {value_sets: [own-ibans.txt]}"))
    text = f"{IBAN} and {IBAN2}"
    ev = run(ps, [make_detection(text, IBAN), make_detection(text, IBAN2)])
    assert [f.fingerprint for f in ev.findings] == [Redactor(b"k" * 32).fingerprint("IBAN_CODE", IBAN2)]


def test_value_set_content_changes_the_digest(tmp_path: Path) -> None:
    """Editing an allow-list file changes PolicySet.digest, so files get rescanned."""
    allow = tmp_path / "own.txt"
    allow.write_text(IBAN + "\n", encoding="utf-8")
    d1 = pack(tmp_path, rule(extra="exceptions: {value_sets: [own.txt]}")).digest
    allow.write_text(IBAN2 + "\n", encoding="utf-8")
    assert pack(tmp_path, rule(extra="exceptions: {value_sets: [own.txt]}")).digest != d1


@pytest.mark.parametrize(
    ("path", "member", "excepted"),
    [
        ("/srv/drop/test-data/cards.csv", None, True),
        ("/srv/drop/report.txt", None, False),
        ("/srv/drop/bundle.zip", "fixtures/test-data/cards.csv", True),
        ("/srv/drop/sample.csv", None, True),
    ],
)
def test_path_exceptions_match_path_or_member(
    tmp_path: Path, path: str, member: str | None, excepted: bool
) -> None:
    """Path globs apply to the file path, its name, and the archive member."""
    ps = pack(tmp_path, rule(extra='exceptions: {paths: ["*/test-data/*", "sample.*"]}'))
    doc = DocContext(path=path, member=member, zone=None, role="contractor-drop")
    ev = run(ps, [make_detection(IBAN, IBAN)], doc)
    assert (not ev.findings) is excepted
    if excepted:
        assert reasons(ev) == ["path exception"]


def test_zones_and_severity_by_zone(tmp_path: Path) -> None:
    """A rule applies only to its zone roles, with the severity its zone role gives."""
    ps = pack(
        tmp_path,
        rule(
            extra="zones: [contractor-drop, internal]\nseverity_by_zone: {internal: low}", severity="critical"
        ),
    )
    d = [make_detection(IBAN, IBAN)]
    sev = {
        role: [f.severity for f in run(ps, d, DocContext("/f", None, None, role)).findings]
        for role in ("contractor-drop", "internal", "outbound")
    }
    assert sev == {"contractor-drop": ["critical"], "internal": ["low"], "outbound": []}
    ev = run(ps, d, DocContext("/f", None, None, "outbound"))
    assert reasons(ev) == ["zone role 'outbound' not applicable"]


def test_min_count_counts_distinct_values_only(tmp_path: Path) -> None:
    """Three spellings of one IBAN are one value; three different IBANs make one bulk finding."""
    ps = pack(tmp_path, rule(extra="min_count: 3"))
    same = [IBAN, IBAN.replace(" ", ""), IBAN.replace(" ", "-")]
    text = " ; ".join(same)
    ev = run(ps, [make_detection(text, v) for v in same])
    assert not ev.findings
    assert set(reasons(ev)) == {"min_count not reached (1 of 3 distinct values)"}
    text = " ; ".join([IBAN, IBAN2, IBAN3, IBAN])
    dets = [make_detection(text, v) for v in (IBAN, IBAN2, IBAN3)] + [
        make_detection(text, IBAN, occurrence=1)
    ]
    (f,) = run(ps, dets).findings
    assert f.count == 3 and f.start == text.index(IBAN)


def test_repeated_value_gives_one_finding(tmp_path: Path) -> None:
    """With min_count 1, each distinct value is reported once, however often it repeats."""
    ps = pack(tmp_path, rule())
    text = f"{IBAN} {IBAN} {IBAN2}"
    dets = [make_detection(text, IBAN), make_detection(text, IBAN, occurrence=1), make_detection(text, IBAN2)]
    ev = run(ps, dets)
    assert len(ev.findings) == 2
    assert "accepted (repeat of a value)" in reasons(ev)


def test_attribute_filters(tmp_path: Path) -> None:
    """attributes requires one of the listed values; min_attributes a number at or above the minimum."""
    ps = pack(
        tmp_path,
        rule("strict", "CONFIDENTIAL_MARKING", "attributes: {level: [strict]}")
        + rule("edm", "EDM_MATCH", "min_attributes: {fields: 2}"),
    )

    def mk(entity: str, attrs: tuple[tuple[str, str], ...]) -> Detection:
        return make_detection("LABEL", "LABEL", entity, attributes=attrs)

    assert run(ps, [mk("CONFIDENTIAL_MARKING", (("level", "Strict"),))]).findings
    ev = run(ps, [mk("CONFIDENTIAL_MARKING", (("level", "internal"),))])
    assert not ev.findings and reasons(ev, "strict") == ["attribute level=internal not in ['strict']"]
    assert not run(ps, [mk("CONFIDENTIAL_MARKING", ())]).findings
    assert run(ps, [mk("EDM_MATCH", (("fields", "2"), ("records", "1")))]).findings
    ev = run(ps, [mk("EDM_MATCH", (("fields", "1"),))])
    assert reasons(ev, "edm") == ["attribute fields=1 below 2"]
    assert not run(ps, [mk("EDM_MATCH", (("fields", "many"),))]).findings


def test_disabled_rule_and_uncovered_entities_are_explained(tmp_path: Path) -> None:
    """A disabled rule yields nothing; explain still lists it, and entities no rule uses."""
    ps = pack(tmp_path, rule(extra="enabled: false"))
    ev = run(ps, [make_detection(IBAN, IBAN), make_detection("a@b.org", "a@b.org", "EMAIL_ADDRESS")])
    assert not ev.findings
    assert [(d.rule, d.reason) for d in ev.decisions] == [
        ("r", "rule disabled"),
        ("", "no enabled rule uses this entity"),
        ("", "no enabled rule uses this entity"),
    ]
    assert ps.entities() == frozenset()


def test_decisions_only_when_explaining(tmp_path: Path) -> None:
    """Without explain the evaluator records no decisions (the scan path stays lean)."""
    ps = pack(tmp_path, rule())
    ev = run(ps, [make_detection(IBAN, IBAN)], explain=False)
    assert ev.findings and ev.decisions == ()


def test_one_detection_can_match_several_rules(tmp_path: Path) -> None:
    """Each rule decides independently: one value may be low under one rule and high under another."""
    ps = pack(tmp_path, rule("any-iban", severity="low") + rule("customer-iban", extra="context: [holder]"))
    ev = run(ps, [make_detection(f"holder {IBAN}", IBAN)])
    assert sorted((f.rule, f.severity) for f in ev.findings) == [
        ("any-iban", "low"),
        ("customer-iban", "high"),
    ]


def test_missing_context_text_means_no_context(tmp_path: Path) -> None:
    """A detection without context text cannot satisfy a context rule (and does not crash)."""
    ps = pack(tmp_path, rule(extra="context: [holder]"))
    d = Detection("IBAN_CODE", 5, 10, 0.9, "t", "/f", None, 1, value=IBAN)
    assert not run(ps, [d]).findings


VALUES = [IBAN, IBAN2, IBAN3, "CH1984268465632122330", "GB24LPDD77774121547280"]


def _spell(value: str, style: int) -> str:
    compact = value.replace(" ", "")
    return [compact, " ".join(compact[i : i + 4] for i in range(0, len(compact), 4)), compact.lower()][style]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    picks=st.lists(st.tuples(st.integers(0, len(VALUES) - 1), st.integers(0, 2)), min_size=0, max_size=12),
    allowed=st.sets(st.integers(0, len(VALUES) - 1)),
    min_count=st.integers(1, 4),
    shuffle=st.randoms(use_true_random=False),
)
def test_property_allow_list_and_distinct_counting(
    tmp_path: Path, picks, allowed, min_count, shuffle
) -> None:
    """Any mix of spellings: allow-listed values never yield findings; min_count counts distinct values."""
    allow = ", ".join(f'"{VALUES[i]}"' for i in sorted(allowed))
    ps = pack(tmp_path, rule(extra=f"min_count: {min_count}\nexceptions: {{values: [{allow}]}}"))
    shown = [_spell(VALUES[i], s) for i, s in picks]
    text = " | ".join(shown)
    dets, pos = [], 0
    for s in shown:
        start = text.index(s, pos)
        pos = start + len(s)
        dets.append(Detection("IBAN_CODE", start, pos, 0.9, "t", "/f", None, 1, value=s, context=text))
    shuffle.shuffle(dets)
    ev = run(ps, dets)
    redactor = Redactor(b"k" * 32)
    allowed_fps = {redactor.fingerprint("IBAN_CODE", VALUES[i]) for i in allowed}
    assert not {f.fingerprint for f in ev.findings} & allowed_fps
    distinct = {i for i, _ in picks if i not in allowed}
    if len(distinct) >= min_count:
        assert len(ev.findings) == (len(distinct) if min_count == 1 else 1)
        assert all(f.count == (1 if min_count == 1 else len(distinct)) for f in ev.findings)
    else:
        assert ev.findings == ()
    assert ev.findings == run(ps, sorted(dets, key=lambda d: d.start)).findings  # order-independent


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    gap=st.integers(0, 120),
    after=st.booleans(),
    filler=st.sampled_from(["x", "-", " ", "ab ", "\n"]),
)
def test_property_context_window_boundary(tmp_path: Path, gap: int, after: bool, filler: str) -> None:
    """A context phrase is seen exactly when the text between it and the value fits in the window."""
    ps = pack(tmp_path, rule(extra="context: [account holder]\nwindow: {chars: 60}"))
    pad = (filler * gap)[:gap]
    text = f"{IBAN} {pad} account holder" if after else f"account holder {pad} {IBAN}"
    accepted = bool(run(ps, [make_detection(text, IBAN)]).findings)
    assert accepted is (len("account holder") + gap + 2 <= 60)
