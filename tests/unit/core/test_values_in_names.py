"""Values in names: a card number in a file name or an archive member name is a finding, and no scan
report (JSONL, text, SARIF) shows it in clear. Real files, real pipeline and reporters; nothing mocked."""

from __future__ import annotations

import io
import os
import random

import pytest

from agent.demo import group4, luhn_complete
from agent.models import FileRef, Finding
from agent.pipeline import build_pipeline
from agent.policy.names import NameText
from agent.report import make_reporter
from tests.unit.extract.builders import zip_bytes

CARD = luhn_complete("45", 16, random.Random(9))


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("names")
    (root / f"statement {group4(CARD)}.txt").write_text("quarterly planning notes\n")
    (root / "export.zip").write_bytes(zip_bytes({f"client_{CARD}/notes.txt": b"plain notes\n"}))
    # a member holding a card too: its findings show the member name masked
    (root / "bundle.zip").write_bytes(zip_bytes({f"{CARD}.txt": f"card {group4(CARD)}\n".encode()}))
    p = build_pipeline(None, b"k" * 32)
    return [p.scan(FileRef(str(f), role="contractor-drop", root=str(root))) for f in sorted(root.iterdir())]


def test_values_in_file_and_member_names_are_findings(scanned) -> None:
    for v in scanned:
        assert [f.rule for f in v.findings] == ["payment-card-number"], v.path
        # the inventory lines (scan --inventory) show the names masked as well
        assert v.files and all(CARD not in f"{r.path}!{r.member}" for r in v.files)


@pytest.mark.parametrize("fmt", ["jsonl", "text", "sarif"])
def test_no_report_format_shows_a_value_from_a_name(scanned, fmt: str) -> None:
    out = io.StringIO()
    reporter = make_reporter(fmt, out)
    for v in scanned:
        reporter.verdict(v)
    reporter.close({"files": len(scanned), "bytes": 0, "findings": {}, "errors": 0, "seconds": 0})
    text = out.getvalue()
    assert CARD not in text and group4(CARD) not in text
    assert f"{CARD[:4]}********{CARD[-4:]}" in text  # the masked member name is still recognisable


def test_masking_keeps_the_rest_of_each_name() -> None:
    names = NameText.of(["dir/a 4111.txt", "x_12345678_y"])
    f = Finding("/p", None, "p", "r", "E", "high", 1.0, 2, 17, 25, "", "")  # type: ignore[arg-type]
    assert names.text.splitlines()[1] == "x 12345678 y"
    assert names.masked([f]) == {"x_12345678_y": "x_12****78_y"}


def test_findings_made_outside_a_scan_show_the_masked_path(tmp_path) -> None:
    """The unscanned alert of a killed worker (made from the journal's real path) masks the name too."""
    from agent.models import ExtractError

    p = build_pipeline(None, b"k" * 32)
    ref = FileRef(str(tmp_path / f"slow {group4(CARD)}.pdf"), role="contractor-drop", root=str(tmp_path))
    raw = p.unscanned(ref, [ExtractError(ref.path, None, "timeout", "worker killed")])
    (f,) = p.shown(ref, raw)
    assert f.path.endswith(f"slow {CARD[:4]} **** **** {CARD[-4:]}.pdf") and group4(CARD) not in f.path


def test_shown_path_masks_the_name_and_leaves_a_clean_path_alone(tmp_path) -> None:
    """What the crash-recovery alert of a quarantined file shows instead of the vault's real path."""
    p = build_pipeline(None, b"k" * 32)
    carded = FileRef(str(tmp_path / "in" / f"{CARD}.txt"), root=str(tmp_path))
    assert CARD not in p.shown_path(carded) and p.shown_path(carded).endswith(
        f"{CARD[:4]}********{CARD[-4:]}.txt"
    )
    clean = FileRef(str(tmp_path / "in" / "minutes.txt"), root=str(tmp_path))
    assert p.shown_path(clean) == clean.path


def test_a_value_repeated_in_the_names_is_masked_every_time(tmp_path) -> None:
    """Findings keep one location per distinct value; the names must still show none of its copies
    (a folder and a file named after the same card, a member named like its archive)."""
    root = tmp_path / f"acct {CARD}"
    root.mkdir()
    (root / f"copy {CARD}.txt").write_text("plain notes\n")
    (root / f"{CARD}.zip").write_bytes(zip_bytes({f"{CARD}/again {CARD}.txt": b"plain notes\n"}))
    p = build_pipeline(None, b"k" * 32)
    for f in sorted(root.iterdir()):
        v = p.scan(FileRef(str(f), role="contractor-drop", root=str(tmp_path)))
        shown = [f"{x.path}!{x.member}" for x in (*v.findings, *v.errors, *v.files)]
        shown += [m for x in v.findings for m in x.members]
        assert shown and not any(CARD in s for s in shown), shown
        assert p.shown_path(FileRef(str(f), root=str(tmp_path))).count(f"{CARD[:4]}********{CARD[-4:]}") == 2


def _scan_under(tmp_path, folder_name: bytes):
    """The verdict of a plain file in a folder named ``folder_name`` (bytes: it may not be UTF-8)."""
    root = tmp_path / "drop"
    folder = os.fsencode(root) + b"/" + folder_name
    os.makedirs(folder)
    with open(folder + b"/note.txt", "w") as f:
        f.write("planning notes\n")
    ref = FileRef(os.fsdecode(folder + b"/note.txt"), role="contractor-drop", root=str(root))
    return build_pipeline(None, b"k" * 32).scan(ref)


def test_undecodable_name_bytes_are_searched_and_masked(tmp_path) -> None:
    """A name that is not UTF-8 (os.fsdecode: lone surrogates) next to a card and its context words:
    the classifier reads it (the context step once failed on the surrogates) and masks the value."""
    v = _scan_under(tmp_path, b"acct \xff\xfe card " + CARD.encode())
    assert [f.rule for f in v.findings] == ["payment-card-number"] and not v.errors
    assert CARD not in v.findings[0].path and f"{CARD[:4]}********{CARD[-4:]}" in v.findings[0].path


def test_a_name_the_classifier_fails_on_is_shown_scrubbed(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When no detector could search a name (the classifier raised on it), no value in it is shown:
    its digits and token-like runs are masked, not left in clear."""
    root = tmp_path / "drop"
    root.mkdir()
    f = root / f"acct {CARD}.txt"
    f.write_text("planning notes\n")
    p = build_pipeline(None, b"k" * 32)
    detect = p.classifier.detect

    def failing_on_names(chunk):
        if chunk.part == "name":
            raise UnicodeEncodeError("utf-8", "x", 0, 1, "injected")
        return detect(chunk)

    monkeypatch.setattr(p.classifier, "detect", failing_on_names)
    ref = FileRef(str(f), role="contractor-drop", root=str(root))
    shown = p.shown_path(ref)
    below = shown[len(str(root)) :]
    assert shown.startswith(str(root)) and below.startswith("/acct ") and below.endswith(".txt")
    assert not any(c.isdigit() for c in below)
    v = p.scan(ref)
    assert all(CARD not in r.path for r in v.files)


def test_a_secret_in_a_name_that_is_not_utf8_is_judged_and_masked(tmp_path) -> None:
    """A password literal in a folder name holding undecodable bytes: the password rule's allow
    patterns (RE2) read it (they raised on the lone surrogate and stopped `dropwarden scan`), the
    finding is made and the name is shown masked."""
    v = _scan_under(tmp_path, b"pw password=\xffhunter2xyz")
    assert [f.rule for f in v.findings] == ["password-literal"] and not v.errors
    assert "hunter2xyz" not in v.findings[0].path
