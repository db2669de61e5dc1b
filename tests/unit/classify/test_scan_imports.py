"""A scan loads neither Presidio nor spaCy unless a rule needs them, in the parent or in its worker.

Importing presidio_analyzer (which imports spaCy) costs about a second, more than the whole start-up
target of `dropwarden scan` (#19). A probe runs the command line as `python -m agent` does and writes
the loaded modules twice: in the forked worker after it scanned a file, and in the parent at exit
(how fast it starts is measured by bench/startup.py, never here).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import CARD_POLICY, REPO

#: Presidio and spaCy (~0.9 s), and tldextract (0.1 s: it imports requests), which only e-mail
#: validation needs and then only when a candidate is found.
HEAVY = ("presidio_analyzer", "spacy", "tldextract")
#: Imported at their first use: phonenumbers at the first phone candidate to validate, asn1crypto at
#: the first PKCS#12 key store (~15-25 ms each). The small file has neither (its card is no phone).
LAZY = ("phonenumbers", "asn1crypto")

#: Patches the worker's per-file call to write its modules after each file, then runs the CLI.
_PROBE = """
import atexit, runpy, sys
import agent.scanpool as pool

parent, worker, sys.argv = sys.argv[1], sys.argv[2], ["dropwarden", *sys.argv[3:]]
loaded = lambda: "\\n".join(k for k, v in sys.modules.items() if v)
scan_one = pool.guarded

def probed(scan, ref, *rest):
    try:
        return scan_one(scan, ref, *rest)
    finally:
        open(worker, "w").write(loaded())

pool.guarded = probed
atexit.register(lambda: open(parent, "w").write(loaded()))
runpy.run_module("agent", run_name="__main__", alter_sys=True)
"""


def imported(tmp_path: Path, *args: str) -> tuple[set[str], set[str]]:
    """Modules loaded by the parent and by the worker of one `python -m agent scan ARGS` launch."""
    parent, worker = tmp_path / "parent.txt", tmp_path / "worker.txt"
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(parent), str(worker), "scan", "--no-progress", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")},
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: findings at or above --fail-on
    return set(parent.read_text().split()), set(worker.read_text().split())


def heavy(names: set[str], roots: tuple[str, ...] = HEAVY) -> list[str]:
    return sorted(n for n in names if n.split(".")[0] in roots)


@pytest.fixture
def small_file(tmp_path: Path) -> Path:
    f = tmp_path / "invoice.txt"
    f.write_text("Invoice 2231 for ACME Ltd.\nCard on file: 4111 1111 1111 1111, exp 12/29.\n")
    return f


def test_probe_sees_presidio_when_a_rule_needs_it(tmp_path: Path, small_file: Path) -> None:
    """A rule on an entity only Presidio recognises (MAC_ADDRESS) does load it: the probe sees real
    imports."""
    pack = tmp_path / "mac.yaml"
    pack.write_text(CARD_POLICY.replace("CREDIT_CARD", "MAC_ADDRESS").replace("test-cards", "test-mac"))
    parent, worker = imported(tmp_path, "--policies", str(pack), str(small_file))
    assert "agent.classify.engine" in parent and "agent.classify.engine" in worker
    assert "presidio_analyzer" in parent and "presidio_analyzer" in worker


def test_scan_with_our_recognizers_only_loads_no_presidio(tmp_path: Path, small_file: Path) -> None:
    pack = tmp_path / "cards.yaml"
    pack.write_text(CARD_POLICY)
    parent, worker = imported(tmp_path, "--policies", str(pack), str(small_file))
    assert "agent.classify.recognizers.credit_card" in worker
    assert heavy(parent) == [] and heavy(worker) == []


def test_scan_with_the_shipped_packs_loads_no_presidio(tmp_path: Path, small_file: Path) -> None:
    parent, worker = imported(tmp_path, str(small_file))
    assert "agent.classify.recognizers.credit_card" in worker
    assert heavy(parent) == [] and heavy(worker) == []
    assert "agent.classify.recognizers.phone" in worker and "agent.classify.keystore" in worker
    assert heavy(parent, LAZY) == [] and heavy(worker, LAZY) == []
