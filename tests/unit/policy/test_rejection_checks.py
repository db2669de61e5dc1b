"""The scan asks each rule only the checks its fields can fail (applicable_checks): the same first
rejection reason as asking every check, for every shipped rule and a pack that sets every field."""

from __future__ import annotations

from pathlib import Path

from agent.classify import Classifier
from agent.policy import load_policies
from agent.policy.evaluate import _CHECKS, applicable_checks, rejection
from agent.policy.shipped import default_policy_dirs
from tests.unit.policy.conftest import KNOWN, make_detection

EVERY_FIELD = """pack: every-field
version: 1
rules:
  - id: all
    desc: every check set
    severity: high
    entities: [IBAN_CODE, CREDIT_CARD, PHONE_NUMBER, EDM_MATCH]
    min_score: 0.5
    context: [customer, kunde]
    window: {chars: 60}
    not_context: [example]
    not_context_window: {tokens: 4}
    attributes: {role: [customer]}
    min_attributes: {fields: 2}
    exceptions:
      values: ["DE89 3704 0044 0532 0130 00"]
      value_patterns: ["^4111"]
"""
TEXTS = (
    "Customer Anna Muster, IBAN DE89 3704 0044 0532 0130 00, card 4111 1111 1111 1111, +41 44 668 18 00",
    "Example only: customer IBAN GB33 BUKB 2020 1555 5555 55 card 5555 5555 5555 4444 phone +41 44 668 18 00",
    "Kunde Hans Meier, IBAN CH93 0076 2011 6238 5295 7 card 4000 0566 5566 5556 tel +49 30 901820",
)
VALUES = {
    "IBAN_CODE": ("DE89 3704 0044 0532 0130 00", "GB33 BUKB 2020 1555 5555 55", "CH93 0076 2011 6238 5295 7"),
    "CREDIT_CARD": ("4111 1111 1111 1111", "5555 5555 5555 4444", "4000 0566 5566 5556"),
    "PHONE_NUMBER": ("+41 44 668 18 00", "+41 44 668 18 00", "+49 30 901820"),
}
ATTRIBUTES = (
    (),
    (("role", "customer"),),
    (("role", "own"), ("fields", "3")),
    (("role", "customer"), ("fields", "3")),
    (("filtered_by", "test-card"),),
)


def _detections():
    for text, i in zip(TEXTS, range(3), strict=True):
        for entity, values in {**VALUES, "EDM_MATCH": VALUES["IBAN_CODE"]}.items():
            for score in (0.2, 0.95):
                for attributes in ATTRIBUTES:
                    yield make_detection(text, values[i], entity, score, attributes=attributes)


def test_applicable_checks_reject_as_every_check(tmp_path: Path) -> None:
    pack = tmp_path / "every.yaml"
    pack.write_text(EVERY_FIELD, encoding="utf-8")
    shipped = load_policies(default_policy_dirs(), Classifier.known_entities() | KNOWN)
    rules = (*shipped.rules, *load_policies([pack], KNOWN).rules)
    detections = list(_detections())
    reasons, dropped = set(), 0
    for rule in rules:
        checks = applicable_checks(rule)
        dropped += len(_CHECKS) - len(checks)
        for d in detections:
            reason = rejection(rule, d)
            assert rejection(rule, d, checks=checks) == reason, (rule.id, d.entity, d.score, d.attributes)
            reasons.add(reason.split(" ")[0] if reason else None)
    assert applicable_checks(rules[-1]) == _CHECKS  # a rule that sets every field is asked everything
    assert dropped > 0
    assert reasons == {None, "score", "attribute", "allow-listed", "no", "not_context", "dropped"}, reasons
