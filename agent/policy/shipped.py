"""Where the shipped policy packs live, and the ``builtin`` entry that stands for them in a config.

Kept apart from agent.pipeline so `config check` and `policy lint` find the packs without importing
the recognizer engine.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

SHIPPED_POLICIES = Path(__file__).resolve().parents[2] / "policies"

#: The entry of a ``policies:`` list (or of ``--policies`` / ``policy lint`` arguments) that stands
#: for the shipped packs, so local packs layer on them: ``[builtin, /etc/dropwarden/policies.d]``.
BUILTIN_POLICIES = "builtin"


def default_policy_dirs() -> list[Path]:
    """The shipped packs: next to the source tree, or installed under sys.prefix/share."""
    candidates = [SHIPPED_POLICIES, Path(sys.prefix) / "share" / "dropwarden" / "policies"]
    for c in candidates:
        if c.is_dir():
            return [c]
    return [SHIPPED_POLICIES]


def expand_policy_paths(entries: Sequence[str | Path]) -> list[Path]:
    """Policy paths with each ``builtin`` entry replaced by the shipped pack directories."""
    out: list[Path] = []
    for entry in entries:
        out.extend(default_policy_dirs() if str(entry) == BUILTIN_POLICIES else [Path(entry)])
    return out
