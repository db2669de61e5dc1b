"""Commands that need no classifier start without loading it: a probe writes ``sys.modules`` at the
end of a launch, so these tests see what `--help`, `config check` and `policy lint` pull in (how fast
they start is measured by bench/startup.py, never here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli import COMMANDS, build_parser, command_word
from tests.helpers import REPO, scan_cli

#: Never imported by a command that does not classify: Presidio and spaCy (~0.5 s), and rich, which
#: spaCy's CLI brings and structlog would import for pretty tracebacks we never render.
HEAVY = ("presidio_analyzer", "spacy", "rich")


#: Runs the command line as `python -m agent` does and writes, at exit, the modules it loaded.
_PROBE = """
import atexit, runpy, sys
out, sys.argv = sys.argv[1], ["dropwarden", *sys.argv[2:]]
atexit.register(lambda: open(out, "w").write("\\n".join(k for k, v in sys.modules.items() if v)))
runpy.run_module("agent", run_name="__main__", alter_sys=True)
"""


def imported(tmp_path: Path, *args: str, state_home: Path | None = None) -> set[str]:
    """Names of the modules one `python -m agent ARGS` launch loaded (its exit code is not checked)."""
    env = {**os.environ, "XDG_STATE_HOME": str(state_home)} if state_home else None
    return set(probed(_PROBE, tmp_path / "modules.txt", args, env).split())


def probed(probe: str, out: Path, args: tuple[str, ...], env: dict[str, str] | None) -> str:
    """What ``probe`` (run as ``python -c probe OUT ARGS`` from the repository) wrote to ``out``."""
    subprocess.run(
        [sys.executable, "-c", probe, str(out), *args],
        capture_output=True,
        timeout=120,
        cwd=REPO,
        check=False,
        env=env,
    )
    return out.read_text()


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("cfg")
    (tmp / "zone").mkdir()
    cfg = tmp / "agent.yaml"
    zone = f"  - name: drop\n    path: {tmp / 'zone'}\n    role: contractor-drop\n"
    cfg.write_text(f"zones:\n{zone}state_dir: {tmp / 's'}\n")
    return cfg


@pytest.mark.parametrize(
    ("args", "module"),
    [(("--help",), None), (("config", "check"), "config"), (("policy", "lint"), "policy")],
    ids=["help", "config-check", "policy-lint"],
)
def test_light_commands_never_load_the_classifier(
    args: tuple[str, ...], module: str | None, config_file: Path, tmp_path: Path
) -> None:
    full = (*args, "--config", str(config_file)) if module == "config" else args
    names = imported(tmp_path, *full)
    assert "agent.cli" in names  # the probe sees the launch's imports
    assert sorted(n for n in names if n.split(".")[0] in HEAVY) == []
    assert "subprocess" not in names  # only --version's build_revision runs git
    commands = {n for n in names if n.startswith("agent.commands.")}
    # only the chosen command's module (config's helpers are shared by policy)
    allowed = {f"agent.commands.{module}", "agent.commands.config"} if module else set()
    assert commands <= allowed
    if module:
        assert f"agent.commands.{module}" in commands


@pytest.mark.parametrize("how", ["up front", "by the command"])
def test_structlog_loads_without_rich(how: str, tmp_path: Path) -> None:
    """agent.cli imports structlog with rich hidden for most commands; config check (here: a public
    key to load, which may log) does the same itself before the first module that logs."""
    if how == "up front":
        names = imported(tmp_path, "keys", "--help")
    else:
        (tmp_path / "zone").mkdir()
        zone = f"  - name: drop\n    path: {tmp_path / 'zone'}\n"
        cfg = tmp_path / "agent.yaml"
        cfg.write_text(f"zones:\n{zone}signing_public_keys: [{tmp_path / 'no-such-key.pem'}]\n")
        names = imported(tmp_path, "config", "check", "--config", str(cfg))
        assert "agent.security.keys" in names
    assert "structlog" in names
    assert "rich" not in names


def test_the_table_is_what_the_modules_register() -> None:
    """Names, order and help lines of COMMANDS are those the modules' register() add (a command added
    to a module but not to the table could not be chosen)."""
    parser = build_parser()  # every module loaded
    sub = next(a for a in parser._actions if a.choices and a.dest == "command")
    registered = [(a.dest, a.help) for a in sub._choices_actions]
    assert registered == [(name, help_) for name, _, help_ in COMMANDS]
    for name, module, _ in COMMANDS:  # each name is registered by the module the table names
        one = build_parser([name])
        chosen = next(a for a in one._actions if a.choices and a.dest == "command").choices[name]
        assert chosen._defaults or chosen._subparsers is not None, (name, module)


def test_command_word_skips_top_level_options() -> None:
    assert command_word(["--help"]) is None
    assert command_word(["-h", "scan", "x"]) == "scan"
    assert command_word(["policy", "lint"]) == "policy"


def test_scan_loads_no_settings_without_a_config(tmp_path: Path) -> None:
    """A scan without --config never reads a config: no pydantic settings models, no daemon wiring,
    no ack file (the configuration error it may report is named from agent.daemon.errors)."""
    small = tmp_path / "a.txt"
    small.write_text("nothing to see\n")
    names = imported(tmp_path, "scan", str(small))
    assert {"agent.commands.scan", "agent.pipeline"} <= names  # the probe saw a real scan
    assert sorted(names & {"agent.daemon.settings", "agent.daemon.wiring", "agent.policy.acks"}) == []


def _findings(stdout: str) -> list[dict[str, object]]:
    """The JSONL records of a scan, without the timings that differ from run to run."""
    rows = [json.loads(line) for line in stdout.splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_scan_of_packs_loaded_before_reads_no_pack_and_finds_the_same(tmp_path: Path) -> None:
    """The second scan takes the compiled packs from its state dir: no YAML, pydantic or pack loader,
    the same findings; a damaged entry costs a load and changes nothing either."""
    small = tmp_path / "invoice.txt"
    small.write_text(
        "Invoice 2231 for ACME Ltd.\nCard on file: 4529 3817 4625 0198, exp 12/29.\n"
    )  # generated
    xdg = tmp_path / "xdg"
    first = imported(tmp_path, "scan", str(small), state_home=xdg)
    assert {"agent.policy.loader", "yaml"} <= first  # the probe saw the packs loaded
    entry = xdg / "dropwarden" / "checked-packs-policies.json"
    assert entry.stat().st_mode & 0o777 == 0o600
    again = imported(tmp_path, "scan", str(small), state_home=xdg)
    assert "agent.pipeline" in again
    assert sorted(again & {"agent.policy.loader", "agent.policy.schema", "pydantic", "yaml"}) == []
    cold = scan_cli(str(small), state_home=tmp_path / "cold")
    warm = scan_cli(str(small), state_home=xdg)
    entry.write_bytes(entry.read_bytes()[:-100])  # truncated
    damaged = scan_cli(str(small), state_home=xdg)
    assert cold.returncode == warm.returncode == damaged.returncode == 1  # the card is found
    key = (xdg / "dropwarden" / "fingerprint.key").read_bytes()
    (tmp_path / "cold" / "dropwarden" / "fingerprint.key").write_bytes(key)  # same key, same fingerprints
    cold = scan_cli(str(small), state_home=tmp_path / "cold")
    assert _findings(cold.stdout) == _findings(warm.stdout) == _findings(damaged.stdout)
    assert any(row.get("entity") == "CREDIT_CARD" for row in _findings(warm.stdout))


_LOADS_PROBE = """
import atexit, runpy, sys
import agent.policy.loader as loader
out, sys.argv = sys.argv[1], ["dropwarden", *sys.argv[2:]]
real, calls = loader.compile_policies, []
loader.compile_policies = lambda *a, **k: calls.append(1) or real(*a, **k)
atexit.register(lambda: open(out, "w").write(str(len(calls))))
runpy.run_module("agent", run_name="__main__", alter_sys=True)
"""


def test_scan_with_a_config_remembers_the_packs_in_the_agent_state_dir(tmp_path: Path) -> None:
    """`scan --config`: the daemon's packs compiled once, remembered in its state dir (private, ours),
    the same findings when they come from there."""
    (tmp_path / "zone").mkdir()
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    cfg = tmp_path / "agent.yaml"
    zone = f"  - name: drop\n    path: {tmp_path / 'zone'}\n    role: contractor-drop\n"
    cfg.write_text(f"zones:\n{zone}state_dir: {state}\n")
    small = tmp_path / "zone" / "invoice.txt"
    small.write_text(
        "Invoice 2231 for ACME Ltd.\nCard on file: 4529 3817 4625 0198, exp 12/29.\n"
    )  # generated
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    args = ("scan", "--format", "jsonl", "--no-progress", "--config", str(cfg), str(small))
    loads = [probed(_LOADS_PROBE, tmp_path / f"loads{i}.txt", args, env) for i in range(2)]
    assert loads == ["1", "0"]
    assert (state / "checked-packs-policies.json").stat().st_mode & 0o777 == 0o600
    warm = scan_cli("--config", str(cfg), str(small), state_home=tmp_path / "xdg")
    (state / "checked-packs-policies.json").unlink()
    cold = scan_cli("--config", str(cfg), str(small), state_home=tmp_path / "xdg")
    assert _findings(warm.stdout) == _findings(cold.stdout)
    assert any(row.get("entity") == "CREDIT_CARD" for row in _findings(warm.stdout))


def test_policy_lint_loads_no_settings_and_once_checked_no_checker(tmp_path: Path) -> None:
    """Without --config no settings models; packs checked before (the cache in this user's state
    dir) load neither the loader nor pydantic nor structlog."""
    first = imported(tmp_path, "policy", "lint", state_home=tmp_path / "xdg")
    assert "agent.policy.loader" in first  # the probe saw a real lint
    again = imported(tmp_path, "policy", "lint", state_home=tmp_path / "xdg")
    assert "agent.commands.policy" in again
    assert sorted(again & {"agent.policy.loader", "pydantic", "agent.log", "structlog", "ssl"}) == []
    for names in (first, again):
        assert sorted(names & {"agent.daemon.settings", "agent.daemon.wiring"}) == []


def test_config_check_loads_only_what_the_config_uses(config_file: Path, tmp_path: Path) -> None:
    """No public keys, no require_signed, OCR on: no cryptography, no signature wiring, and the OCR
    languages come from the tessdata directory, not from the extraction stage."""
    names = imported(tmp_path, "config", "check", "--config", str(config_file))
    assert "agent.daemon.settings" in names
    assert sorted(names & {"agent.extract", "agent.daemon.wiring", "agent.security.keys"}) == []


def test_config_check_of_packs_checked_before_loads_no_checker_and_no_logging(tmp_path: Path) -> None:
    """The agent's state dir present (0700): the second check answers the packs from the cache, so
    the pack loader is not imported; nothing either check loads logs, so neither loads structlog."""
    (tmp_path / "zone").mkdir()
    (tmp_path / "state").mkdir(mode=0o700)
    cfg = tmp_path / "agent.yaml"
    zone = f"  - name: drop\n    path: {tmp_path / 'zone'}\n"
    cfg.write_text(f"zones:\n{zone}state_dir: {tmp_path / 'state'}\n")
    first = imported(tmp_path, "config", "check", "--config", str(cfg))
    assert "agent.policy.loader" in first  # the probe saw a real check
    assert "structlog" not in first
    again = imported(tmp_path, "config", "check", "--config", str(cfg))
    assert "agent.daemon.settings" in again
    assert (
        sorted(again & {"agent.policy.loader", "agent.policy.schema", "structlog", "agent.log", "ssl"}) == []
    )


_GC_PROBE = """
import atexit, gc, runpy, sys
out, sys.argv = sys.argv[1], ["dropwarden", *sys.argv[2:]]
atexit.register(lambda: open(out, "w").write(f"{gc.isenabled()} {gc.get_freeze_count()}"))
runpy.run_module("agent", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize(
    ("args", "one_shot"), [(("policy", "lint"), True), (("--help",), False), (("keys", "--help"), False)]
)
def test_one_shot_checks_skip_the_cyclic_collector(
    args: tuple[str, ...], one_shot: bool, tmp_path: Path
) -> None:
    """`policy lint` (and `config check`) launched as a process run without the cyclic collector and
    leave what they allocated frozen for the exit; other commands keep it."""
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    enabled, frozen = probed(_GC_PROBE, tmp_path / "gc.txt", args, env).split()
    assert (enabled, int(frozen) > 0) == (("False", True) if one_shot else ("True", False))


_SCAN_GC_PROBE = """
import atexit, gc, sys
out, sys.argv = sys.argv[1], ["dropwarden", *sys.argv[2:]]
import agent.cli  # what runs before main() (agent.__main__ importing the command line) is not counted
early = []  # collections from main() on, before the scan's pipeline was built
def seen(phase, info):
    scan = sys.modules.get("agent.commands.scan")
    if phase == "start" and getattr(scan, "_PIPELINE", None) is None:
        early.append(info["generation"])
gc.callbacks.append(seen)
atexit.register(lambda: open(out, "w").write(f"{len(early)} {gc.isenabled()} {gc.get_freeze_count() > 0}"))
raise SystemExit(agent.cli.main(ARGS))
"""


def test_scan_starts_up_without_the_collector_and_scans_with_it(tmp_path: Path) -> None:
    """No cyclic collection while `scan` imports and builds its pipeline; then what it built is frozen
    and the collector is on for the files."""
    small = tmp_path / "a.txt"
    small.write_text("nothing to see\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "xdg")}
    args = ("scan", str(small))
    early, enabled, frozen = probed(
        _SCAN_GC_PROBE.replace("ARGS", ""), tmp_path / "gc.txt", args, env
    ).split()
    assert (early, enabled, frozen) == ("0", "True", "True")
    # the probe does see collections: main() called with arguments (not as the process) keeps the collector
    probe = _SCAN_GC_PROBE.replace("ARGS", "sys.argv[1:]")
    early, _, _ = probed(probe, tmp_path / "gc2.txt", args, env).split()
    assert int(early) > 0


def test_main_called_in_process_keeps_the_collector(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A caller of main() with its own arguments (a test, a wrapper) keeps its collector as it was."""
    import gc

    from agent.cli import main

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    frozen = gc.get_freeze_count()
    assert main(["policy", "lint"]) == 0
    # nothing frozen by it (objects an earlier freeze in this process kept may have gone since)
    assert gc.isenabled() and gc.get_freeze_count() <= frozen
