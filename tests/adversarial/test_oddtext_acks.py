"""An acknowledgement written from an alert about a name that is not UTF-8: the operator copies the
path the alert shows (undecodable bytes as \\xNN); the finding carries the name as decoded (lone
surrogates). The entry must cover the finding either way, and a glob over the odd part still works."""

from __future__ import annotations

from datetime import date, timedelta

from agent.models import Finding
from agent.policy.acks import AckSet, parse_acks
from agent.redact import shown

FP = "hmac-sha256:5585f0bad5f90ffa13234d3735aa981c"
#: As the pipeline holds it: os.fsdecode of b"/srv/drop/dir-\xff\xfe/caf\xe9 \xed\xa0\x80.txt".
DECODED = "/srv/drop/dir-\udcff\udcfe/caf\udce9 \udced\udca0\udc80.txt"


def _finding(path: str) -> Finding:
    return Finding(
        path=path, member=None, policy="bank-secrecy", rule="iban-customer", entity="IBAN_CODE",
        severity="high", score=1.0, line=1, start=0, end=4, excerpt="[****]", fingerprint=FP,
    )  # fmt: skip


def _acks(glob: str) -> AckSet:
    entry = {"rule": "iban-customer", "fingerprint": FP, "reason": "payroll", "author": "alice",
             "expires": date.today() + timedelta(days=2), "path": glob}  # fmt: skip
    return parse_acks({"acknowledged": [entry]}, "acks.yaml")


def test_the_path_an_alert_shows_acknowledges_its_finding() -> None:
    pasted = shown(DECODED)
    assert pasted == "/srv/drop/dir-\\xff\\xfe/caf\\xe9 \\xed\\xa0\\x80.txt"
    assert _acks(pasted).match(_finding(DECODED)) is not None


def test_a_glob_over_the_undecodable_part_and_no_false_match() -> None:
    assert _acks("/srv/drop/dir-*/caf*.txt").match(_finding(DECODED)) is not None
    assert _acks(shown(DECODED)).match(_finding("/srv/drop/dir-xx/cafe.txt")) is None
