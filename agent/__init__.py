"""Dropwarden: data-leak monitoring agent for Linux file servers."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"


def build_revision() -> str:
    """The git revision this copy was built from, so an operator can tell which build a server runs.

    Packages (`make deb`) record it in ``agent/_revision.txt``; a source checkout asks git. Called
    only by ``--version`` and the build-info metric, never on the scan path, so subprocess is
    imported here rather than by every command.
    """
    import subprocess

    here = Path(__file__).resolve().parent
    recorded = here / "_revision.txt"
    if recorded.is_file():
        return recorded.read_text(encoding="ascii", errors="replace").strip() or "unknown"
    if (here.parent / ".git").exists():
        try:
            proc = subprocess.run(  # noqa: S603 - fixed argv, no shell, no user input
                ["git", "-C", str(here.parent), "describe", "--always", "--dirty", "--abbrev=12"],  # noqa: S607
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        return proc.stdout.strip() or "unknown"
    return "unknown"
