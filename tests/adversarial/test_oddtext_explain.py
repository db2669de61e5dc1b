"""`dropwarden explain` (the tuning tool an operator runs on a file an alert named) on files of the
hostile share: names and member names with undecodable bytes, ESC, newlines, bidi overrides; a mail
whose header and attachment name are raw 8-bit; an unparsable docx. The real CLI: it explains, one
line per item, in valid UTF-8 with nothing that drives the terminal or forges a line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.adversarial.conftest import FOLDERS, Share
from tests.helpers import REPO

pytestmark = pytest.mark.slow

RAW = ("\x1b", "\x07", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\r")
LINE_STARTS = ("== ", "   FINDING ", "   line ")


def _one_item(line: str) -> bool:
    """A line explain writes: a member's header, a finding, a decision, an error, or nothing found."""
    return (
        line.startswith(LINE_STARTS) or ": not fully read: " in line or line.endswith(": no candidates found")
    )


def _pick(share: Share, *tails: bytes) -> list[bytes]:
    return [f for f in share.files if f.endswith(tails)]


@pytest.mark.parametrize(
    "tails",
    [
        (b"/formats-\xed\xb2\x80/mail.eml",),
        (b"/formats-\xed\xb2\x80/bundle.tar",),
        (b"/formats-\xed\xb2\x80/broken-bytes.docx",),
        (b"/" + FOLDERS[2] + b"/two\nlines\rFORGED finding.txt",),
        (b"/" + FOLDERS[1] + b"/ctl-\x01\x07\x1b]0;owned\x07\x7f.txt",),
    ],
    ids=["mail", "tar", "broken-docx", "newline-names", "control-names"],
)
def test_explain_shows_hostile_names_escaped(share: Share, tmp_path: Path, tails: tuple[bytes, ...]) -> None:
    (target,) = _pick(share, *tails)
    r = subprocess.run(
        [sys.executable, "-m", "agent", "explain", os.fsdecode(target)],
        cwd=REPO,
        capture_output=True,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path)},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    out = r.stdout.decode("utf-8")
    assert not any(c in out for c in RAW), out
    lines = out.splitlines()
    assert lines and all(map(_one_item, lines)), out
    assert sum(x.startswith("== ") or ": not fully read: " in x for x in lines) >= 1
