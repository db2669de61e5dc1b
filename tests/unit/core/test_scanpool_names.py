"""`scan`'s pool names each file in its worker before reading it; the parent never classifies a name.

A worker first says how outputs show the file's path (agent.scanpool.Naming.shown, which classifies the
name), then scans. A file whose worker is killed or dies still shows the name its worker said; one whose
worker died before saying it shows ``Naming.withheld`` (computed in the parent without classifying).
Real forked workers, real SIGKILLs, real hangs inside ``re``: nothing of the pool is mocked.
"""

from __future__ import annotations

import os
import random
import re
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.commands import scan
from agent.demo import group4, luhn_complete
from agent.models import ExtractError, FileRef, Verdict
from agent.scanpool import WORKER_DIED, Naming, scan_named
from tests.helpers import SLOW_NAME_PACK
from tests.unit.core.conftest import in_worker_on

CARD = group4(luhn_complete("45", 16, random.Random(23)))
NO_KILL = 600.0


def _virtual(n: int, special: dict[int, str]) -> list[FileRef]:
    return [FileRef(f"/virtual/{i:04}-{special.get(i, 'plain')}") for i in range(n)]


def _ok(ref: FileRef) -> Verdict:
    return Verdict(ref.path, None, (), (), 1, 0.0)


def _said(ref: FileRef) -> str:
    """A stand-in masking that shows where it ran: the worker's pid, never the parent's."""
    return f"{ref.path}@{os.getpid()}"


def _withheld(ref: FileRef) -> str:
    return f"/virtual/[withheld {ref.path.rsplit('-', 1)[-1]}]"


def _hang_in_c() -> None:
    re.match(r"(a+)+$", "a" * 60 + "!")  # catastrophic backtracking inside re's C matcher


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _run(refs: list[FileRef], jobs: int, scan_one: Callable, naming: Naming, budget: float = NO_KILL):
    out = list(scan_named(refs, jobs, scan_one, budget, naming))
    assert [v.path for v, _ in out] == [r.path for r in refs]
    return out


def _pid_of(shown: str) -> int:
    return int(shown.rsplit("@", 1)[1])


@pytest.mark.parametrize("jobs", [1, 2])
def test_every_name_is_said_by_a_worker_and_yielded_with_its_verdict(
    jobs: int, no_leftover_children: None
) -> None:
    refs = _virtual(40, {})
    out = _run(refs, jobs, _ok, Naming(_said, _withheld))
    for (verdict, shown), ref in zip(out, refs, strict=True):
        assert verdict == _ok(ref)
        assert shown.startswith(ref.path + "@")
        assert _pid_of(shown) != os.getpid()


@pytest.mark.parametrize("jobs", [1, 3])
def test_a_worker_killed_mid_file_leaves_the_name_it_said(jobs: int, no_leftover_children: None) -> None:
    """The scan hangs in C code after the name was said: the worker is SIGKILLed at the budget, and the
    timeout error shows the said name; the files queued behind it are scanned by a fresh worker."""
    refs = _virtual(8, {2: "hang", 5: "hang"})
    out = _run(refs, jobs, in_worker_on("hang", _hang_in_c, _ok), Naming(_said, _withheld), budget=0.5)
    for (verdict, shown), ref in zip(out, refs, strict=True):
        if ref.path.endswith("hang"):
            assert [(e.path, e.reason) for e in verdict.errors] == [(shown, "timeout")]
            assert shown.startswith(ref.path + "@")
            assert _pid_of(shown) != os.getpid()
        else:
            assert verdict == _ok(ref)


def test_a_worker_that_dies_after_saying_the_name_leaves_it(no_leftover_children: None) -> None:
    """A worker killed twice on the file (OOM, segfault) after naming it: 'worker died' under that name."""
    refs = _virtual(10, {4: "poison"})
    out = _run(refs, 2, in_worker_on("poison", _die, _ok), Naming(_said, _withheld))
    verdict, shown = out[4]
    assert verdict.errors == (ExtractError(shown, None, "internal", WORKER_DIED),)
    assert shown.startswith(refs[4].path + "@")
    assert all(v == _ok(r) for (v, _), r in zip(out, refs, strict=True) if r is not refs[4])


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_worker_that_dies_before_saying_the_name_has_it_withheld(
    jobs: int, no_leftover_children: None
) -> None:
    """The worker dies while it masks the name (twice): the name is withheld, the parent never tries."""
    refs = _virtual(10, {0: "victim", 7: "victim"})
    naming = Naming(in_worker_on("victim", _die, _said), _withheld)  # type: ignore[arg-type]
    out = _run(refs, jobs, _ok, naming)
    for i in (0, 7):
        verdict, shown = out[i]
        assert shown == _withheld(refs[i])
        assert verdict.errors == (ExtractError(shown, None, "internal", WORKER_DIED),)
    assert all(
        shown.startswith(r.path + "@") for (_, shown), r in zip(out, refs, strict=True) if "plain" in r.path
    )


