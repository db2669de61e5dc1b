"""`dropwarden scan` kills a worker stuck in one file: the file is reported, the scan goes on (#14 item 10).

The hang is real, not a patched scan function. A policy pack that `policy lint` and `policy test`
accept carries a recognizer RE2 cannot run (it has a lookbehind), so it runs on Python's ``re``:
``(?<![A-Z])\\w+!``. The load-time backtracking check finds no nested or adjacent quantifier in it, yet
searched over a long run of word characters with no ``!`` it tries every start and every length:
quadratic time inside ``re``'s C matcher, where the extractor's cooperative deadline never runs.
Measured here, 300 KB of such text kept one scan busy for more than two minutes; each file below is
900 KB, hours of work. Without the hard kill this test runs into the subprocess timeout.
"""

from __future__ import annotations

import json
import random
import string
import subprocess
from pathlib import Path

import pytest

from agent.demo import group4, luhn_complete
from tests.helpers import assert_lint_accepts, scan_cli

pytestmark = pytest.mark.integration

CARD = group4(luhn_complete("45", 16, random.Random(11)))

PACK = """\
pack: shouting
version: 1
recognizers:
  - name: shout
    entity: SHOUTED_WORD
    patterns: [{name: shout, regex: '(?<![A-Z])\\w+!', score: 0.6}]
rules:
  - id: shouted-word
    desc: a word followed by an exclamation mark
    severity: low
    entities: [SHOUTED_WORD]
    examples: {match: ["stop!", "go now!"], no_match: ["stop.", "go now."]}
"""


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(policy dir, scan dir): two files that hang the regex, three ordinary ones around them."""
    base = tmp_path_factory.mktemp("hardkill")
    pol = base / "pol"
    pol.mkdir()
    (pol / "shouting.yaml").write_text(PACK)
    files = base / "drop"
    files.mkdir()
    rng = random.Random(5)
    for name in ("b-stuck.txt", "d-stuck.txt"):
        (files / name).write_text("".join(rng.choices(string.ascii_lowercase + string.digits, k=900_000)))
    (files / "a-card.txt").write_text(f"Customer: Lena Brunner\nCard number: {CARD}\nExpiry 09/29\n")
    (files / "c-plain.txt").write_text("Quarterly planning notes, nothing to report.\n")
    (files / "e-card.txt").write_text(f"Card on file for the client: {CARD}\n")
    return pol, files


def _scan(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    return scan_cli(*args, state_home=home)


def test_the_pack_is_accepted_by_lint(hostile: tuple[Path, Path]) -> None:
    """The hang needs no broken policy: the pack passes `policy lint`."""
    pol, _ = hostile
    assert_lint_accepts(pol)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_file_stuck_in_the_regex_engine_is_killed_and_the_scan_goes_on(
    hostile: tuple[Path, Path], tmp_path: Path, jobs: int
) -> None:
    pol, files = hostile
    args = ("--policies", "builtin", "--policies", str(pol), "--timeout", "1", "-j", str(jobs))
    done = _scan(*args, str(files), home=tmp_path)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert done.returncode == 1, done.stderr[-2000:]
    by_file: dict[str, list[dict]] = {}
    for r in records[:-1]:
        by_file.setdefault(Path(r["path"]).name, []).append(r)
    for stuck in ("b-stuck.txt", "d-stuck.txt"):
        errors = [r for r in by_file[stuck] if r["kind"] == "error"]
        assert [e["reason"] for e in errors] == ["timeout"]
        assert "worker was killed" in errors[0]["detail"]
        unscanned = [r for r in by_file[stuck] if r["kind"] == "finding"]
        assert [(f["entity"], f["severity"]) for f in unscanned] == [("UNSCANNED_CONTENT", "medium")]
    for carded in ("a-card.txt", "e-card.txt"):
        assert any(r.get("entity") == "CREDIT_CARD" for r in by_file[carded])
    assert "c-plain.txt" not in by_file
    summary = records[-1]
    assert summary["kind"] == "summary"
    assert summary["files"] == 5
    assert summary["errors"] == 2
    assert CARD not in done.stdout + done.stderr


def test_the_killed_files_count_toward_fail_on_unless_opted_out(
    hostile: tuple[Path, Path], tmp_path: Path
) -> None:
    """Only the stuck file is at or above --fail-on here: it fails the run; the opt-out flag passes it."""
    pol, files = hostile
    args = ("--policies", "builtin", "--policies", str(pol), "--timeout", "1", "--fail-on", "medium")
    only_stuck = [str(files / "b-stuck.txt"), str(files / "c-plain.txt")]
    assert _scan(*args, *only_stuck, home=tmp_path).returncode == 1
    assert _scan(*args, "--no-fail-on-unscanned", *only_stuck, home=tmp_path).returncode == 0
