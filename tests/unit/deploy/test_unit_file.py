"""deploy/dropwarden.service carries the directives the issue requires (checked without systemd)."""

from __future__ import annotations

import re
from pathlib import Path

UNIT = Path(__file__).resolve().parents[3] / "deploy" / "dropwarden.service"


def _directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if m:
            out.setdefault(m[1], []).append(m[2])
    return out


def test_service_lifecycle_directives() -> None:
    """Type=notify with a watchdog, restart on failure, the documented ExecStart= and a SIGHUP reload."""
    d = _directives()
    assert d["Type"] == ["notify"]
    assert d["WatchdogSec"] and d["Restart"] == ["on-failure"]
    assert d["ExecStart"] == ["/opt/dropwarden/venv/bin/dropwarden run --config /etc/dropwarden/agent.yaml"]
    check = (
        "/opt/dropwarden/venv/bin/dropwarden config check --zones-may-be-missing"
        " --config /etc/dropwarden/agent.yaml"
    )
    assert d["ExecStartPre"] == [check]
    assert d["ExecReload"] == [check, "/bin/kill -HUP $MAINPID"]


def test_sandbox_directives() -> None:
    """The sandbox: no capabilities, strict read-only tree, loopback-only IP, umask 077, syscall filter."""
    d = _directives()
    expected = {
        "User": "dropwarden",
        "StateDirectory": "dropwarden",
        "ConfigurationDirectory": "dropwarden",
        "ProtectSystem": "strict",
        "ProtectHome": "read-only",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "IPAddressDeny": "any",
        "IPAddressAllow": "localhost",
        "UMask": "0077",
        "MemoryDenyWriteExecute": "yes",
        "ProtectProc": "invisible",
        "ProcSubset": "pid",
        "SystemCallArchitectures": "native",
        "KeyringMode": "private",
        "DevicePolicy": "closed",
    }
    assert {k: d.get(k, [None])[0] for k in expected} == expected
    assert d["SystemCallFilter"][0] == "@system-service"
    assert "MemoryMax" in d and "ReadOnlyPaths" in d and "ReadWritePaths" in d
    assert "PrivateUsers" not in d  # would hide the share owners' uids: see the comment in the unit
