"""The checked-packs cache: a hit returns exactly what the check found, any changed input is a miss,
and a state directory or entry that is not private and ours is never read (the check runs)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from pathlib import Path

import pytest

from agent.policy import checkcache
from agent.policy.checkcache import checked
from agent.policy.compiled import Issue
from agent.policy.lint import lint
from tests.unit.policy.conftest import KNOWN, pack_with_value_set
from tests.unit.policy.test_loader import SHIPPED

BROKEN = Path(__file__).parent / "broken"

PACK = """\
pack: local
rules:
  - id: card-rule
    desc: A test rule.
    severity: high
    entities: [CREDIT_CARD]
    exceptions:
      value_sets: [allow.txt]
    examples:
      match: ["a", "b"]
      no_match: ["c", "d"]
"""


class Runs:
    """The real lint, counting how often it had to run."""

    def __init__(self, paths: list[Path], known: frozenset[str] = KNOWN) -> None:
        self.paths, self.known, self.count = paths, known, 0

    def __call__(self, sources: checkcache.Sources) -> list[Issue]:
        self.count += 1
        return lint(self.paths, self.known, sources)

    def check(self, state: Path | None) -> list[Issue]:
        return checked("lint", self.paths, self.known, self, state)


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    return pack_with_value_set(tmp_path, PACK, "4111111111111111\n")


def test_a_hit_returns_what_the_check_found(state: Path) -> None:
    runs = Runs([SHIPPED, BROKEN])
    cold = runs.check(state)
    assert any(i.level == "error" for i in cold) and any(i.level == "warning" for i in cold)
    assert runs.check(state) == cold == lint([SHIPPED, BROKEN], KNOWN)
    assert runs.count == 1
    entry = state / "checked-packs-lint.json"
    assert entry.stat().st_mode & 0o777 == 0o600


def test_a_changed_pack_or_value_set_is_a_miss(state: Path, pack_dir: Path) -> None:
    runs = Runs([pack_dir])
    first = runs.check(state)
    assert runs.check(state) == first and runs.count == 1
    (pack_dir / "allow.txt").write_text("4111111111111111\n5500000000000004\n")
    runs.check(state)
    assert runs.count == 2  # the value set the check read changed
    (pack_dir / "allow.txt").unlink()
    missing = runs.check(state)
    assert runs.count == 3
    assert [i.field for i in missing if i.level == "error"] == ["exceptions.value_sets.0"]
    assert runs.check(state) == missing and runs.count == 3  # still missing: a hit
    (pack_dir / "allow.txt").write_text("x\n")
    assert runs.check(state) != missing and runs.count == 4  # back again: a miss
    (pack_dir / "local.yaml").write_text(PACK.replace("severity: high", "severity: extreme"))
    assert any(i.field == "severity" for i in runs.check(state))
    assert runs.count == 5
    (pack_dir / "more.yaml").write_text("pack: more\n")  # a new pack file
    runs.check(state)
    assert runs.count == 6


def test_entities_paths_and_code_are_in_the_key(
    state: Path, pack_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = Runs([pack_dir])
    runs.check(state)
    runs.known = KNOWN - {"CREDIT_CARD"}
    assert any("unknown entity 'CREDIT_CARD'" in i.message for i in runs.check(state))
    assert runs.count == 2
    runs.paths = [pack_dir / "local.yaml"]
    runs.check(state)
    assert runs.count == 3
    code = tmp_path / "code.py"
    code.write_text("A = 1\n")
    monkeypatch.setattr(checkcache, "CODE_FILES", (*checkcache.CODE_FILES, code))
    runs.check(state)
    assert runs.count == 4
    code.write_text("A = 2\n")
    runs.check(state)
    assert runs.count == 5
    assert checked("lint", runs.paths, runs.known, runs, state, inputs=[["US_BANK_NUMBER", 0.4]]) is not None
    assert runs.count == 6  # what else the check reads (lint: how high entities score) is in the key too
    checked("lint", runs.paths, runs.known, runs, state, inputs=[["US_BANK_NUMBER", 0.4]])
    assert runs.count == 6


def test_no_cache_without_a_private_directory_of_ours(tmp_path: Path, pack_dir: Path) -> None:
    runs = Runs([pack_dir])
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    link = tmp_path / "link"
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    link.symlink_to(private)
    for where in (open_dir, link, tmp_path / "absent", None):
        runs.check(where)
        runs.check(where)
    assert runs.count == 8
    assert list(open_dir.iterdir()) == [] and list(private.iterdir()) == []
    assert not (tmp_path / "absent").exists()


def _forge(state: Path, runs: Runs, change: dict[str, object]) -> None:
    """Rewrite the stored entry with the right key but other content, sealed again (the checks' entries
    are sealed with no key: what a writer of the file could do)."""
    entry = state / "checked-packs-lint.json"
    data = json.loads(entry.read_bytes().partition(b"\n")[2])
    data.update(change)
    body = json.dumps(data).encode()
    entry.write_bytes(hmac.new(checkcache.UNKEYED, body, hashlib.sha256).hexdigest().encode() + b"\n" + body)


@pytest.mark.parametrize(
    "change",
    [
        {"value": [["f", "r", "x", "m", "", "fatal"]]},  # not a level
        {"value": [["f", "r", "x", "m"]]},  # not six strings
        {"value": "all clear"},
        {"reads": {"/nonexistent/allow.txt": "sha256:00"}},  # a read that no longer gives that
        {"format": 0},
        {"key": "0" * 64},
    ],
    ids=["level", "row", "issues", "reads", "format", "key"],
)
def test_a_malformed_or_stale_entry_is_a_miss(state: Path, pack_dir: Path, change: dict[str, object]) -> None:
    runs = Runs([pack_dir])
    first = runs.check(state)
    _forge(state, runs, change)
    (state / "checked-packs-lint.json").chmod(0o600)
    assert runs.check(state) == first
    assert runs.count == 2


def test_an_entry_that_is_not_a_private_regular_file_is_not_read(state: Path, pack_dir: Path) -> None:
    runs = Runs([pack_dir])
    first = runs.check(state)
    entry = state / "checked-packs-lint.json"
    forged = [["x", "y", "z", "forged", "", "error"]]
    _forge(state, runs, {"value": forged})
    entry.chmod(0o644)  # readable by others: not ours to trust
    assert runs.check(state) == first and runs.count == 2
    assert entry.stat().st_mode & 0o777 == 0o600  # rewritten in place, private
    target = state.parent / "elsewhere.json"
    entry.rename(target)
    entry.symlink_to(target)
    assert runs.check(state) == first and runs.count == 3
    entry.unlink()
    os.mkfifo(entry, 0o600)  # a FIFO must not block the check
    assert runs.check(state) == first and runs.count == 4


def test_given_sources_are_the_only_files_read(state: Path, pack_dir: Path) -> None:
    """With verified sources (require_signed) the check reads nothing else, as the loader does."""
    pack = pack_dir / "local.yaml"
    sources = {pack: pack.read_bytes()}  # the value set is not among them
    runs = Runs([pack_dir])
    issues = checked("lint", [pack_dir], KNOWN, runs, state, sources)
    assert [i.message for i in issues if i.field == "exceptions.value_sets.0"] == [
        f"cannot read {pack_dir / 'allow.txt'}: not among the verified sources"
    ]
    assert checked("lint", [pack_dir], KNOWN, runs, state, sources) == issues
    assert runs.count == 1
    sources[pack_dir / "allow.txt"] = b"4111111111111111\n"
    assert checked("lint", [pack_dir], KNOWN, runs, state, sources) != issues
    assert runs.count == 2


def test_no_cache_when_the_checking_code_cannot_be_read(
    state: Path, pack_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(checkcache, "CODE_FILES", (*checkcache.CODE_FILES, tmp_path / "gone.py"))
    runs = Runs([pack_dir])
    runs.check(state)
    runs.check(state)
    assert runs.count == 2
    assert list(state.iterdir()) == []


def test_an_entry_nested_too_deep_is_a_miss(state: Path, pack_dir: Path) -> None:
    runs = Runs([pack_dir])
    first = runs.check(state)
    entry = state / "checked-packs-lint.json"
    entry.write_text("[" * 100_000 + "]" * 100_000)
    entry.chmod(0o600)
    assert runs.check(state) == first and runs.count == 2


def test_the_check_runs_without_the_cyclic_collector(state: Path, pack_dir: Path) -> None:
    import gc

    seen = []

    def check(sources: checkcache.Sources) -> list[Issue]:
        seen.append(gc.isenabled())
        return lint([pack_dir], KNOWN, sources)

    assert gc.isenabled()
    checked("lint", [pack_dir], KNOWN, check, state)
    checked("lint", [pack_dir], KNOWN, check, None)
    assert seen == [False, False]
    assert gc.isenabled()
