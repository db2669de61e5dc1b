"""The policies the agent's parent holds (agent.daemon.policyview): the compiled PolicySet, the same
answers as the workers' pipeline without the engine, the one name the workers do not mask (an old vault
record's) masked in a separate process, and a reload's pipeline checked in a separate process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.daemon.policyview import ActivePolicies, check_buildable
from agent.daemon.settings import Settings
from agent.daemon.wiring import PipelineSpec, build_with_spec
from agent.models import ExtractError, FileRef
from agent.pipeline import Pipeline
from agent.policy import PolicyError
from tests.helpers import REPO, fake_card

KEY = b"k" * 32


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[ActivePolicies, str, PipelineSpec]:
    tmp = tmp_path_factory.mktemp("policyview")
    (tmp / "drop").mkdir()
    settings = Settings.model_validate(
        {"zones": [{"name": "drop", "path": str(tmp / "drop")}], "state_dir": str(tmp / "state")}
    )
    policies, digest, spec = build_with_spec(settings, KEY)
    return ActivePolicies(policies, spec), digest, spec


def test_the_parent_answers_as_the_workers_pipeline_does(
    built: tuple[ActivePolicies, str, PipelineSpec],
) -> None:
    """Rules and UNSCANNED_CONTENT findings equal those of the pipeline the workers build from the same
    spec; the parent holds no pipeline to give them."""
    active, _digest, spec = built
    pipeline = spec()
    assert active.policies.digest == pipeline.policies.digest  # the effective rules, value sets, recognizers
    assert [r.id for r in active.policies.rules] == [r.id for r in pipeline.policies.rules]
    card = fake_card()
    ref = FileRef(f"/srv/drop/card {card}.zip", "drop", "outbound", root="/srv/drop")
    errors = (
        ExtractError(ref.path, None, "timeout", "stopped"),
        ExtractError(ref.path, "a.txt", "encrypted", ""),
    )
    findings = active.unscanned(ref, errors)
    assert findings == pipeline.unscanned(ref, errors) and len(findings) == 2
    assert not [v for v in vars(active).values() if isinstance(v, Pipeline)]


@pytest.mark.slow  # a pipeline built in a child process: ~5 s
def test_a_name_is_masked_in_a_child_as_the_workers_mask_it(
    built: tuple[ActivePolicies, str, PipelineSpec],
) -> None:
    """A vault record's path (the one name no worker masked) is masked by the workers' pipeline, built
    in a child process: the same answer as that pipeline gives here."""
    active, _digest, spec = built
    card = fake_card()
    ref = FileRef(f"/srv/drop/card {card}.zip", "drop", "outbound", root="/srv/drop")
    masked = f"/srv/drop/card {card[:4]}********{card[-4:]}.zip"
    assert active.shown_path(ref) == spec().shown_path(ref) == masked


@pytest.mark.slow  # a pipeline (that fails) built in a child process: ~5 s
def test_a_name_the_child_cannot_mask_is_withheld(built: tuple[ActivePolicies, str, PipelineSpec]) -> None:
    """The child cannot build the pipeline (here: the pack bytes are missing): the name is withheld,
    never shown in clear."""
    active, _digest, spec = built
    unbuildable = PipelineSpec(spec.settings, spec.key, sources={}, index_bytes={})
    broken = ActivePolicies(active.policies, unbuildable)
    card = fake_card()
    ref = FileRef(f"/srv/drop/card {card}.zip", "drop", "outbound", root="/srv/drop")
    shown = broken.shown_path(ref)
    assert shown.startswith("/srv/drop/[name withheld: ") and card not in shown


@pytest.mark.slow  # a pipeline built in a child process: ~5 s
def test_a_pipeline_the_workers_could_build_passes_the_reload_check(
    built: tuple[ActivePolicies, str, PipelineSpec],
) -> None:
    check_buildable(built[2])


@pytest.mark.slow  # a pipeline built in a child process: ~5 s
def test_a_pipeline_the_workers_could_not_build_is_refused_with_one_line(
    built: tuple[ActivePolicies, str, PipelineSpec],
) -> None:
    """The same settings without the pack bytes the agent verified: the build in the child fails
    (the loader reads nothing but the verified sources) and the reload is refused, naming why."""
    spec = built[2]
    broken = PipelineSpec(spec.settings, spec.key, sources={}, index_bytes={})
    with pytest.raises(
        PolicyError, match=r"could not build the new pipeline: PolicyError: .*not among the verified"
    ):
        check_buildable(broken)


def test_a_build_that_outlives_the_deadline_is_refused(
    built: tuple[ActivePolicies, str, PipelineSpec],
) -> None:
    with pytest.raises(PolicyError, match="not built within 0 s"):
        check_buildable(built[2], timeout=0.0)


def test_the_digest_is_the_one_the_full_build_gives(built: tuple[ActivePolicies, str, PipelineSpec]) -> None:
    """build_with_spec no longer builds a pipeline: its digest must still be build_for's (a different
    one would rescan every file at the first start after an upgrade)."""
    from agent.daemon.wiring import build_for

    _active, digest, spec = built
    assert build_for(spec.settings, KEY)[1] == digest


PARENT_PROBE = """
import sys
from agent.daemon.app import Agent
from agent.daemon.policyview import ActivePolicies
from agent.daemon.settings import Settings
from agent.daemon.wiring import build_with_spec
from agent.models import ExtractError, FileRef
from agent.pipeline import Pipeline
zones = [{"name": "drop", "path": sys.argv[1]}]
settings = Settings.model_validate({"zones": zones, "state_dir": sys.argv[2]})
policies, digest, spec = build_with_spec(settings, b"k" * 32)
active = ActivePolicies(policies, spec)
ref = FileRef(sys.argv[1] + "/big.bin", "drop", "contractor-drop", root=sys.argv[1])
assert active.unscanned(ref, (ExtractError(ref.path, None, "timeout", "stopped"),))
print(sorted({m.split(".")[0] for m in sys.modules} & {"presidio_analyzer", "spacy", "agent"}))
"""


def test_the_parent_loads_policies_without_the_recognizer_engine(tmp_path: Path) -> None:
    """What the agent's parent does at start-up and for a killed worker's rules imports neither
    Presidio nor spaCy (about 70 MB of the parent's memory)."""
    (tmp_path / "drop").mkdir()
    out = subprocess.run(
        [sys.executable, "-c", PARENT_PROBE, str(tmp_path / "drop"), str(tmp_path / "state")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert out.stdout.split("\n")[-2] == "['agent']", out.stderr[-2000:]
