"""Attacks on what the agent reads, run against the real daemon (`dropwarden run` subprocess, real
inotify, real files built with real writers): nothing of it is mocked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from tests.integration.test_daemon import CARD_POLICY, AgentProc, fake_card, wait_for

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def slow_pdf(path: Path, last_page_text: str, slow_pages: int = 12, ops: int = 150_000) -> None:
    """``slow_pages`` pages of ``ops`` text-show operators each (slow to interpret, tiny once
    compressed), then a page holding ``last_page_text``; written by pypdf."""
    w = PdfWriter()
    font = w._add_object(
        DictionaryObject(
            {
                NameObject("/Type"): NameObject("/Font"),
                NameObject("/Subtype"): NameObject("/Type1"),
                NameObject("/BaseFont"): NameObject("/Helvetica"),
            }
        )
    )
    resources = DictionaryObject({NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})})
    for i in range(slow_pages + 1):
        page = w.add_blank_page(612, 792)
        page[NameObject("/Resources")] = resources
        if i < slow_pages:
            body = b"BT /F1 1 Tf " + b"1 0 0 1 0 0 Tm ( ) Tj " * ops + b"ET"
        else:
            body = b"BT /F1 12 Tf 72 700 Td (" + last_page_text.encode() + b") Tj ET"
        stream = DecodedStreamObject()
        stream.set_data(body)
        page[NameObject("/Contents")] = w._add_object(stream)
        page.compress_content_streams()
    with open(path, "wb") as f:
        w.write(f)


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):
    """An agent with a card rule and the shipped unscanned pack, 0.5 s per file."""
    base = tmp_path_factory.mktemp("content")
    pol = base / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    shutil.copy(REPO / "policies" / "unscanned.yaml", pol / "unscanned.yaml")
    a = AgentProc(base, pol, "--file-timeout", "0.5", settle=0.3).start()
    assert wait_for(lambda: b'"workers_ready"' in a.log.read_bytes(), 60), a.log.read_text()[-3000:]
    yield a
    a.kill()


def test_slow_pdf_that_times_out_raises_an_unscanned_alert(agent: AgentProc, tmp_path: Path) -> None:
    """12 slow pages and a card on page 13: the time limit hits before the card, and the file still
    raises an UNSCANNED_CONTENT alert naming the reason instead of passing as clean."""
    built = tmp_path / "slow.pdf"
    slow_pdf(built, f"Card {fake_card()}")
    target = agent.zone / "report.pdf"
    shutil.copy(built, agent.zone / ".report.pdf.part")
    (agent.zone / ".report.pdf.part").rename(target)
    alerts = wait_for(
        lambda: [a for a in agent.alerts_for(target) if a["entity"] == "UNSCANNED_CONTENT"], 60, 0.2
    )
    assert alerts, agent.log.read_text()[-3000:]
    a = alerts[0]
    assert (a["rule"], a["severity"]) == ("unscanned-content", "medium")
    assert a["excerpt"] == "not read completely: timeout"
    assert agent.metric("dropwarden_scan_errors_total", reason="timeout") >= 1
    assert json.dumps(a).count("UNSCANNED_CONTENT") == 1
