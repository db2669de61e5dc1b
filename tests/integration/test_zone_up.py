"""A zone whose folder is missing (or goes away) at run time: warning, dropwarden_zone_up 0, retries,
and the watch is armed (real inotify) as soon as the folder is there."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers import CARD_POLICY, AgentProc, fake_card, wait_for

pytestmark = pytest.mark.integration


def _events(agent: AgentProc, name: str) -> list[dict]:
    out = []
    for line in agent.log.read_text().splitlines():
        if f'"{name}"' in line:
            out.append(json.loads(line))
    return out


def test_missing_zone_is_retried_and_watched_once_it_appears(tmp_path: Path) -> None:
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    # no periodic crawl: after the crawl that arming does, only inotify can see a new file
    agent = AgentProc(tmp_path, pol, "--reconcile-interval", "0")
    agent.zone.rmdir()
    agent.start()
    try:
        assert agent.metric("dropwarden_zone_up", zone="zone") == 0
        down = _events(agent, "zone_unavailable")
        assert down
        assert down[0]["zone"] == "zone"
        assert down[0]["reason"] == "missing"
        assert down[0]["level"] == "warning"

        # the folder appears with a file already in it: armed, and crawled (events before the watch are lost)
        agent.zone.mkdir()
        early = agent.zone / "early.txt"
        early.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: agent.metric("dropwarden_zone_up", zone="zone") == 1, 20)
        assert wait_for(lambda: agent.alerts_for(early), 20), agent.log.read_text()[-2000:]
        assert _events(agent, "zone_available")

        # a file written after that crawl: only the inotify watch can report it
        late = agent.zone / "late.txt"
        late.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: agent.alerts_for(late), 20), agent.log.read_text()[-2000:]

        # the folder goes away at run time and comes back
        shutil.rmtree(agent.zone)
        assert wait_for(lambda: agent.metric("dropwarden_zone_up", zone="zone") == 0, 20)
        agent.zone.mkdir()
        assert wait_for(lambda: agent.metric("dropwarden_zone_up", zone="zone") == 1, 20)
        again = agent.zone / "again.txt"
        wait_for(lambda: len(_events(agent, "zone_available")) >= 2, 10)
        again.write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: agent.alerts_for(again), 20), agent.log.read_text()[-2000:]
        assert agent.proc is not None
        assert agent.proc.poll() is None
    finally:
        agent.kill()
