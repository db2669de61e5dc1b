"""The parent-directory read race (issue 14, item 7) end to end in the real daemon: a process exchanges a
watched folder with a symlink out of the zone (renameat2 RENAME_EXCHANGE) while the agent scans."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.helpers import fake_card, wait_for
from tests.integration.test_security_daemon import SecureAgent, keys

__all__ = ["keys"]  # the module-scoped key pair fixture, shared

pytestmark = pytest.mark.integration


RACE_PACK = """\
pack: test-race
version: 1
desc: Cards inside the zone are quarantined; the IBAN only exists outside it.
rules:
  - id: card
    desc: Payment card number.
    severity: high
    entities: [CREDIT_CARD]
    min_score: 0.3
    actions: [alert, quarantine]
  - id: outside-iban
    desc: The secret planted outside the zone; any alert on it is an escape.
    severity: high
    entities: [IBAN_CODE]
    min_score: 0.3
    actions: [alert, quarantine]
"""
SWAPS = 100_000


def _write_at(dir_fd: int, name: str, data: bytes) -> None:
    """Write through the real directory's descriptor: the test's own writes never follow the swap."""
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@pytest.mark.slow
def test_parent_dir_exchanged_with_a_link_out_of_the_zone_never_reaches_the_daemon(
    tmp_path: Path, keys: Path
) -> None:
    """The real daemon scans (and quarantines) files written into zone/sub while another process
    exchanges zone/sub with a symlink to a directory outside the zone (renameat2 RENAME_EXCHANGE,
    100,000 swaps). Outside, every name is planted with an IBAN that exists nowhere inside. Nothing
    outside is ever scanned, alerted or quarantined (no IBAN alert, every outside file intact), the
    daemon did hit the swapped path (refusals counted), and every file inside is alerted."""
    from agent.demo import group4, iban
    from tests.unit.security.exchange import Swapper

    outside = tmp_path / "outside"
    outside.mkdir()
    a = SecureAgent(tmp_path / "a", keys, require_signed=False, workers=2)
    a.pol.mkdir()
    (a.pol / "race.yaml").write_text(RACE_PACK)
    sub, alt = a.zone / "sub", a.zone / ".alt"
    sub.mkdir()
    alt.symlink_to(outside)
    names = [f"doc-{i:03d}.txt" for i in range(40)]
    secret = f"Wire to IBAN {group4(iban('CH', '04835012345678009'))} today\n".encode()
    for n in names:
        (outside / n).write_bytes(secret)
    a.start()
    sub_fd = os.open(sub, os.O_RDONLY | os.O_DIRECTORY)
    try:
        before = a.metric("dropwarden_files_scanned_total")
        swapper = Swapper(sub, alt, SWAPS)
        written = 0
        while swapper.running():  # new files and rewrites keep the daemon opening paths below sub
            n = names[written % len(names)]
            _write_at(sub_fd, n, f"Card {fake_card()}\n".encode())
            written += 1
            time.sleep(0.01)
        assert swapper.finish() == SWAPS
        during = a.metric("dropwarden_files_scanned_total") - before
        refused = a.metric("dropwarden_scan_errors_total", reason="symlink_outside") + a.metric(
            "dropwarden_scan_errors_total", reason="vanished"
        )

        def alerts() -> list[dict[str, object]]:
            return [json.loads(x) for x in a.alerts.read_text().splitlines()] if a.alerts.exists() else []

        def alerted() -> set[str]:
            return {Path(str(x["path"])).name for x in alerts() if x["entity"] == "CREDIT_CARD"}

        expected = set(names[: min(written, len(names))])
        assert wait_for(lambda: expected <= alerted(), 120, 0.5), sorted(expected - alerted())[:5]
        escaped = [x for x in alerts() if x["entity"] == "IBAN_CODE"]
        assert not escaped, escaped[:3]
        assert all((outside / n).read_bytes() == secret for n in names)
        assert sorted(p.name for p in outside.iterdir()) == names  # no tombstone, nothing moved in or out
        assert during > 0 and refused > 0, (written, during, refused)
    finally:
        os.close(sub_fd)
        a.kill()
