"""`dropwarden scan` over a share a hostile writer filled (tests/adversarial/conftest.py): names that are
not UTF-8, UTF-8-encoded surrogates, control characters, newlines, bidi overrides, 255-byte components,
a card and a cloud key inside names; content with invalid UTF-8 in every text-ish format. The real CLI
in every format: no crash, every file reported (unreadable ones as UNSCANNED_CONTENT), valid output,
no secret of a name in clear, and each name shown the same way in every format."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from agent.redact import printable
from tests.adversarial.conftest import NAME_AWS, NAME_CARD, UNREADABLE, Share, secrets_in_names
from tests.helpers import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FORMATS = ("jsonl", "text", "sarif", "html")
#: Characters no report shows raw: they drive a terminal, split a line or reverse a name.
RAW = ("\x1b", "\x07", "\x7f", "\x85", "\u2028", "\u2029", "\u202e", "\r")


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")  # one fingerprint key for every run of the module


def _scan(state: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "agent", "scan", "--no-progress", "-j", "2", *args],
        cwd=REPO,
        capture_output=True,
        env={**os.environ, "XDG_STATE_HOME": str(state)},
        timeout=300,
    )


@pytest.fixture(scope="module")
def reports(share: Share, state: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Each format's report (strict UTF-8: decoding fails the test) after checking the run itself."""
    out_dir = tmp_path_factory.mktemp("reports")
    got = {}
    for fmt in FORMATS:
        out = out_dir / f"report.{fmt}"
        r = _scan(state, share.root_str, "--format", fmt, "--inventory", "-o", str(out))
        stderr = r.stderr.decode("utf-8", "replace")
        assert r.returncode == 1, stderr[-3000:]  # findings; not a crash (2) nor a traceback
        assert "Traceback" not in stderr, stderr[-3000:]
        _no_secret(r.stderr, f"stderr of {fmt}")
        raw = out.read_bytes()
        _no_secret(raw, fmt)
        got[fmt] = raw.decode("utf-8")
    return got


def _no_secret(data: bytes, where: str) -> None:
    for secret in secrets_in_names():
        assert secret.encode() not in data, f"{where} shows a value from a file name in clear"
    # nor spread over a percent-encoded URI or an escape
    assert quote(NAME_CARD).encode() not in data and quote(NAME_AWS).encode() not in data


