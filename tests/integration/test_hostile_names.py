"""File names are bytes: names that are not UTF-8 or that carry newlines and escape sequences, dropped
into a real watched folder of a real agent and given to the real `scan` CLI. Nothing is mocked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import CARD_POLICY, REPO, AgentProc, fake_card, wait_for

pytestmark = pytest.mark.integration

#: Names a writer can create on Linux: Latin-1 bytes, a lone continuation byte, an escape sequence,
#: a newline that would forge a report line.
HOSTILE = [b"caf\xe9-report.txt", b"\xff\xfe.txt", b"esc-\x1b[31mred\x1b[0m.txt", b"two\nlines FORGED.txt"]


def _drop(folder: Path, name: bytes, body: str) -> str:
    path = os.path.join(os.fsencode(folder), name)
    with open(path, "wb") as f:
        f.write(body.encode())
    return os.fsdecode(path)


def test_non_utf8_names_beside_carded_files_do_not_stop_their_alerts(tmp_path: Path) -> None:
    """Five carded files dropped with hostile names around them (some carded too) into the watched zone:
    every carded file is alerted, the hostile ones under their escaped name, and the journal keeps
    each name's exact bytes."""
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    a = AgentProc(tmp_path, pol).start()
    try:
        for name in HOSTILE:
            _drop(a.zone, name, f"card {fake_card()}\n")
        plain = [a.zone / f"plain{i}.txt" for i in range(5)]
        for p in plain:
            p.write_text(f"Please charge card {fake_card()}.\n")
        for p in plain:
            assert wait_for(lambda p=p: a.alerts_for(p), 30.0), a.log.read_text()[-3000:]
        want = {os.fsencode(a.zone) + b"/" + n for n in HOSTILE}
        done = lambda: {bytes(r["path"]) for r in a.rows("state = 'done'")}  # noqa: E731
        assert wait_for(lambda: want <= done(), 30.0), a.log.read_text()[-3000:]
        raw = a.alerts.read_bytes()
        raw.decode("utf-8")  # strict: the alert log is valid UTF-8
        paths = {json.loads(line)["path"] for line in raw.splitlines()}
        assert f"{a.zone}/caf\\xe9-report.txt" in paths and f"{a.zone}/\\xff\\xfe.txt" in paths
        assert f"{a.zone}/two\nlines FORGED.txt" in paths  # JSON escapes the newline itself
        assert b"journal_write_failed" not in a.log.read_bytes()
    finally:
        a.kill()


def _scan(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "scan", "--no-progress", *args],
        cwd=REPO,
        capture_output=True,
        timeout=180,
    )


def test_scan_output_file_with_hostile_names_is_valid_and_escaped(tmp_path: Path) -> None:
    """`scan -o FILE` in every format writes the whole report (no UnicodeEncodeError): JSONL and SARIF
    are valid UTF-8 JSON naming the undecodable bytes as \\xNN (SARIF URIs percent-encode them), and
    the text report has one line per finding, with newlines and escape sequences shown escaped."""
    folder = tmp_path / "share"
    folder.mkdir()
    for name in HOSTILE:
        _drop(folder, name, f"card {fake_card()}\n")
    (folder / "zz-last.txt").write_text(f"card {fake_card()}\n")
    for fmt in ("jsonl", "sarif", "text"):
        out = tmp_path / f"report.{fmt}"
        r = _scan(str(folder), "--format", fmt, "-o", str(out))
        assert r.returncode in (0, 1), r.stderr.decode(errors="replace")[-2000:]
        text = out.read_bytes().decode("utf-8")
        assert "zz-last.txt" in text and "\x1b" not in text
        if fmt == "jsonl":
            paths = {json.loads(x)["path"] for x in text.splitlines() if '"kind": "finding"' in x}
            assert f"{folder}/\\xff\\xfe.txt" in paths and f"{folder}/two\nlines FORGED.txt" in paths
        elif fmt == "sarif":
            uris = [
                loc["physicalLocation"]["artifactLocation"]["uri"]
                for res in json.loads(text)["runs"][0]["results"]
                for loc in res["locations"]
            ]
            assert "%FF%FE.txt" in uris and "caf%E9-report.txt" in uris
        else:
            assert "\\xff\\xfe.txt" in text and "esc-\\x1b[31mred" in text
            assert not any(line.startswith("lines FORGED") for line in text.splitlines())
