"""A state volume that fills up during a burst and frees again: no file that landed meanwhile goes
unalerted. A real 3 MB tmpfs holds the state directory of a real agent; a real file fills it."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import CARD_POLICY, AgentProc, fake_card, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CARDED, PLAIN = 40, 360


@pytest.fixture
def small_state(tmp_path: Path):
    """<tmp>/state on its own 3 MB tmpfs (skipped where mounting is not permitted)."""
    state = tmp_path / "state"
    state.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m,mode=0700", "tmpfs", str(state)],
                       capture_output=True, check=False)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")
    yield state
    subprocess.run(["umount", "-l", str(state)], check=False)


def _fill(state: Path) -> Path:
    """Write a file until the volume is full (ENOSPC)."""
    filler = state / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with pytest.raises(OSError, match="No space left") as exc:  # noqa: PT012 - written until full
            while True:
                os.write(fd, b"\0" * 65536)
    finally:
        os.close(fd)
    assert exc.value.errno == errno.ENOSPC
    return filler


def test_files_dropped_while_the_state_volume_is_full_are_alerted_once_it_frees(
    tmp_path: Path, small_state: Path
) -> None:
    """The state tmpfs is filled, 400 files (40 carded) land in the zone, the volume is freed: every
    carded file is alerted within a minute, and the journal write failures were counted."""
    pol = tmp_path / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    a = AgentProc(tmp_path, pol)
    assert a.state == small_state
    a.start()
    try:
        assert wait_for(lambda: b'"workers_ready"' in a.log.read_bytes(), 60), a.log.read_text()[-3000:]
        filler = _fill(small_state)
        carded = []
        for i in range(CARDED + PLAIN):
            sub = a.zone / f"batch{i // 100}"
            sub.mkdir(exist_ok=True)
            p = sub / f"f{i:03d}.txt"
            if i % 10 == 0:
                p.write_text(f"Please charge card {fake_card()}.\n")
                carded.append(p)
            else:
                p.write_text(f"plain note {i}\n")
        assert wait_for(lambda: a.metric("dropwarden_journal_write_failures_total") > 0, 30.0)
        filler.unlink()
        missing = lambda: [p for p in carded if not a.alerts_for(p)]  # noqa: E731
        assert wait_for(lambda: not missing(), 60.0, 0.5), (len(missing()), a.log.read_text()[-3000:])
        assert a.metric("dropwarden_journal_write_failures_total") > 0
    finally:
        a.kill()
        with contextlib.suppress(OSError):
            (small_state / "filler").unlink()