def test_a_name_that_hangs_its_masking_is_killed_and_withheld(no_leftover_children: None) -> None:
    """Masking the name never returns (a pack regex backtracking on it): the file's budget covers the
    naming too, so the worker is killed, the name withheld, and the scan goes on."""
    refs = _virtual(6, {1: "slowname"})
    naming = Naming(in_worker_on("slowname", _hang_in_c, _said), _withheld)  # type: ignore[arg-type]
    out = _run(refs, 2, _ok, naming, budget=0.5)
    verdict, shown = out[1]
    assert shown == _withheld(refs[1])
    assert [(e.path, e.reason) for e in verdict.errors] == [(shown, "timeout")]
    assert all(v == _ok(r) for (v, _), r in zip(out, refs, strict=True) if "plain" in r.path)


def test_a_masking_that_raises_withholds_the_name_and_the_file_is_scanned(no_leftover_children: None) -> None:
    def failing(ref: FileRef) -> str:
        if ref.path.endswith("odd"):
            raise ValueError(ref.path)
        return _said(ref)

    refs = _virtual(4, {3: "odd"})
    out = _run(refs, 2, _ok, Naming(failing, _withheld))
    assert out[3] == (_ok(refs[3]), _withheld(refs[3]))


def test_a_scan_that_raises_shows_the_said_name(
    monkeypatch: pytest.MonkeyPatch, no_leftover_children: None
) -> None:
    """scan's own worker function: an exception costs the file, its error shows the masked name."""

    class Raising:
        def scan(self, ref: FileRef) -> Verdict:
            raise ValueError(ref.path)

    monkeypatch.setattr(scan, "_PIPELINE", Raising())
    refs = _virtual(3, {})
    out = _run(refs, 2, scan._scan_one, Naming(_said, _withheld))
    for (verdict, shown), ref in zip(out, refs, strict=True):
        assert verdict.errors == (ExtractError(shown, None, "internal", "ValueError while scanning"),)
        assert ref.path not in {e.path for e in verdict.errors}


def test_without_a_naming_the_path_is_shown_as_is(no_leftover_children: None) -> None:
    refs = _virtual(3, {1: "hang"})
    out = list(scan_named(refs, 1, in_worker_on("hang", _hang_in_c, _ok), 0.5, None))
    assert [shown for _, shown in out] == [r.path for r in refs]
    assert out[1][0].errors[0].path == refs[1].path


@pytest.mark.slow
def test_the_scan_parent_classifies_no_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_leftover_children: None
) -> None:
    """`scan` with the real pipeline: a file whose content hangs a pack regex (its worker is killed
    after it masked the name), a file and a FIFO under a name that hangs the same regex (killed while
    masking: withheld). The parent's classifier is never called, and no output path holds the card."""
    from agent.models import Limits
    from agent.pipeline import build_pipeline
    from agent.policy.shipped import expand_policy_paths, with_unscanned_rule

    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "exclaim.yaml").write_text(SLOW_NAME_PACK)
    packs = with_unscanned_rule(expand_policy_paths(["builtin", str(tmp_path / "pol")]))
    pipeline = build_pipeline(packs, b"k" * 32, Limits(timeout_seconds=0.5), warm_up=False)
    parent, detect, in_parent = os.getpid(), pipeline.classifier.detect, []

    def watched(chunk: object) -> object:
        if os.getpid() == parent:  # recorded, not raised: the pipeline turns a raise into a scrubbed name
            in_parent.append(chunk)
        return detect(chunk)

    monkeypatch.setattr(pipeline.classifier, "detect", watched)
    monkeypatch.setattr(scan, "_PIPELINE", pipeline)
    drop = tmp_path / "drop"
    slow = drop.joinpath(*["x" * 200] * 3)  # 600 characters of name: minutes to mask
    slow.mkdir(parents=True)
    (drop / f"card {CARD} stuck.txt").write_text("x" * 3000)
    (slow / f"card {CARD}.txt").write_text("Minutes of the weekly meeting.\n")
    refs = [
        FileRef(str(p), root=str(drop)) for p in (drop / f"card {CARD} stuck.txt", slow / f"card {CARD}.txt")
    ]
    out = [
        scan._with_unscanned(v, ref, shown)
        for ref, (v, shown) in zip(refs, scan._verdicts(refs, 2), strict=True)
    ]
    stuck, deep = out
    masked = f"{drop}/card {CARD[:4]} **** **** {CARD[-4:]} stuck.txt"
    assert [(e.path, e.reason) for e in stuck.errors] == [(masked, "timeout")]
    assert [(f.path, f.entity) for f in stuck.findings] == [(masked, "UNSCANNED_CONTENT")]
    assert deep.errors[0].reason == "timeout"
    assert deep.errors[0].path.startswith(f"{drop}/[name withheld: ")
    assert {f.path for f in deep.findings} == {deep.errors[0].path}
    fifo = FileRef(str(slow / f"pipe {CARD}"))  # a walk error: no root
    error = ExtractError(fifo.path, None, "not_regular_file", "special file")
    (shown_error,) = scan._shown_errors([(fifo, error)], 1, [str(drop)])
    assert shown_error.path.startswith(f"{drop}/[name withheld: ")
    for v in out:
        assert CARD not in repr(v.findings) + repr(v.errors)
    assert in_parent == []
