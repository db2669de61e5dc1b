"""Where the shipped policy packs live, the ``builtin`` entry that stands for them in a config, and
which pack files a policy path holds.

Kept apart from agent.pipeline and the loader so `config check` and `policy lint` find the packs
without importing the recognizer engine or the pydantic pack schema.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.policy.compiled import Issue

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


def pack_files(paths: Sequence[str | Path]) -> tuple[list[Path], list[Issue]]:
    """The pack files of ``paths`` in layering order (a directory: its *.yaml and *.yml sorted by
    name), and an issue for each path that does not exist. The loader's one view of it."""
    files: list[Path] = []
    issues: list[Issue] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted((*p.glob("*.yaml"), *p.glob("*.yml")), key=lambda f: f.name))
        elif p.is_file():
            files.append(p)
        else:
            issues.append(Issue(str(p), "", "", "no such policy file or directory"))
    return files, issues


def expand_policy_paths(entries: Sequence[str | Path]) -> list[Path]:
    """Policy paths with each ``builtin`` entry replaced by the shipped pack directories."""
    out: list[Path] = []
    for entry in entries:
        out.extend(default_policy_dirs() if str(entry) == BUILTIN_POLICIES else [Path(entry)])
    return out


#: The shipped pack whose rule turns extraction errors into UNSCANNED_CONTENT alerts.
UNSCANNED_PACK = "unscanned.yaml"


def with_unscanned_rule(paths: Sequence[Path]) -> list[Path]:
    """``paths`` with the shipped unscanned pack layered first, unless a pack among them already has a
    rule of its own on UNSCANNED_CONTENT (the shipped one, a copy, or an equivalent).

    Unscanned is never clean: a custom policy directory that leaves this rule out must not make
    unreadable files pass silently. Layered *under* the given packs, it can still be tuned or
    disabled there (``override``/``disable: [unscanned-content]``): an explicit choice.
    """
    if any(_has_unscanned_rule(f) for f in pack_files(paths)[0]):
        return list(paths)
    shipped = [d / UNSCANNED_PACK for d in default_policy_dirs() if (d / UNSCANNED_PACK).is_file()]
    return [*shipped[:1], *paths]


def _has_unscanned_rule(pack: Path) -> bool:
    """Whether ``pack`` has a rule of its own on UNSCANNED_CONTENT, read as the loader reads packs
    (:func:`load_yaml`: PyYAML's pure-Python parser cost `scan --policies builtin` ~0.2 s here)."""
    import yaml

    from agent.models import UNSCANNED_ENTITY

    try:
        raw = load_yaml(pack.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False  # the loader reports it
    rules = raw.get("rules") if isinstance(raw, dict) else None
    return any(
        isinstance(r, dict)
        and (r.get("id") == "unscanned-content" or UNSCANNED_ENTITY in (r.get("entities") or ()))
        for r in (rules if isinstance(rules, list) else ())
    )


def load_yaml(text: str) -> Any:
    """YAML as plain types (dicts, lists, strings, numbers): libyaml's safe loader when PyYAML was built
    with it (10x faster: packs load at every start and reload), else the pure-Python one; both build
    the same plain types. Raises yaml.YAMLError."""
    import yaml

    safe = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    # Safe: yaml's (C)SafeLoader constructs no arbitrary objects
    return yaml.load(text, Loader=safe)  # noqa: S506
