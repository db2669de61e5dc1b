"""Client identity in excerpts: the values of labelled fields and the other cells of a record are masked
around a finding (by structure, in any language), and `excerpts: none` sends no context at all.
Real pipeline with the shipped packs; nothing mocked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.daemon.settings import parse_settings
from agent.demo import group4, iban
from agent.models import FileRef
from agent.pipeline import build_pipeline
from agent.redact import Redactor

REPO = Path(__file__).resolve().parents[3]
IBAN = group4(iban("CH", "04835012345678009"))
NAMES = ("Noah", "Rossi", "Jeanne", "Martin", "Giulia", "Bianchi", "Zürcher")


@pytest.mark.parametrize(
    "text",
    [
        f"Holder: Noah Rossi IBAN: {IBAN} opened 2020",
        f"Titulaire du compte : Jeanne Martin ; IBAN = {IBAN}",
        f"intestatario=Giulia Bianchi | conto: {IBAN}",
        f"Kunde: Noah Zürcher\nIBAN: {IBAN}",
        f"Noah Rossi\t{IBAN}\tZürcher Kantonalbank",  # a record: the other cells are values
    ],
)
def test_labelled_names_and_record_cells_never_show_in_an_excerpt(text: str) -> None:
    excerpt = Redactor(b"k" * 32).excerpt(IBAN, "IBAN_CODE", text, text.index(IBAN))
    assert not [n for n in NAMES if n in excerpt], excerpt
    assert IBAN not in excerpt and "[" in excerpt


def test_labels_and_plain_words_stay_readable() -> None:
    text = f"Holder: Noah Rossi IBAN: {IBAN}\nplease transfer"
    excerpt = Redactor(b"k" * 32).excerpt(IBAN, "IBAN_CODE", text, text.index(IBAN))
    assert "older:" in excerpt and "IBAN:" in excerpt and "please tran" in excerpt


def test_a_real_finding_does_not_carry_the_holder_name(tmp_path: Path) -> None:
    """Through the real pipeline and shipped packs: the IBAN finding's excerpt has no holder name."""
    f = tmp_path / "statement.txt"
    f.write_text(f"Account statement\nAccount holder: Noah Rossi\nIBAN: {IBAN}\nBalance CHF 12,000\n")
    v = build_pipeline(None, b"k" * 32).scan(FileRef(str(f), role="contractor-drop", root=str(tmp_path)))
    ibans = [x for x in v.findings if x.entity == "IBAN_CODE"]
    assert ibans and all("Noah" not in x.excerpt and "Rossi" not in x.excerpt for x in ibans)


def test_excerpts_setting_accepts_masked_or_none_only() -> None:
    zones = [{"name": "z", "path": "/srv/z"}]
    assert parse_settings({"zones": zones}).excerpts == "masked"
    assert parse_settings({"zones": zones, "excerpts": "none"}).excerpts == "none"
    with pytest.raises(Exception, match="excerpts"):
        parse_settings({"zones": zones, "excerpts": "full"})


@pytest.mark.slow
def test_scan_with_excerpts_none_reports_rule_location_and_fingerprint_only(tmp_path: Path) -> None:
    f = tmp_path / "statement.txt"
    f.write_text(f"Account holder: Noah Rossi\nIBAN: {IBAN}\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "scan", str(f), "--format", "jsonl", "--excerpts", "none"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert '"excerpt": ""' in proc.stdout and "hmac-sha256:" in proc.stdout and "holder" not in proc.stdout


def test_a_customer_name_the_edm_index_knows_is_masked_in_free_text(tmp_path: Path) -> None:
    """No label, no table: "please refund <customer> on card <n>". The EDM index (keyed, built from
    generated fake customers) knows the name is a protected field, so the card finding's excerpt
    blanks it; without the index the same excerpt shows it (the test can fail)."""
    from agent.classify.indexes.edm import EdmDetector, EdmIndex
    from tests.helpers import fake_card
    from tests.unit.classify.test_edm import HEADER, fake_table

    table = fake_table(300, seed=14)
    detector = EdmDetector(EdmIndex.build(HEADER, table, b"E" * 32))
    names = [row[1] for row in table[::37]]
    f = tmp_path / "note.txt"
    f.write_text("".join(f"Please refund {n} on card {fake_card()} today.\nThanks\n" for n in names))
    ref = FileRef(str(f), role="contractor-drop", root=str(tmp_path))

    def excerpts(extra: tuple[object, ...]) -> str:
        v = build_pipeline(None, b"k" * 32, extra_detectors=extra).scan(ref)
        cards = [x for x in v.findings if x.entity == "CREDIT_CARD"]
        assert cards
        return " ".join(e for x in cards for e in (x.excerpt, *x.excerpts))

    shown = excerpts(())
    assert any(part in shown for n in names for part in n.split()), shown  # the attack works without it
    masked = excerpts((detector,))
    assert not [part for n in names for part in n.split() if part in masked], masked
    assert "on card" in masked and "today" in masked  # plain words stay readable
