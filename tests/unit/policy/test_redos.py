"""ReDoS in policy regexes: patterns RE2 can run are run by RE2 (linear time), the others must pass the
backtracking check, and a scan over a file crafted against the pattern finishes. Real packs, the real
`dropwarden scan`; nothing of it is mocked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from agent.classify.recognizers.custom import SpecRecognizer
from agent.models import RecognizerSpec
from agent.policy import PolicyError, load_policies
from agent.policy.regexcheck import pattern_problem

REPO = Path(__file__).resolve().parents[3]
EXPONENTIAL = r"(?:a?){40}a{40}"
POLYNOMIAL = r"\w*\w*\w*\w*\w*\w*\w*!"


def _pack(path: Path, regex: str) -> Path:
    path.write_text(
        "pack: hostile\nrecognizers:\n  - name: hostile\n    entity: HOSTILE_VALUE\n"
        f"    patterns: [{{name: p, regex: '{regex}', score: 0.9}}]\n"
        "rules:\n  - {id: hostile, desc: d, severity: high, entities: [HOSTILE_VALUE]}\n"
    )
    return path


@pytest.mark.parametrize("regex", [EXPONENTIAL, POLYNOMIAL])
def test_patterns_re2_can_run_are_accepted_and_run_on_re2(regex: str) -> None:
    """RE2 runs them in linear time, whatever their shape: accepted, and compiled with RE2."""
    assert pattern_problem(regex) is None
    rec = SpecRecognizer(
        RecognizerSpec(name="hostile", entity="HOSTILE_VALUE", patterns=(("p", regex, 0.9),))
    )
    assert all(type(rx).__module__.startswith("re2") for _, rx in rec._compiled)


@pytest.mark.parametrize("regex", [f"(?=a){EXPONENTIAL}", f"(?<=x){POLYNOMIAL}", r"(?<=x)(\d+)+y"])
def test_backtracking_patterns_only_python_re_can_run_are_refused(tmp_path: Path, regex: str) -> None:
    """With a lookaround RE2 cannot run them: the loader refuses them, naming file, recognizer, field."""
    pack = _pack(tmp_path / "hostile.yaml", regex.replace("'", "''"))
    with pytest.raises(PolicyError, match=r"hostile\.yaml: rule 'hostile': field 'patterns\.0\.regex'"):
        load_policies([pack], known_entities=frozenset())


@pytest.mark.slow
@pytest.mark.parametrize(("regex", "text"), [(EXPONENTIAL, "a" * 40), (POLYNOMIAL, "a" * 300)])
def test_scan_over_a_file_crafted_against_the_pattern_finishes(tmp_path: Path, regex: str, text: str) -> None:
    """On Python's re either pair runs for longer than anyone waits (2^40, 300^7 steps); on RE2 the scan
    ends. The subprocess timeout is the failure, not a measurement."""
    pack = _pack(tmp_path / "hostile.yaml", regex.replace("'", "''"))
    target = tmp_path / "crafted.txt"
    target.write_text("\n".join([text] * 20) + "\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "scan", str(target), "--policies", str(pack), "--format", "jsonl"],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=240,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert '"kind": "summary"' in proc.stdout
