"""`dropwarden --version` names the revision and loads no command module (it must answer fast)."""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO


def test_version_names_the_revision_and_imports_no_command() -> None:
    """The version line carries a revision, and `-X importtime` shows no agent.commands or Presidio."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "agent", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("dropwarden ") and "(revision " in proc.stdout
    imported = proc.stderr
    for heavy in ("agent.commands", "presidio_analyzer", "spacy", "structlog"):
        assert f" {heavy}" not in imported, heavy
