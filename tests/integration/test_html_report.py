"""`scan --format html` rendered in real headless Chromium (selenium + Debian's chromedriver).

A folder with flagged, clean and unreadable files (and a file whose name is HTML): every flagged
file is listed, no value appears in clear, unscanned files show their reason, the console stays
free of errors, and the severity and policy filters work.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.demo import group4, iban, luhn_complete

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)
HOSTILE_NAME = "<img src=x onerror=alert(1)>.txt"


def _blank_pdf() -> bytes:
    """A one-page PDF with no text on its page: read without error, yields nothing."""
    from tests.unit.extract.builders import raw_pdf

    return raw_pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
        ]
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[str], str]:
    """(report.html, flagged paths from the JSONL run, raw values, report text)."""
    rng = random.Random(77)
    root = tmp_path_factory.mktemp("tree")
    card = group4(luhn_complete("45", 16, rng))
    de_iban = group4(iban("DE", "".join(rng.choice("0123456789") for _ in range(18))))
    (root / "card.txt").write_text(f"Customer: Lena Brunner\nCard number: {card}\nExpiry 09/29\n")
    (root / "iban.txt").write_text(f"Kunde: Jonas Keller\nIBAN: {de_iban}\nBitte überweisen.\n")
    (root / HOSTILE_NAME).write_text("STRICTLY CONFIDENTIAL\nMerger plans, draft three.\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("inner/customers.txt", f"Customer: Mia Schneider\nCard: {card}\n")
    (root / "bundle.zip").write_bytes(buf.getvalue())
    (root / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    (root / "clean.txt").write_text("Lunch menu for Tuesday: soup, bread, apples.\n")
    (root / "blank.pdf").write_bytes(_blank_pdf())
    (root / "tune.mp3").write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(200))
    env = {**os.environ, "XDG_STATE_HOME": str(root.parent / "xdg")}
    base = [sys.executable, "-m", "agent", "scan", str(root), "--jobs", "1"]
    jsonl = subprocess.run([*base, "--format", "jsonl"], capture_output=True, text=True, env=env, timeout=300)
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    flagged = sorted({r["path"] for r in records if r["kind"] == "finding"})
    out = root.parent / "report.html"
    done = subprocess.run(
        [*base, "--format", "html", "-o", str(out)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 1, done.stderr
    values = [card, card.replace(" ", ""), de_iban, de_iban.replace(" ", "")]
    return out, flagged, values, out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium and chromedriver are not installed (deploy/test-deps.d/browser.list)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser: object, url: str) -> None:
    browser.get("about:blank")  # type: ignore[attr-defined]
    browser.get(url)  # type: ignore[attr-defined]


def _visible_rows(browser: object) -> list[tuple[str, str]]:
    from selenium.webdriver.common.by import By

    rows = browser.find_elements(By.CSS_SELECTOR, "tr.finding")  # type: ignore[attr-defined]
    return [
        (r.get_attribute("data-severity"), r.get_attribute("data-policy")) for r in rows if r.is_displayed()
    ]


def test_every_flagged_file_listed_and_no_value_in_clear(report, browser) -> None:
    from selenium.webdriver.common.by import By

    path, flagged, values, text = report
    assert len(flagged) >= 4
    _open(browser, path.as_uri())
    listed = [d.get_attribute("data-path") for d in browser.find_elements(By.CSS_SELECTOR, "div.file")]
    assert sorted(listed) == flagged
    headings = {h.text for h in browser.find_elements(By.CSS_SELECTOR, "div.file h3")}
    assert any(h.endswith(HOSTILE_NAME) for h in headings)  # shown as text, not markup
    assert browser.find_elements(By.CSS_SELECTOR, "img") == []
    members = {c.text for c in browser.find_elements(By.CSS_SELECTOR, "tr.finding td:nth-child(4) code")}
    assert "inner/customers.txt" in members
    dom = browser.page_source
    for value in values:
        assert value not in text
        assert value not in dom
    logs = browser.get_log("browser")
    assert [e for e in logs if e["level"] == "SEVERE"] == []


def test_unscanned_files_with_their_reason(report, browser) -> None:
    from selenium.webdriver.common.by import By

    path, *_ = report
    _open(browser, path.as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, "#unscanned tr.unscanned")
    cells = [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert any(c[0].endswith("broken.zip") and c[1] for c in cells)
    files = [d.get_attribute("data-path") for d in browser.find_elements(By.CSS_SELECTOR, "div.file")]
    assert not any(f.endswith("clean.txt") for f in files)


def test_inventory_lists_every_file_and_member_with_its_status(report, browser) -> None:
    """The inventory names every file and member: unread ones first with their reason, files that gave
    no text apart from those that were read, and no-text types (audio) as such."""
    from selenium.webdriver.common.by import By

    path, *_ = report
    _open(browser, path.as_uri())
    rows = {}
    for r in browser.find_elements(By.CSS_SELECTOR, "#inventory tr[data-status]"):
        cells = [td.text for td in r.find_elements(By.TAG_NAME, "td")]
        top, bang, member = cells[0].partition("!")
        rows[top.rsplit("/", 1)[-1] + bang + member] = (
            r.get_attribute("data-status"),
            cells[1],
            int(cells[3]),
            cells[4],
        )
    assert rows["broken.zip"][0] == "unscanned" and rows["broken.zip"][3] == "malformed"
    assert rows["blank.pdf"][:3] == ("no-text", "pdf", 0)
    assert rows["tune.mp3"][0] == "no-text-expected" and rows["tune.mp3"][1] == "audio"
    assert rows["bundle.zip"][0] == "read"  # a container reads as its members do
    assert (
        rows["bundle.zip!inner/customers.txt"][0] == "read" and rows["bundle.zip!inner/customers.txt"][2] > 0
    )
    assert rows["clean.txt"][0] == "read" and HOSTILE_NAME in rows
    order = [
        r.get_attribute("data-status")
        for r in browser.find_elements(By.CSS_SELECTOR, "#inventory tr[data-status]")
    ]
    assert order.index("unscanned") < order.index("no-text") < order.index("read")
    totals = {
        r.find_elements(By.TAG_NAME, "td")[0].text: int(r.find_elements(By.TAG_NAME, "td")[1].text)
        for r in browser.find_elements(By.CSS_SELECTOR, "#inventory-totals tr")[1:]
    }
    assert sum(totals.values()) == len(rows) and totals["unscanned"] >= 1


def test_no_external_resources(report) -> None:
    _, _, _, text = report
    for needle in ("http://", "https://", 'src="', 'href="', "@import", "url("):
        assert needle not in text.replace("&quot;", ""), needle
    assert "default-src 'none'" in text


def test_filters_by_severity_and_policy(report, browser) -> None:
    from selenium.webdriver.common.by import By

    path, *_ = report
    _open(browser, path.as_uri())
    everything = _visible_rows(browser)
    severities = {s for s, _ in everything}
    policies = {p for _, p in everything}
    assert len(severities) >= 2
    assert len(policies) >= 2
    drop = sorted(severities)[0]
    browser.find_element(By.CSS_SELECTOR, f'#filters input[name="severity"][value="{drop}"]').click()
    after = _visible_rows(browser)
    assert after == [r for r in everything if r[0] != drop]
    assert browser.find_element(By.ID, "shown").text == str(len(after))
    # the fragment sets the filter too (a shareable view): one policy only
    keep = sorted(policies)[0]
    _open(browser, f"{path.as_uri()}#policy={keep}")
    assert _visible_rows(browser) == [r for r in everything if r[1] == keep]
    hidden_files = [d for d in browser.find_elements(By.CSS_SELECTOR, "div.file") if not d.is_displayed()]
    assert hidden_files  # files without a visible finding collapse
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
