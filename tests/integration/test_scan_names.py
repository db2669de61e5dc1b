"""`dropwarden scan`: a name that is slow to classify costs its file, never the scan, and no output
shows a value from a name, whether its worker was killed, died, or never got to mask it.

The slowness is real. A policy pack that `policy lint` accepts carries a recognizer RE2 cannot run (a
lookbehind), so it runs on Python's ``re``: ``(?<!#)\\S+x\\S+x\\S+!``. The load-time backtracking check
sees no adjacent overlapping quantifiers (a required ``x`` lies between them), yet over a run of
non-space characters holding many ``x`` and no ``!`` it tries every split: quartic time inside ``re``'s
C matcher. Measured here, masking a 400-character name took 2.8 CPU s; the names below are ~3000
characters (folders of 200 ``x`` under the scan root), so masking one would take days.

Before, the scan's parent masked the name of a file whose worker was killed by classifying it itself,
with no deadline (and the paths of walk errors too): these scans hung until the subprocess timeout.
Now each worker masks the name before reading the file (the per-file budget covers it), and a name
whose masking was killed is withheld: ``<scan root>/[name withheld: <keyed digest>]``, as the
daemon's alerts show it (agent.daemon.outcome.withheld_path).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

from agent.demo import group4, luhn_complete
from tests.helpers import SLOW_NAME_PACK, assert_lint_accepts, scan_cli

pytestmark = pytest.mark.integration

CARD = group4(luhn_complete("45", 16, random.Random(29)))
MIDDLE = CARD.split()[1:3]  # the digits a masked card never shows
DEEP = "x" * 200  # one folder name; 15 of them make the name slow to mask
WITHHELD = re.compile(r"/\[name withheld: [0-9a-f]{16}\]$")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(policy dir, scan dir). In the scan dir, in walk order: a plain file; a file named after a card
    whose content hangs the regex (its worker is killed mid-file, after it masked the name); a file
    with a card inside; deep under slow folder names, a FIFO (a walk error) and a file, both named
    after the card."""
    base = tmp_path_factory.mktemp("names")
    pol, drop = base / "pol", base / "drop"
    deep = drop.joinpath(*[DEEP] * 15)
    for d in (pol, deep):
        d.mkdir(parents=True)
    (pol / "exclaim.yaml").write_text(SLOW_NAME_PACK)
    (drop / "a-plain.txt").write_text("Quarterly planning notes, nothing to report.\n")
    (drop / f"card {CARD} stuck.txt").write_text("x" * 5000)
    (drop / "e-card.txt").write_text(f"Card on file for the client: {CARD}\n")
    (deep / f"card {CARD}.txt").write_text("Minutes of the weekly meeting.\n")
    os.mkfifo(deep / f"pipe {CARD}")
    only = base / "slow"
    only.joinpath(*[DEEP] * 15).mkdir(parents=True)
    only.joinpath(*[DEEP] * 15, f"card {CARD}.txt").write_text("Minutes of the weekly meeting.\n")
    return pol, drop


def _scan(pol: Path, *args: str, home: Path, fmt: str = "jsonl") -> subprocess.CompletedProcess[str]:
    """The scan with the pack and a 1 s per-file timeout (killed at 2 s), well before the 240 s that a
    scan stalled in its parent runs into."""
    policies = ("--policies", "builtin", "--policies", str(pol))
    return scan_cli("--format", fmt, *policies, "--timeout", "1", *args, state_home=home)


def _no_value_shown(done: subprocess.CompletedProcess[str]) -> None:
    for text in (done.stdout, done.stderr):
        assert CARD not in text
        assert CARD.replace(" ", "") not in text
        assert " ".join(MIDDLE) not in text
        assert DEEP not in text  # a withheld name echoes nothing of what lies below the root


def test_the_pack_is_accepted_by_lint(hostile: tuple[Path, Path]) -> None:
    """The slowness needs no broken policy: the pack passes `policy lint`."""
    pol, _ = hostile
    assert_lint_accepts(pol)


@pytest.mark.slow
@pytest.mark.parametrize("jobs", [1, 2])
def test_slow_names_are_withheld_killed_files_keep_their_masked_name(
    hostile: tuple[Path, Path], tmp_path: Path, jobs: int
) -> None:
    pol, drop = hostile
    done = _scan(pol, "-j", str(jobs), str(drop), home=tmp_path)
    assert done.returncode == 1, done.stderr[-2000:]
    _no_value_shown(done)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    kinds = [(r["kind"], r.get("reason") or r.get("entity")) for r in records]
    # walk errors first, then the files in walk order, the summary last: as before
    assert kinds == [
        ("error", "not_regular_file"),  # the FIFO under the slow folders
        ("finding", "UNSCANNED_CONTENT"),  # the file whose content hung
        ("error", "timeout"),
        ("finding", "CREDIT_CARD"),  # e-card.txt
        ("finding", "UNSCANNED_CONTENT"),  # the file under the slow folders
        ("error", "timeout"),
        ("summary", None),
    ]
    fifo, stuck_finding, stuck_error, card, deep_finding, deep_error, summary = records
    assert summary["files"] == 4
    assert summary["errors"] == 3
    # killed mid-file after its worker masked the name: the card is masked, the rest of the name kept
    assert (
        stuck_finding["path"]
        == stuck_error["path"]
        == f"{drop}/card {CARD[:4]} **** **** {CARD[-4:]} stuck.txt"
    )
    assert "worker was killed" in stuck_error["detail"]
    assert card["path"] == f"{drop}/e-card.txt"
    # never masked (killed while masking): withheld below the scan root, a keyed digest apart
    for r in (fifo, deep_finding, deep_error):
        assert r["path"].startswith(f"{drop}/[name withheld: ")
        assert WITHHELD.search(r["path"])
    assert deep_finding["path"] == deep_error["path"] != fifo["path"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["text", "sarif", "html"])
def test_no_format_shows_a_value_from_a_name(hostile: tuple[Path, Path], tmp_path: Path, fmt: str) -> None:
    pol, drop = hostile
    done = _scan(pol, "-j", "2", str(drop), home=tmp_path, fmt=fmt)
    assert done.returncode == 1, done.stderr[-2000:]
    _no_value_shown(done)
    shown = unquote(done.stdout)  # SARIF quotes its URIs
    assert "[name withheld: " in shown
    assert f"{CARD[:4]} **** **** {CARD[-4:]} stuck.txt" in shown
    _no_value_shown(subprocess.CompletedProcess(done.args, done.returncode, shown, ""))


@pytest.mark.slow
def test_the_withheld_files_count_toward_fail_on_unless_opted_out(
    hostile: tuple[Path, Path], tmp_path: Path
) -> None:
    """A tree holding only a file under slow names: its UNSCANNED_CONTENT fails the run (medium), the
    opt-out passes it; exit codes as for any killed file."""
    pol, drop = hostile
    only = str(drop.parent / "slow")
    failed = _scan(pol, "--fail-on", "medium", only, home=tmp_path)
    assert failed.returncode == 1, failed.stderr[-2000:]
    _no_value_shown(failed)
    assert [json.loads(line)["kind"] for line in failed.stdout.splitlines()] == [
        "finding",
        "error",
        "summary",
    ]
    assert _scan(pol, "--no-fail-on-unscanned", only, home=tmp_path).returncode == 0
