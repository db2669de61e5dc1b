"""The `dropwarden` command line: a thin dispatcher over agent/commands/*.

Exit codes: 0 clean, 1 findings at or above --fail-on (or a failed check), 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import types
from collections.abc import Collection, Sequence

from agent import __version__

#: Every top-level command in ``--help`` order: (name, its module in agent/commands, one-line help).
#: A module's ``register(subparsers)`` adds all of its commands; only the chosen command's module is
#: imported, so ``--help`` and light commands never load Presidio or spaCy (tests/unit/operator/
#: test_cli_help.py checks this table against what the modules register).
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("scan", "scan", "scan files and folders once and report findings"),
    ("run", "run", "watch zones and alert on protected data (the agent daemon)"),
    ("config", "config", "check the agent configuration"),
    ("policy", "policy", "test and lint policy packs"),
    ("explain", "policy", "show every candidate in a file and what each rule decided"),
    ("ack", "ack", "acknowledge findings without editing policy"),
    ("protect", "protect", "build indexes of protected data (exact data match, fingerprints)"),
    ("keys", "security", "manage the security team's key pairs"),
    ("quarantine", "security", "inspect and restore the quarantine vault"),
    ("sign", "security", "write FILE.sig (Ed25519) for policy packs and indexes"),
    ("manifest", "security", "sign the manifest of a whole policy directory"),
    ("verify", "security", "check FILE.sig against trusted signing keys"),
    ("audit", "security", "the tamper-evident audit log"),
    ("evidence", "security", "sealed match context"),
    ("bundle", "bundle", "signed policy bundles for a fleet of agents"),
)


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


def build_parser(commands: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; only the modules of ``commands`` are imported (all when None).

    The other commands get a parser from :data:`COMMANDS` alone: enough for the top-level ``--help``
    and for argparse to pick the command, without loading what they import (Presidio, pydantic, ...).
    """
    parser = argparse.ArgumentParser(
        prog="dropwarden", description="Data-leak monitoring for shared folders."
    )
    parser.add_argument("--version", action=_VersionAction, help="print the version and git revision")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    chosen = {module for name, module, _ in COMMANDS if commands is None or name in commands}
    registered: set[str] = set()
    for name, module, help_ in COMMANDS:
        if module in chosen and module not in registered:
            importlib.import_module(f"agent.commands.{module}").register(sub)
            registered.add(module)
        elif module not in chosen:
            sub.add_parser(name, help=help_)
    return parser


class _ImportedOnUse(types.ModuleType):
    """A stand-in for a module its importer only uses later, if ever: the first attribute asked for
    imports the real module (which replaces it in ``sys.modules`` from then on)."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") or sys.modules.get(self.__name__) is self:
            raise AttributeError(name)  # the import system's probes; or still hidden: not the module
        return getattr(importlib.import_module(self.__name__), name)


def import_structlog_without_rich() -> None:
    """Import structlog with rich hidden from it and asyncio deferred.

    When rich is installed (spaCy's CLI brings it) structlog imports it, ~70 modules, only for pretty
    tracebacks agent.log never renders (it renders plain ones). structlog.stdlib and _native import
    asyncio (with ssl, ~0.02 CPU s) only for their async loggers, which call it inside coroutines,
    where asyncio is loaded already: they get a stand-in that imports it on first use. Both end here:
    a later ``import rich`` (spaCy) or ``import asyncio`` gets the real module."""
    if "structlog" in sys.modules or "rich" in sys.modules:
        return
    deferred = None if "asyncio" in sys.modules else _ImportedOnUse("asyncio")
    sys.modules["rich"] = None  # type: ignore[assignment]  # import rich -> ImportError (importlib docs)
    if deferred is not None:
        sys.modules["asyncio"] = deferred
    try:
        import structlog  # noqa: F401
    finally:
        del sys.modules["rich"]
        if deferred is not None and sys.modules.get("asyncio") is deferred:
            del sys.modules["asyncio"]


#: Commands that set up logging themselves, before anything they load logs (through
#: :func:`import_structlog_without_rich`): `policy lint` and `config check` answered from their cache
#: never load structlog (~0.05 s).
LOGGING_SET_UP_BY_COMMAND = frozenset({"config", "policy", "explain"})


#: Commands that check something once and exit (`config check`, `policy lint|test`). What they
#: allocate (the modules they import, the pydantic schemas, the packs' ~200 regex parse trees) lives
#: until the process ends, so the cyclic collector frees nothing worth its passes: ~0.01 s of them
#: while importing and checking, and ~0.03 s for the full collection the interpreter runs at exit.
ONE_SHOT_COMMANDS = frozenset({"config", "policy"})
#: Commands whose start-up (imports, building the pipeline) runs without the cyclic collector: its
#: passes over the ~100 modules, the recognizers and the policy set being built cost a one-file scan
#: ~0.04 CPU s and free nothing (all of it lives as long as the scan). The command turns the
#: collector back on once what it built is frozen (`scan`: agent/commands/scan.py, before any file).
START_UP_WITHOUT_COLLECTOR = frozenset({"scan"})


def command_word(words: Sequence[str]) -> str | None:
    """The sub-command named on the command line: its first word that is not an option (the top-level
    options, -h and --version, take no value)."""
    return next((w for w in words if not w.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words == ["--version"]:  # answered before the command modules (and their imports) load
        print(version_line())
        return 0
    word = command_word(words)
    # only as the process's own command line: a caller of main() (a test) keeps its collector
    one_shot = argv is None and word in ONE_SHOT_COMMANDS
    if one_shot or (argv is None and word in START_UP_WITHOUT_COLLECTOR):
        gc.disable()
    try:
        return _run(words, word)
    finally:
        if one_shot:  # the process exits next: what it allocated needs no final collection
            gc.freeze()


def _run(words: list[str], word: str | None) -> int:
    if word and word not in LOGGING_SET_UP_BY_COMMAND:
        import_structlog_without_rich()
    parser = build_parser([word] if word else [])
    args = parser.parse_args(words)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dropwarden scan ... | head`: the reader left; no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
        return 141  # as a shell reports a command killed by SIGPIPE
