"""A temp agent config like the security team writes one: a real zone, builtin packs + a local dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

#: An override-only local pack: the documented way to tune a shipped rule.
OVERRIDE_PACK = """\
pack: local-tuning
version: 1
override:
  - id: marking-strictly-confidential
    severity: low
"""


def write_config(root: Path, **changes: Any) -> Path:
    """agent.yaml under root with zone root/zone, policies [builtin, root/policies.d], state root/state."""
    zone = root / "zone"
    local = root / "policies.d"
    zone.mkdir(exist_ok=True)
    local.mkdir(exist_ok=True)
    (local / "50-local.yaml").write_text(OVERRIDE_PACK)
    data: dict[str, Any] = {
        "zones": [{"name": "drop", "path": str(zone), "role": "contractor-drop"}],
        "policies": ["builtin", str(local)],
        "state_dir": str(root / "state"),
        "sinks": {"stdout": True},
        **changes,
    }
    path = root / "agent.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def agent_config(tmp_path: Path) -> Path:
    return write_config(tmp_path)
