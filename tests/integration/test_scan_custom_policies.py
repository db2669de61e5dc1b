"""`scan --policies DIR`: a custom policy directory never makes unreadable files clean (#14 item 5).

The shipped ``unscanned-content`` rule is layered under custom packs that have no rule of their own
on UNSCANNED_CONTENT; they can still tune or disable it explicitly, and ``--no-fail-on-unscanned``
keeps its meaning. Before, ``--policies DIR`` dropped the rule: a malformed zip was an error line and
exit 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.policy.shipped import UNSCANNED_PACK, default_policy_dirs, with_unscanned_rule
from tests.helpers import scan_cli

pytestmark = pytest.mark.integration

OWN_PACK = """\
pack: house
version: 1
recognizers:
  - name: employee-id
    entity: EMPLOYEE_ID
    patterns: [{name: emp, regex: '\\bEMP-\\d{6}\\b', score: 0.6}]
rules:
  - id: employee-id
    desc: an employee number
    severity: low
    entities: [EMPLOYEE_ID]
    examples: {match: ["EMP-104233", "id EMP-554433"], no_match: ["EMP-12", "EMP 104233"]}
"""


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path]:
    pol = tmp_path / "pol"
    pol.mkdir()
    (pol / "house.yaml").write_text(OWN_PACK)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00garbage" * 8)
    (drop / "staff.txt").write_text("Badge EMP-104233 issued.\n")
    return pol, drop


def _scan(tmp_path: Path, *args: str) -> tuple[int, list[dict]]:
    done = scan_cli(*args, state_home=tmp_path)
    assert done.returncode in (0, 1), done.stderr[-2000:]
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()]


def _unscanned(records: list[dict]) -> list[tuple[str, str, str]]:
    return [
        (Path(r["path"]).name, r["rule"], r["excerpt"])
        for r in records
        if r.get("entity") == "UNSCANNED_CONTENT"
    ]


def test_a_custom_policy_dir_still_alerts_on_unreadable_files(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    pol, drop = setup
    rc, records = _scan(tmp_path, "--policies", str(pol), str(drop))
    assert _unscanned(records) == [("broken.zip", "unscanned-content", "not read completely: malformed")]
    assert any(r.get("rule") == "employee-id" for r in records)  # the custom pack is in force
    assert rc == 1
    rc, records = _scan(tmp_path, "--policies", str(pol), "--no-fail-on-unscanned", str(drop))
    assert _unscanned(records)  # still reported, only not counted
    assert rc == 0


def test_a_copy_of_the_shipped_pack_is_not_loaded_twice(setup: tuple[Path, Path], tmp_path: Path) -> None:
    """Packs copied from the shipped set (unscanned.yaml among them) load as they are: one rule, one hit."""
    pol, drop = setup
    shipped = default_policy_dirs()[0] / UNSCANNED_PACK
    (pol / UNSCANNED_PACK).write_text(shipped.read_text().replace("severity: medium", "severity: high"))
    rc, records = _scan(tmp_path, "--policies", str(pol), str(drop))
    assert [(r["rule"], r["severity"]) for r in records if r.get("entity") == "UNSCANNED_CONTENT"] == [
        ("unscanned-content", "high")
    ]
    assert rc == 1


def test_a_custom_pack_can_still_disable_the_rule_explicitly(
    setup: tuple[Path, Path], tmp_path: Path
) -> None:
    pol, drop = setup
    (pol / "zz-quiet.yaml").write_text("pack: quiet\nversion: 1\ndisable: [unscanned-content]\n")
    rc, records = _scan(tmp_path, "--policies", str(pol), str(drop))
    assert _unscanned(records) == []
    assert [r["reason"] for r in records if r["kind"] == "error"] == ["malformed"]  # the error line stays
    assert rc == 0


def test_layering_leaves_builtin_and_own_equivalents_alone(tmp_path: Path) -> None:
    """The shipped dirs and a pack with its own UNSCANNED_CONTENT rule get nothing added."""
    shipped = default_policy_dirs()
    assert with_unscanned_rule(shipped) == shipped
    own = tmp_path / "own.yaml"
    own.write_text(
        "pack: own\nversion: 1\nrules:\n  - {id: unread, desc: x, entities: [UNSCANNED_CONTENT]}\n"
    )
    assert with_unscanned_rule([own]) == [own]
    other = tmp_path / "other.yaml"
    other.write_text(OWN_PACK)
    assert with_unscanned_rule([other]) == [shipped[0] / UNSCANNED_PACK, other]
