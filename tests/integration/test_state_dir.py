"""State files stay private when the state directory already exists with wider permissions."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.helpers import CARD_POLICY, AgentProc, fake_card, wait_for

pytestmark = pytest.mark.integration


def test_a_world_readable_state_dir_is_made_private_at_start(tmp_path: Path) -> None:
    """A state dir pre-created 0777 holding a 0666 file from an earlier run: the real agent makes the
    directory 0700 and the files already in it 0600 before it writes anything, logs it, and works."""
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    old = state / "alerts.db"
    old.write_bytes(b"")
    old.chmod(0o666)
    a = AgentProc(tmp_path, pol).start()
    try:
        assert stat.S_IMODE(state.stat().st_mode) == 0o700  # what the agent creates later is inside it
        assert stat.S_IMODE(old.stat().st_mode) == 0o600
        events = [json.loads(x).get("event") for x in a.log.read_text().splitlines() if x.startswith("{")]
        assert "state_dir_permissions_tightened" in events
        (a.zone / "c.txt").write_text(f"card {fake_card()}\n")
        assert wait_for(lambda: a.alerts_for(a.zone / "c.txt"), 30.0), a.log.read_text()[-2000:]
    finally:
        a.kill()
