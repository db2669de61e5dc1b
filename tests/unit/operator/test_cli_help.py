"""CLI conventions (clig.dev): every option and argument has help text, every command's --help
states its exit codes."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from agent.cli import build_parser


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))
            return
    yield " ".join(path), parser


COMMANDS = dict(_commands(build_parser()))


def test_every_command_is_found() -> None:
    assert {"scan", "run", "config check", "policy lint", "explain", "ack add"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_has_help(name: str) -> None:
    missing = [
        a.option_strings[0] if a.option_strings else a.dest
        for a in COMMANDS[name]._actions
        if not isinstance(a, argparse._HelpAction) and not a.help
    ]
    assert missing == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_states_exit_codes(name: str) -> None:
    text = COMMANDS[name].format_help()
    assert "exit codes:" in text
    assert "0 " in text.split("exit codes:", 1)[1]


def test_progress_of_a_long_scan_stays_on_stderr(tmp_path) -> None:
    import json
    import os
    import subprocess
    import sys

    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(60):
        (tree / f"f{i:02}.txt").write_text(f"note {i}\n")
    master, slave = os.openpty()  # stderr is a terminal: the progress bar is drawn there
    try:
        done = subprocess.run(
            [sys.executable, "-m", "agent", "scan", str(tree), "--format", "jsonl", "--jobs", "1"],
            stdout=subprocess.PIPE, stderr=slave, env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "x")},
            timeout=300, check=False,
        )  # fmt: skip
        os.close(slave)
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
    finally:
        os.close(master)
    assert done.returncode == 0
    records = [json.loads(line) for line in done.stdout.decode().splitlines()]  # JSON only on stdout
    assert records[-1]["kind"] == "summary"
    assert records[-1]["files"] == 60
    assert b"/60 files" in err
