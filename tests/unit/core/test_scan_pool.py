"""`scan --jobs N`: N scanning workers the parent schedules, input order, hangs killed, deaths survived.

Real forked processes throughout: the point is how the pool behaves, so nothing of it is mocked.
"""

from __future__ import annotations

import os
import random
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.commands import scan
from agent.demo import group4, luhn_complete
from agent.models import ExtractError, FileRef, Verdict
from agent.scanpool import WORKER_DIED, scan_in_order
from tests.unit.core.conftest import children, in_worker_on

# A generated Luhn-valid fake card (the well-known 4111... test numbers are allow-listed by policy).
CARD = group4(luhn_complete("45", 16, random.Random(7)))


def _virtual(n: int, special: dict[int, str] | None = None) -> list[FileRef]:
    """n refs that need not exist on disk; `special` renames some (e.g. {0: "poison"})."""
    special = special or {}
    return [FileRef(f"/virtual/{i:04}-{special.get(i, 'plain')}") for i in range(n)]


def _ok(ref: FileRef) -> Verdict:
    return Verdict(ref.path, None, (), (), 1, 0.0)


def _only_in_a_worker(action: Callable[[], None], name: str) -> Callable[[FileRef], Verdict]:
    """A scan that runs `action` on files named `name` in a forked worker, and is harmless otherwise."""
    return in_worker_on(name, action, _ok)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> list[FileRef]:
    """Many small files, some holding a fake card, and a few large ones so the load is uneven."""
    root = tmp_path_factory.mktemp("drop")
    filler = "Quarterly planning notes, nothing sensitive in this paragraph at all.\n"
    for i in range(48):
        body = f"Note {i}.\n" + filler * (1 + i % 5)
        if i % 5 == 2:
            body += f"Card on file for the client: {CARD}\n"
        if i in (3, 20, 41):  # large: ~70 kB, the card at the end
            body = filler * 1000 + f"Card number {CARD}\n"
        (root / f"f{i:03}.txt").write_text(body, encoding="utf-8")
    return [FileRef(str(p), role="contractor-drop", root=str(root)) for p in sorted(root.iterdir())]


@pytest.fixture(scope="module")
def real_pipeline() -> object:
    from agent.pipeline import build_pipeline

    return build_pipeline(None, key=b"k" * 32)


def test_jobs_change_neither_the_verdicts_nor_their_order(
    tree: list[FileRef], real_pipeline: object, monkeypatch: pytest.MonkeyPatch, no_leftover_children: None
) -> None:
    """The real pipeline gives the same verdicts, in input order, with 1, 2 and 3 processes."""
    monkeypatch.setattr(scan, "_PIPELINE", real_pipeline)

    def run(jobs: int) -> list[tuple[object, ...]]:
        return [(v.path, v.findings, v.errors, v.bytes) for v, _ in scan._verdicts(tree, jobs)]

    serial = run(1)
    assert [path for path, *_ in serial] == [r.path for r in tree]
    with_card = [path for path, findings, *_ in serial if any(f.entity == "CREDIT_CARD" for f in findings)]
    assert len(with_card) >= 10
    assert not any(errors for _, _, errors, _ in serial)
    assert run(2) == serial
    assert run(3) == serial


def _whoami(ref: FileRef) -> Verdict:
    time.sleep(0.002)
    return Verdict(ref.path, str(os.getpid()), (), (), 1, 0.0)


#: Budget for the pool tests whose files never hang: long enough never to fire on a loaded machine.
NO_KILL = 600.0


@pytest.mark.parametrize(("n", "jobs"), [(40, 2), (40, 3), (3000, 2)])
def test_every_worker_scans_and_the_parent_only_schedules(
    n: int, jobs: int, no_leftover_children: None
) -> None:
    """jobs=N means N distinct worker processes scanned, never this one, and order is kept."""
    refs = _virtual(n)
    scan_one = _whoami if n < 100 else lambda ref: Verdict(ref.path, str(os.getpid()), (), (), 1, 0.0)
    verdicts = list(scan_in_order(refs, jobs, scan_one, NO_KILL))
    assert [v.path for v in verdicts] == [r.path for r in refs]
    pids = {v.zone for v in verdicts}
    assert str(os.getpid()) not in pids
    assert len(pids) == jobs


def test_one_file_or_one_job_still_runs_in_a_killable_worker(no_leftover_children: None) -> None:
    """No file is scanned in the parent, where nothing could stop it: not for one file, nor for jobs=1."""
    for refs, jobs in ((_virtual(1), 4), (_virtual(10), 1)):
        verdicts = list(scan_in_order(refs, jobs, _whoami, NO_KILL))
        assert [v.path for v in verdicts] == [r.path for r in refs]
        pids = {v.zone for v in verdicts}
        assert len(pids) == 1
        assert str(os.getpid()) not in pids