def _jsonl(reports: dict[str, str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in reports["jsonl"].splitlines()]


def test_every_file_is_reported_with_its_card_or_as_unscanned(share: Share, reports: dict[str, str]) -> None:
    records = _jsonl(reports)
    summary = records[-1]
    assert summary["kind"] == "summary" and summary["files"] == len(share.files)
    by_path: dict[str, set[str]] = {}
    for r in records:
        if r["kind"] == "finding":
            by_path.setdefault(str(r["path"]), set()).add(str(r["entity"]))
    assert len(by_path) == len(share.files), sorted(by_path)
    unscanned = {p for p, entities in by_path.items() if "UNSCANNED_CONTENT" in entities}
    assert {os.path.basename(p).encode() for p in unscanned} == set(UNREADABLE)
    assert all("CREDIT_CARD" in e for p, e in by_path.items() if p not in unscanned)
    errors = [r for r in records if r["kind"] == "error"]
    assert Counter(str(r["reason"]) for r in errors) == {"malformed": len(UNREADABLE)}
    assert summary["errors"] == len(UNREADABLE)


def test_the_values_in_names_are_findings_and_masked(reports: dict[str, str]) -> None:
    """A name's card and key are findings of their own (then masked everywhere, see _no_secret)."""
    records = [r for r in _jsonl(reports) if r["kind"] == "finding"]
    masked_card = f"{NAME_CARD[:4]}********{NAME_CARD[-4:]}"
    card_names = [r for r in records if masked_card in str(r["path"]) and r["entity"] == "CREDIT_CARD"]
    key_names = [r for r in records if "AKIA****" in str(r["path"]) and r["entity"] == "AWS_ACCESS_KEY"]
    assert len(card_names) >= 4 and len(key_names) >= 4  # at the top and under each hostile folder
    members = [str(r["member"]) for r in records] + [str(m) for r in records for m in r.get("members", ())]
    assert any(masked_card in m for m in members)  # the tar member named after the card


def test_jsonl_lines_are_whole_and_names_carry_no_lone_surrogate(reports: dict[str, str]) -> None:
    """Every line is one JSON object (a newline in a name cannot split a record) and every string in
    it can be encoded (undecodable bytes shown as \\xNN, never a lone surrogate)."""
    for record in _jsonl(reports):
        json.dumps(record, ensure_ascii=False).encode("utf-8")
    for fmt in ("jsonl", "sarif"):  # JSON escapes C0 itself; C1, DEL, separators and bidi are ours
        assert not any(c in reports[fmt] for c in RAW), fmt
    paths = {str(r["path"]) for r in _jsonl(reports) if r["kind"] == "finding"}
    assert any("undecodable-\\xed\\xa0\\x80-\\xc0\\xaf-\\x80-caf\\xe9.txt" in p for p in paths)
    assert any("/nl\nfolder/" in p for p in paths)  # JSON escapes the newline itself


def test_text_report_escapes_every_name_and_forges_no_line(reports: dict[str, str]) -> None:
    text = reports["text"]
    for bad in RAW:
        assert bad not in text, repr(bad)
    lines = text.split("\n")
    finding_lines = [x for x in lines if x.startswith(("HIGH", "LOW", "MEDIUM", "CRITICAL"))]
    assert len(finding_lines) * 2 + len(UNREADABLE) + 3 == len(lines)  # + errors, blank, summary, ""
    assert all(
        line.startswith(("HIGH", "LOW", "MEDIUM", "CRITICAL", "         ", "ERROR")) for line in lines[:-3]
    )


def test_sarif_is_valid_and_uris_are_percent_encoded(reports: dict[str, str]) -> None:
    doc = json.loads(reports["sarif"])
    run = doc["runs"][0]
    uris = [
        loc["physicalLocation"]["artifactLocation"]["uri"] for r in run["results"] for loc in r["locations"]
    ]
    assert uris and all(u.isascii() and " " not in u and "\n" not in u for u in uris)
    assert any(u.startswith("dir-%FF%FE/") for u in uris)
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert len(notes) == len(UNREADABLE)


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: Counter[str] = Counter()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_report_shows_names_as_text_never_as_markup(reports: dict[str, str]) -> None:
    page = _Collect()
    page.feed(reports["html"])
    page.close()
    assert page.tags["img"] == 0 and page.tags["script"] == 1  # the name's <img> is text
    shown = "".join(page.text)
    assert "<img src=x onerror=alert(1)>&\"q'.txt" in shown
    assert not any(c in reports["html"] for c in RAW)


def test_a_name_is_shown_alike_in_every_format(share: Share, reports: dict[str, str]) -> None:
    """JSONL gives the name (undecodable bytes as \\xNN); text and HTML show it with control and bidi
    characters escaped too; SARIF percent-encodes its bytes."""
    doc = json.loads(reports["sarif"])
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]
            for loc in r["locations"]}  # fmt: skip
    root, safe = share.root + b"/", "/!$&'()*+,;=:@"
    for r in _jsonl(reports):
        if r["kind"] != "finding":
            continue
        path = str(r["path"])
        assert printable(path) in reports["text"], path
        assert html.escape(printable(path), quote=True) in reports["html"], path
        uri = quote(_raw(path).removeprefix(root), safe=safe)
        if r["member"]:
            uri += "!" + quote(_raw(str(r["member"])), safe=safe)
        assert uri in uris, (path, r["member"])


def _raw(shown: str) -> bytes:
    """The bytes of a name from its shown form (\\xNN back to the byte; no name here has a backslash)."""
    return re.sub(rb"\\x([0-9a-f]{2})", lambda m: bytes([int(m[1], 16)]), shown.encode())


def test_a_baseline_of_the_report_knows_every_hostile_finding(
    share: Share, state: Path, reports: dict[str, str], tmp_path: Path
) -> None:
    """`--baseline` of the JSONL report: the same scan again has no new finding, names with
    undecodable bytes included (the report shows them as \\xNN, the scan sees surrogates)."""
    base = tmp_path / "previous.jsonl"
    base.write_text(reports["jsonl"], encoding="utf-8")
    r = _scan(state, share.root_str, "--format", "jsonl", "--baseline", str(base))
    assert r.returncode == 0, r.stdout.decode()[-3000:]
    records = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert [x["kind"] for x in records] == ["error"] * len(UNREADABLE) + ["summary"]
    assert records[-1]["baselined"] == sum(1 for x in _jsonl(reports) if x["kind"] == "finding")
