"""`dropwarden scan`: what the walk cannot read is reported with its path escaped and masked (#14 items 4, 9).

Real odd names on a real tree: a folder named with a Luhn-valid card number, names with a newline and
an escape sequence, names that are not UTF-8, and under them what the walk must report instead of
reading: folders the scanning user may not list (permission_denied), a link to itself (symlink_loop),
a link leaving the tree (symlink_outside), a FIFO (not_regular_file). Before, those error lines printed
the card number in clear in every format. Root reads every folder, so as root the scan runs as
``nobody`` (setpriv) to meet a real EACCES.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.demo import luhn_complete
from tests.helpers import as_nobody

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CARD = luhn_complete("45", 16, random.Random(3))
ESC = "\n\x1b[31mFORGED"


def _as_scanner() -> list[str]:
    return as_nobody("cannot meet an unreadable folder")


@pytest.fixture
def tree() -> Iterator[Path]:
    """World-traversable (pytest's tmp tree is private to root): the drop and a state dir for the key."""
    base = Path(tempfile.mkdtemp(prefix="dropwarden-walk-"))
    base.chmod(0o755)
    (base / "state").mkdir(mode=0o777)
    (base / "state").chmod(0o777)  # the unprivileged scanner keeps its key here
    drop = os.fsencode(base / "drop")
    card_dir = drop + b"/acct " + CARD.encode()
    raw_dir = drop + b"/raw \xff\xfe " + CARD.encode()
    for d in (card_dir, raw_dir):
        os.makedirs(d)
    for d in (card_dir + b"/locked", card_dir + b"/locked" + ESC.encode(), raw_dir + b"/sealed"):
        os.mkdir(d, 0o700)
        os.chmod(d, 0 if os.geteuid() != 0 else 0o700)  # root's 0700 folder is closed to nobody
    os.symlink(b"loop" + ESC.encode(), card_dir + b"/loop" + ESC.encode())
    os.symlink(b"/etc/hostname", raw_dir + b"/out\xff" + ESC.encode())
    os.mkfifo(card_dir + b"/pipe " + CARD.encode())
    with open(card_dir + b"/notes.txt", "w") as f:
        f.write("Quarterly planning notes.\n")
    for dirpath, dirnames, _ in os.walk(drop):
        for d in dirnames:
            if not os.fsdecode(d).startswith(("locked", "sealed")):
                os.chmod(os.path.join(dirpath, d), 0o755)  # noqa: S103 - the scanner must list them
    os.chmod(drop, 0o755)  # noqa: S103
    yield base
    for dirpath, dirnames, _ in os.walk(base):
        for d in dirnames:
            os.chmod(os.path.join(dirpath, d), 0o700)
    shutil.rmtree(base)


def _scan(base: Path, fmt: str, *paths: str | bytes) -> subprocess.CompletedProcess[bytes]:
    argv = [*_as_scanner(), sys.executable, "-m", "agent", "scan", "--format", fmt, "--no-progress", *paths]
    return subprocess.run(
        argv,
        capture_output=True,
        env={**os.environ, "XDG_STATE_HOME": str(base / "state"), "PYTHONPATH": str(REPO)},
        cwd="/",
        timeout=240,
    )


@pytest.mark.parametrize("fmt", ["text", "jsonl", "sarif", "html"])
def test_walk_errors_show_no_value_and_no_control_character(tree: Path, fmt: str) -> None:
    done = _scan(tree, fmt, str(tree / "drop"))
    out, err = done.stdout, done.stderr
    assert done.returncode in (0, 1), err.decode(errors="replace")[-2000:]
    for reason in (b"permission_denied", b"symlink_loop", b"symlink_outside", b"not_regular_file"):
        assert reason in out, reason
    assert CARD.encode() not in out + err
    assert b"\x1b" not in out + err
    assert b"\nFORGED" not in out + err  # the newline is escaped: no line begins with the forged text
    assert b"\xff" not in out + err  # undecodable bytes shown as the four characters \xff
    assert CARD[:4].encode() + b"********" in out  # masked, still recognisable to the reader


def test_walk_error_records_in_jsonl(tree: Path) -> None:
    """One error record per thing the walk could not read, each path masked and escaped."""
    done = _scan(tree, "jsonl", str(tree / "drop"))
    errors = [r for r in map(json.loads, done.stdout.decode().splitlines()) if r["kind"] == "error"]
    by_reason = sorted((r["reason"], r["path"].rsplit("/", 1)[-1]) for r in errors)
    assert by_reason == sorted(
        [
            ("permission_denied", "locked"),
            ("permission_denied", "locked" + ESC),
            ("permission_denied", "sealed"),
            ("symlink_loop", "loop" + ESC),
            ("symlink_outside", "out\\xff" + ESC),
            ("not_regular_file", "pipe " + CARD[:4] + "********" + CARD[-4:]),
        ]
    )
    for r in errors:
        assert "acct " + CARD[:4] + "********" + CARD[-4:] in r["path"] or "raw \\xff\\xfe " in r["path"]


def test_a_missing_scan_path_is_named_masked_and_escaped_on_stderr(tree: Path) -> None:
    missing = os.fsencode(tree / "gone") + b" \xff " + CARD.encode() + ESC.encode()
    done = _scan(tree, "text", missing)
    assert done.returncode == 2
    assert b"no such file or directory" in done.stderr
    assert CARD.encode() not in done.stderr
    assert b"\x1b" not in done.stderr
    assert b"\xff" not in done.stderr
    assert done.stderr.count(b"\n") == 1
