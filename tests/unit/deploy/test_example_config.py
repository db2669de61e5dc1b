"""deploy/agent.example.yaml loads through the real settings loader and documents every option."""

from __future__ import annotations

import re
import typing
from dataclasses import fields
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
EXAMPLE = DEPLOY / "agent.example.yaml"
UNIT = DEPLOY / "dropwarden.service"

settings_mod = pytest.importorskip(
    "agent.daemon.settings", reason="agent/daemon/settings.py (the config loader) not there yet"
)


def _option_paths(model: type, prefix: str = "") -> set[str]:
    """Dotted names of every option of a pydantic model, nested models included."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        out.add(prefix + name)
        for arg in _leaf_types(info.annotation):
            if isinstance(arg, type) and hasattr(arg, "model_fields"):
                out |= _option_paths(arg, f"{prefix}{name}.")
    return out


def _leaf_types(tp: object) -> list[object]:
    args = typing.get_args(tp)
    return [leaf for a in args for leaf in _leaf_types(a)] if args else [tp]


def _documented_keys(text: str) -> set[str]:
    """Dotted keys in the YAML, commented-out example keys ("#  key: ...") included, by indentation."""
    keys: set[str] = set()
    stack: list[tuple[int, str]] = []
    for raw in text.splitlines():
        m = re.match(
            r"^(?P<indent>\s*)(?:#\s?)?(?P<indent2>\s*)(?:- )?(?P<key>[a-z_][a-z0-9_]*):(?:\s|$)", raw
        )
        if not m:
            continue
        indent = len(m["indent"]) + len(m["indent2"]) + (2 if "- " in raw[: raw.index(m["key"])] else 0)
        if raw.lstrip().startswith("#") and indent == 0:
            continue  # prose comment at column 0, not a key
        while stack and stack[-1][0] >= indent:
            stack.pop()
        keys.add(".".join([k for _, k in stack] + [m["key"]]))
        stack.append((indent, m["key"]))
    return keys


def test_example_loads_through_the_settings_loader() -> None:
    """load_settings() accepts the example as shipped and sees both zones, the JSONL sink and the webhook."""
    s = settings_mod.load_settings(EXAMPLE)
    assert [z.name for z in s.zones] == ["contractor-drop", "outbound"]
    assert s.sinks.jsonl is not None and s.sinks.jsonl.path == "/var/log/dropwarden/alerts.jsonl"
    assert [w.format for w in s.sinks.webhooks] == ["alertmanager"]
    assert s.state_dir == "/var/lib/dropwarden"


def test_example_documents_every_option() -> None:
    """Each option of the Settings model (nested ones too) appears in the example, set or commented."""
    expected = _option_paths(settings_mod.Settings)
    documented = _documented_keys(EXAMPLE.read_text(encoding="utf-8"))
    assert expected - documented == set()
    assert documented - expected == set(), "the example documents options the loader does not know"


def test_example_states_the_real_defaults() -> None:
    """Values the example presents as defaults equal the loader's and models.Limits' defaults."""
    from agent.models import Limits

    example = settings_mod.load_settings(EXAMPLE)
    for f in fields(Limits):
        if f.name != "follow_symlinks":
            assert getattr(example.limits, f.name) == f.default, f.name
    defaults = settings_mod.Settings.model_fields
    # Set to example values on purpose (commented so): quarantine needs a key.
    deliberate = {"zones", "workers", "sinks", "quarantine_public_key"}
    for name, info in defaults.items():
        if name in deliberate or info.default_factory is not None:
            continue
        value = getattr(example, name)
        assert value == info.default or (value == () and info.default == ()), name
    assert example.metrics == settings_mod.MetricsConfig()


def test_example_zones_match_the_unit_sandbox() -> None:
    """Quarantine zones are ReadWritePaths= of the unit, the others ReadOnlyPaths=, so the sandbox fits."""
    example = settings_mod.load_settings(EXAMPLE)
    unit = UNIT.read_text(encoding="utf-8")

    def paths(key: str) -> set[str]:
        return {p for line in re.findall(rf"^{key}=(.*)$", unit, re.M) for p in line.split()}

    rw, ro = paths("ReadWritePaths"), paths("ReadOnlyPaths")
    for zone in example.zones:
        assert zone.path in (rw if zone.quarantine else ro), zone.name
    assert example.sinks.jsonl is not None
    assert Path(example.sinks.jsonl.path).parent == Path("/var/log/dropwarden")  # LogsDirectory=dropwarden
    assert "LogsDirectory=dropwarden" in unit and "StateDirectory=dropwarden" in unit
