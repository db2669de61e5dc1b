"""The acknowledgement file: validation naming the field, matching, expiry, and `dropwarden ack`."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from agent.cli import main
from agent.models import Finding
from agent.policy.acks import AckError, load_acks, parse_acks
from tests.unit.operator.conftest import write_config

FP = "hmac-sha256:5585f0bad5f90ffa13234d3735aa981c"


def _finding(path: str = "/srv/drop/a.txt", rule: str = "iban-customer", fp: str = FP) -> Finding:
    return Finding(
        path=path, member=None, policy="bank-secrecy", rule=rule, entity="IBAN_CODE", severity="high",
        score=1.0, line=1, start=0, end=4, excerpt="[****]", fingerprint=fp,
    )  # fmt: skip


def _entry(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "rule": "iban-customer", "fingerprint": FP, "reason": "payroll", "author": "alice",
        "expires": date.today() + timedelta(days=2),
    }  # fmt: skip
    return {**base, **changes}


def test_match_by_rule_fingerprint_and_glob() -> None:
    acks = parse_acks({"acknowledged": [_entry(path="/srv/drop/finance/*")]}, "acks.yaml")
    assert acks.match(_finding("/srv/drop/finance/pay.csv")) is not None
    assert acks.match(_finding("/srv/drop/other/pay.csv")) is None
    assert acks.match(_finding("/srv/drop/finance/pay.csv", rule="iban-bulk")) is None
    assert acks.match(_finding("/srv/drop/finance/pay.csv", fp="hmac-sha256:00ff")) is None


def test_a_date_is_valid_through_that_day_and_a_timestamp_to_the_second() -> None:
    today = datetime.now(UTC).date()
    acks = parse_acks({"acknowledged": [_entry(expires=today)]}, "a")
    assert acks.match(_finding()) is not None
    tomorrow = datetime.combine(today + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    assert acks.match(_finding(), now=tomorrow) is None
    past = parse_acks({"acknowledged": [_entry(expires="2020-01-01T10:00:00Z")]}, "a")
    assert past.match(_finding()) is None
    assert len(past.expired_ids()) == 1


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"rule": "x"}, "acknowledged.0.fingerprint"),
        (_entry(reason=""), "acknowledged.0.reason"),
        (_entry(fingerprint="not a fingerprint"), "acknowledged.0.fingerprint"),
        (_entry(expires="someday"), "acknowledged.0.expires"),
        (_entry(colour="red"), "acknowledged.0.colour"),
    ],
)
def test_invalid_entries_name_the_field(entry: dict[str, object], field: str) -> None:
    with pytest.raises(AckError, match=f"^acks.yaml: {field}: "):
        parse_acks({"acknowledged": [entry]}, "acks.yaml")


def test_missing_file_is_empty_and_broken_yaml_is_an_error(tmp_path: Path) -> None:
    assert load_acks(tmp_path / "none.yaml").entries == ()
    (tmp_path / "bad.yaml").write_text("acknowledged: [\n")
    with pytest.raises(AckError, match="invalid YAML"):
        load_acks(tmp_path / "bad.yaml")


def test_ack_cli_add_list_expire_with_audit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ack_file = tmp_path / "acknowledged.yaml"
    cfg = write_config(tmp_path, acknowledged=str(ack_file))
    add = ["ack", "add", "--config", str(cfg), "--rule", "iban-customer", "--fingerprint", FP]
    add += ["--reason", "payroll run, TICKET-9", "--author", "alice", "--expires", "2999-12-31"]
    assert main(add) == 0
    ack_id = capsys.readouterr().out.split()[1]
    data = yaml.safe_load(ack_file.read_text())
    assert data["acknowledged"][0]["id"] == ack_id
    assert data["acknowledged"][0]["expires"] == "2999-12-31"
    assert main(["ack", "list", "--config", str(cfg)]) == 0
    assert ack_id in capsys.readouterr().out
    assert main(["ack", "expire", ack_id, "--author", "bob", "--config", str(cfg)]) == 0
    assert main(["ack", "list", "--config", str(cfg)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no acknowledged findings"
    assert main(["ack", "list", "--all", "--config", str(cfg)]) == 0
    assert "expired" in capsys.readouterr().out
    assert main(["ack", "expire", "000000000000", "--author", "bob", "--config", str(cfg)]) == 1
    audit = [json.loads(x) for x in (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
    assert [(e["event"], e["fields"]["id"]) for e in audit] == [
        ("ack_added", ack_id),
        ("ack_expired", ack_id),
    ]
    assert audit[0]["fields"]["author"] == "alice"
    assert audit[1]["fields"]["author"] == "bob"


def test_ack_cli_refuses_a_bad_expiry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_config(tmp_path, acknowledged=str(tmp_path / "acknowledged.yaml"))
    argv = ["ack", "add", "--config", str(cfg), "--rule", "r", "--fingerprint", FP, "--reason", "x"]
    assert main([*argv, "--author", "a", "--expires", "next week"]) == 2
    assert "--expires 'next week'" in capsys.readouterr().err
    assert not (tmp_path / "acknowledged.yaml").exists()
