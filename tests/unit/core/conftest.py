"""Fixtures of the scan pool tests (agent.scanpool): real forked workers, none may be left behind."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def children() -> set[int]:
    """Processes whose parent is this one, zombies included (from /proc)."""
    me, out = os.getpid(), set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path("/proc", entry, "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == me:
                out.add(int(entry))
    return out


@pytest.fixture
def no_leftover_children() -> Iterator[None]:
    """Fails the test if it leaves child processes behind, running or zombie."""
    before = children()
    yield
    assert children() <= before
    assert not multiprocessing.active_children()


def in_worker_on(name: str, action: Callable[[], None], then: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``then(ref)``, after ``action()`` when the file's path ends with ``name`` and this is a forked
    worker (the parent, which must never scan, is left alone)."""
    parent = os.getpid()

    def run(ref: Any) -> Any:
        if ref.path.endswith(name) and os.getpid() != parent:
            action()
        return then(ref)

    return run