def _hang_in_c() -> None:
    """Catastrophic backtracking inside ``re`` (C code): no Python-level deadline check can run."""
    re.match(r"(a+)+$", "a" * 60 + "!")


def _hang_in_python() -> None:
    """A loop that never looks at a deadline (a parser stuck on a hostile structure)."""
    while True:
        pass


@pytest.mark.parametrize("jobs", [1, 2, 3])
@pytest.mark.parametrize("hang", [_hang_in_c, _hang_in_python])
def test_a_file_that_hangs_is_killed_reported_timeout_and_the_scan_goes_on(
    jobs: int, hang: Callable[[], None], no_leftover_children: None
) -> None:
    """Each hanging file's worker is killed after the budget; the file gets a timeout error verdict, a
    fresh worker takes over, and every other file (those queued behind it too) gets its own verdict."""
    refs = _virtual(12, {0: "hang", 5: "hang", 6: "hang", 11: "hang"})
    verdicts = list(scan_in_order(refs, jobs, _only_in_a_worker(hang, "hang"), 0.5))
    assert [v.path for v in verdicts] == [r.path for r in refs]
    for v, r in zip(verdicts, refs, strict=True):
        if r.path.endswith("hang"):
            assert [(e.path, e.reason) for e in v.errors] == [(r.path, "timeout")]
            assert "worker was killed" in v.errors[0].detail
            assert not v.findings
        else:
            assert v == _ok(r)


@pytest.mark.parametrize(("jobs", "at"), [(2, 0), (2, 1), (3, 0), (3, 2), (1, 4)])
def test_a_file_that_kills_its_worker_twice_gets_an_error_and_the_scan_goes_on(
    jobs: int, at: int, no_leftover_children: None
) -> None:
    """The poison file gets the 'worker died' error; every other file its own verdict, in order."""
    refs = _virtual(30, {at: "poison"})
    verdicts = list(scan_in_order(refs, jobs, _only_in_a_worker(lambda: os._exit(1), "poison"), NO_KILL))
    assert [v.path for v in verdicts] == [r.path for r in refs]
    poison = refs[at].path
    assert verdicts[at].errors == (ExtractError(poison, None, "internal", WORKER_DIED),)
    assert all(v == _ok(r) for v, r in zip(verdicts, refs, strict=True) if v.path != poison)


def test_a_worker_killed_once_costs_nothing(tmp_path: Path, no_leftover_children: None) -> None:
    """A worker SIGKILLed once (say by the OOM killer) is replaced and its files are scanned again."""
    marker = tmp_path / "killed"

    def die_once() -> None:
        if not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)

    refs = _virtual(30, {1: "victim"})
    verdicts = list(scan_in_order(refs, 2, _only_in_a_worker(die_once, "victim"), NO_KILL))
    assert marker.exists()
    assert verdicts == [_ok(r) for r in refs]


class _RaisingPipeline:
    def scan(self, ref: FileRef) -> Verdict:
        if ref.path.endswith("bad"):
            raise ValueError("boom")
        return _ok(ref)


def test_an_exception_costs_one_file(monkeypatch: pytest.MonkeyPatch, no_leftover_children: None) -> None:
    """A scan that raises yields an error verdict for that file only."""
    monkeypatch.setattr(scan, "_PIPELINE", _RaisingPipeline())
    refs = _virtual(20, {0: "bad", 19: "bad"})
    verdicts = list(scan_in_order(refs, 2, scan._scan_one, NO_KILL))
    assert [v.path for v in verdicts] == [r.path for r in refs]
    for i in (0, 19):
        error = ExtractError(refs[i].path, None, "internal", "ValueError while scanning")
        assert verdicts[i].errors == (error,)
    assert all(v == _ok(r) for v, r in list(zip(verdicts, refs, strict=True))[1:19])


def test_closing_early_stops_the_workers(no_leftover_children: None) -> None:
    """A consumer that stops reading (error, --fail-fast, Ctrl-C) leaves no worker behind."""

    def slow(ref: FileRef) -> Verdict:
        time.sleep(0.05)
        return _ok(ref)

    verdicts = scan_in_order(_virtual(40), 3, slow, NO_KILL)
    assert next(verdicts).path.endswith("0000-plain")
    assert len(children()) >= 2
    verdicts.close()


def test_ctrl_c_while_the_parent_waits_stops_the_workers(no_leftover_children: None) -> None:
    """A real SIGINT reaching the parent while it waits for workers propagates, and no worker is left."""
    parent = os.getpid()

    def interrupting(ref: FileRef) -> Verdict:
        if ref.path.endswith("0020-plain"):
            os.kill(parent, signal.SIGINT)
        time.sleep(0.05)
        return _ok(ref)

    with pytest.raises(KeyboardInterrupt):
        list(scan_in_order(_virtual(40), 3, interrupting, NO_KILL))
