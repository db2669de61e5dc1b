"""The `dropwarden` command line: a thin dispatcher over agent/commands/*.

Exit codes: 0 clean, 1 findings at or above --fail-on (or a failed check), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from agent import __version__

#: Modules in agent/commands that add sub-commands; one per area of the product.
COMMAND_MODULES = ("scan", "run", "config", "policy", "ack", "protect", "security", "bundle")


def version_line() -> str:
    """``dropwarden <release> (revision <git revision>)``: the revision is asked for only here."""
    from agent import build_revision

    return f"dropwarden {__version__} (revision {build_revision()})"


class _VersionAction(argparse.Action):
    """``--version``: the release and the git revision it was built from (asked only when printed)."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=help)

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        print(version_line())
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dropwarden", description="Data-leak monitoring for shared folders."
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and git revision")
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
    words = list(sys.argv[1:] if argv is None else argv)
    if words == ["--version"]:  # answered before the command modules (and their imports) load
        print(version_line())
        return 0
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dropwarden scan ... | head`: the reader left; no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
        return 141  # as a shell reports a command killed by SIGPIPE
