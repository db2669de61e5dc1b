"""A real agent's own log (JSON and console) about files whose names hold a customer's name, her e-mail
address and a card number: every line that names such a file names it as its alerts show it (values
masked) and never holds a value in clear, the log scrubber's patterns aside (a name and an e-mail
address match none of them).

The zone holds the hostile share (tests/adversarial/conftest.py) and three files named after a
listed customer: one with a card inside (alerted), a .docx whose XML cannot be parsed (extraction
fails: UNSCANNED_CONTENT) and a 64 GB sparse file its worker is killed on (scan_failed). The agent
runs at debug level, so every scanned file has its line.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.log import scrub_text
from tests.adversarial.conftest import BODY_CARD, UNREADABLE, build_share, contents, secrets_in_names
from tests.helpers import REPO, AgentProc, fake_card, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CARD = fake_card(prefix="45")
EMAIL = "hilde.brandt@example.org"
CUSTOMER = f"Hilde Brandt {EMAIL} {CARD}"
#: The values no log line may hold in clear (the card also grouped by four, as names often have it).
VALUES = (EMAIL, "Hilde Brandt", CARD, " ".join(CARD[i : i + 4] for i in range(0, 16, 4)))
#: A bank's list of customers: a listed name is a value, as is an e-mail address and a card number.
PACK = r"""
pack: customers
version: 1
desc: A listed customer's name or e-mail address, and card numbers.
recognizers:
  - name: listed-customer
    entity: CUSTOMER_NAME
    patterns:
      - {name: listed name, regex: 'Hilde[ _.-]?Brandt', score: 0.9}
rules:
  - {id: customer-contact, desc: A listed customer's name or e-mail., severity: high,
     entities: [CUSTOMER_NAME, EMAIL_ADDRESS], min_score: 0.3}
  - {id: card-number, desc: Payment card number., severity: high, entities: [CREDIT_CARD], min_score: 0.3}
"""
#: What each of the customer's files makes the agent log about it.
FILES = {
    f"{CUSTOMER}.txt": "file_scanned",
    f"{CUSTOMER}.docx": "file_scanned",  # with its extraction error
    f"statement {CUSTOMER}.bin": "scan_failed",
}


def _fill(zone: Path) -> None:
    build_share(zone)
    (zone / f"{CUSTOMER}.txt").write_text(f"Please charge card {BODY_CARD} today.\n")
    (zone / f"{CUSTOMER}.docx").write_bytes(contents(BODY_CARD)[UNREADABLE[0]])
    with open(zone / f"statement {CUSTOMER}.bin", "wb") as f:  # hashing it outlasts the file timeout
        f.truncate(64 << 30)


@pytest.fixture(scope="module", params=["json", "console"])
def agent(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentProc]:
    """An agent over the filled zone, logging in the given format, until every file was handled."""
    base = tmp_path_factory.mktemp(f"logpaths-{request.param}")
    pol = base / "policies"
    pol.mkdir()
    (pol / "customers.yaml").write_text(PACK)
    shutil.copy(REPO / "policies" / "unscanned.yaml", pol / "unscanned.yaml")
    a = AgentProc(base, pol, "--file-timeout", "1.5", "--log-level", "debug", settle=0.3)
    a.argv[a.argv.index("--log-format") + 1] = request.param
    _fill(a.zone)
    a.start(wait=False)
    proc = a.proc
    assert proc is not None
    ready = wait_for(lambda: proc.poll() is not None or b"workers_ready" in a.log.read_bytes(), 90.0, 0.1)
    assert ready and proc.poll() is None, a.log.read_text(errors="replace")[-3000:]
    assert wait_for(lambda: all(_alerts(a, name) for name in FILES), 120.0, 0.2), a.log.read_text()[-3000:]
    assert a.quiesce(120.0)
    yield a
    a.kill()


def _alerts(a: AgentProc, name: str) -> list[dict[str, Any]]:
    """The alerts about the customer's file ``name`` (found by the masked form's unmasked ends)."""
    if not a.alerts.exists():
        return []
    head, tail = name[: name.index("Hilde") + 2], f"{CARD[-4:]}{Path(name).suffix}"
    alerts = [json.loads(line) for line in a.alerts.read_text().splitlines()]
    return [x for x in alerts if os.path.basename(x["path"]).startswith(head) and x["path"].endswith(tail)]


def test_no_log_line_holds_a_value_from_a_name(agent: AgentProc) -> None:
    log = agent.log.read_text(errors="replace")
    for value in (*VALUES, *secrets_in_names()):
        assert value not in log, value
    assert "\\udc" not in log


def test_each_customer_file_is_named_in_the_log_as_its_alerts_show_it(agent: AgentProc) -> None:
    """The line that says what came of each file names it (masked, as every alert about it), so an
    operator finds the alert and the file from the log line."""
    log = agent.log.read_text(errors="replace").splitlines()
    for name, event in FILES.items():
        (shown,) = {x["path"] for x in _alerts(agent, name)}
        assert CARD not in shown and EMAIL not in shown
        if "--log-format" in agent.argv and agent.argv[agent.argv.index("--log-format") + 1] == "json":
            lines = [json.loads(line) for line in log if line.startswith("{")]
            about = [e for e in lines if e.get("path") == shown]
            assert {event, "alert_raised"} <= {e["event"] for e in about}, name
        else:
            about = [line for line in log if f"path='{shown}'" in line]
            events = {e for line in about for e in (event, "alert_raised") if e in line}
            assert events == {event, "alert_raised"}, name


def test_every_path_in_the_json_log_is_one_an_alert_shows(agent: AgentProc) -> None:
    """Whatever line names a file of the zone (scanned, failed, alerted, at any level) names it as an
    alert does (or stricter: the log scrubber also masks what no loaded rule looks for, such as the
    share's cloud key); the only other paths are the clean marker files the test wrote (no alert)."""
    if agent.argv[agent.argv.index("--log-format") + 1] != "json":
        pytest.skip("console lines are checked by the tests above")
    alerted = {json.loads(line)["path"] for line in agent.alerts.read_text().splitlines()}
    shown = alerted | {scrub_text(p) for p in alerted}
    lines = [json.loads(line) for line in agent.log.read_text().splitlines() if line.startswith("{")]
    paths = {e["path"] for e in lines if "path" in e}
    assert paths and len(paths & shown) >= len(FILES)
    others = {p for p in paths - shown if not os.path.basename(p).startswith("quiesce-")}
    assert not others, sorted(others)[:5]
