"""The `dropwarden` command line: a thin dispatcher over agent/commands/*.

Exit codes: 0 clean, 1 findings at or above --fail-on (or a failed check), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from agent import __version__

#: Modules in agent/commands that add sub-commands; one per area of the product.
COMMAND_MODULES = ("scan", "run", "policy", "protect", "security")


class _Parser(argparse.ArgumentParser):
    """argparse that exits 2 with a one-line message (its default), never a traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="dropwarden", description="Data-leak monitoring for shared folders.")
    parser.add_argument("--version", action="version", version=f"dropwarden {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"agent.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"agent.commands.{name}":
                raise
            continue
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
