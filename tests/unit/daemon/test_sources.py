"""Watcher (real inotify), debounce, reconcile diff and the overflow path."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.journal import FileStat, Journal
from agent.sources.reconcile import Reconciler, ZoneFilter, crawl, diff
from agent.sources.watcher import OverflowDetector, Watcher


@dataclass
class Z:
    name: str
    path: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.db")
    yield j
    j.close()


def _wait(cond, timeout: float = 5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return cond()


def test_zone_filter_globs() -> None:
    """include/exclude globs match relative paths and basenames; excluded directories are pruned."""
    f = ZoneFilter("/z", include=("*.txt", "docs/*"), exclude=("tmp", "*.part"))
    assert f.wants_file("/z/a.txt") and f.wants_file("/z/docs/x.bin")
    assert (
        not f.wants_file("/z/a.bin")
        and not f.wants_file("/z/tmp/a.txt")
        and not f.wants_file("/z/b.txt.part")
    )
    assert not f.wants_dir("/z/tmp") and f.wants_dir("/z/docs") and not f.contains("/other/a.txt")


def test_reconcile_diff_queues_only_new_and_changed(tmp_path: Path, journal: Journal) -> None:
    """A crawl queues unknown files and changed ones; files whose stat matches the journal are skipped."""
    zone = tmp_path / "zone"
    (zone / "sub").mkdir(parents=True)
    for name in ("a", "b", "sub/c"):
        (zone / name).write_text(name)
    os.mkfifo(zone / "fifo")
    flt = ZoneFilter(str(zone))
    assert diff(journal, "z", flt, settle=0.0) == (4, 4)
    items = journal.claim(10)
    for it in items:
        st = os.lstat(it.path)
        journal.ack(it, max_severity=None, findings=0, error=None, stat=FileStat.of(st), content_hash="h",
                    policy_digest="d")  # fmt: skip
    assert diff(journal, "z", flt, settle=0.0) == (4, 0)  # unchanged: nothing queued
    (zone / "b").write_text("changed content")
    (zone / "new").write_text("n")
    assert diff(journal, "z", flt, settle=0.0) == (5, 2)
    assert sorted(i.path for i in journal.claim(10)) == [str(zone / "b"), str(zone / "new")]


def test_crawl_does_not_descend_symlinked_dirs(tmp_path: Path) -> None:
    """A symlink to a directory is reported as an entry, never descended."""
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret").write_text("x")
    zone = tmp_path / "zone"
    zone.mkdir()
    os.symlink(tmp_path / "outside", zone / "link")
    assert [p for p, _ in crawl(ZoneFilter(str(zone)))] == [str(zone / "link")]


def test_watcher_queues_closed_moved_and_new_dir_files(tmp_path: Path, journal: Journal) -> None:
    """Real inotify: a written file, a file moved in from outside and a directory moved in are all queued."""
    zone = tmp_path / "zone"
    zone.mkdir()
    outside = tmp_path / "outside"
    (outside / "d").mkdir(parents=True)
    (outside / "d" / "inner.txt").write_text("x")
    (outside / "moved.txt").write_text("y")
    rec = Reconciler(journal, [Z("z", str(zone))], settle=0.0, interval=0)
    w = Watcher([Z("z", str(zone))], journal, settle=0.0, on_dir=rec.request_dir)
    rec.start()
    w.start()
    try:
        (zone / "written.txt").write_text("hello")
        os.rename(outside / "moved.txt", zone / "moved.txt")
        os.rename(outside / "d", zone / "d")
        want = {str(zone / "written.txt"), str(zone / "moved.txt"), str(zone / "d" / "inner.txt")}
        assert _wait(lambda: {r.path for r in _pending(journal)} >= want)
    finally:
        w.stop()
        rec.stop()


def _pending(journal: Journal):
    return [journal.get(p) for (p,) in journal._conn().execute("SELECT path FROM files").fetchall()]


def test_debounce_slow_writer_is_claimable_once_after_settle(tmp_path: Path, journal: Journal) -> None:
    """A file written every 0.2 s stays unclaimable while writes continue (settle 0.5 s), then once."""
    zone = tmp_path / "zone"
    zone.mkdir()
    w = Watcher([Z("z", str(zone))], journal, settle=0.5)
    w.start()
    claims = []
    try:
        with open(zone / "slow.txt", "w") as f:
            for i in range(8):
                f.write(f"line {i}\n")
                f.flush()
                time.sleep(0.2)
                claims += journal.claim(10)
        end = time.monotonic() + 1.5
        while time.monotonic() < end:
            claims += journal.claim(10)
            time.sleep(0.05)
    finally:
        w.stop()
    assert [c.path for c in claims] == [str(zone / "slow.txt")]


def test_overflow_detector_reacts_to_watchdog_warning() -> None:
    """A watchdog log record about a queue overflow calls the callback; other records do not."""
    hits = []
    det = OverflowDetector(lambda: hits.append(1)).install()
    try:
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        logging.getLogger("watchdog.observers.inotify").warning("something else")
    finally:
        det.uninstall()
    assert hits == [1]


@pytest.mark.slow
def test_real_inotify_overflow_triggers_reconcile(tmp_path: Path, journal: Journal) -> None:
    """A real kernel IN_Q_OVERFLOW (reader stalled in a burst) is detected; the crawl finds every file."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    if limit > 40_000:
        pytest.skip("max_queued_events too large to overflow quickly")
    zone = tmp_path / "zone"
    zone.mkdir()
    overflows = []
    rec = Reconciler(journal, [Z("z", str(zone))], settle=0.0, interval=0, overflow_delay=0.2)

    def on_overflow() -> None:
        overflows.append(1)
        rec.overflowed()

    w = Watcher([Z("z", str(zone))], journal, settle=0.0, on_overflow=on_overflow)
    rec.start()
    w.start()
    try:
        ifd = w.observer._inotify_fd  # stall watchdog's reader so the kernel queue fills up
        n = limit + 2000
        with ifd._lock:
            for i in range(n):
                fd = os.open(zone / f"f{i:06d}", os.O_WRONLY | os.O_CREAT, 0o600)
                os.close(fd)
        assert _wait(lambda: overflows, 10)
        assert _wait(lambda: rec.runs >= 1, 15)
        assert _wait(lambda: journal.counts().get("pending", 0) == n, 10)
    finally:
        w.stop()
        rec.stop()


def test_periodic_reconcile_finds_files_without_events(tmp_path: Path, journal: Journal) -> None:
    """With no watcher at all, the periodic crawl queues a new file and counts a successful run."""
    from agent.metrics import Metrics

    zone = tmp_path / "zone"
    zone.mkdir()
    m = Metrics()
    rec = Reconciler(journal, [Z("z", str(zone))], settle=0.0, interval=0.3, metrics=m)
    rec.start()
    try:
        (zone / "quiet.txt").write_text("x")
        assert _wait(lambda: journal.get(str(zone / "quiet.txt")) is not None, 5.0)
    finally:
        rec.stop()
    assert (
        m.registry.get_sample_value(
            "dropwarden_reconcile_runs_total", {"trigger": "periodic", "outcome": "success"}
        )
        >= 1
    )
    assert m.registry.get_sample_value("dropwarden_watched_directories", {"zone": "z"}) == 1


def test_close_after_write_gets_the_short_settle_and_a_reopen_the_full_one(
    tmp_path: Path, journal: Journal
) -> None:
    """A closed file is claimable after close_settle (0.2 s), long before settle (2 s); a reopen for
    writing after the close brings the full settle back, so a writer still at work is not claimed."""
    zone = tmp_path / "zone"
    zone.mkdir()
    w = Watcher([Z("z", str(zone))], journal, settle=2.0, close_settle=0.2)
    w.start()
    try:
        t0 = time.monotonic()
        (zone / "done.txt").write_text("complete\n")
        claimed = []
        while not claimed and time.monotonic() - t0 < 1.5:
            claimed = journal.claim(10)
            time.sleep(0.02)
        assert [c.path for c in claimed] == [str(zone / "done.txt")]
        assert 0 < claimed[0].not_before - claimed[0].event_time < 0.5  # the short settle was used
        with open(zone / "busy.txt", "w") as f:
            f.write("part 1\n")
            f.flush()
            time.sleep(0.1)
            f.close()  # the close gives it the short settle ...
            with open(zone / "busy.txt", "a") as g:  # ... a reopen right away takes it back
                g.write("part 2\n")
                g.flush()
                end = time.monotonic() + 1.0
                while time.monotonic() < end:
                    assert journal.claim(10) == []
                    time.sleep(0.05)
    finally:
        w.stop()


def test_files_dropped_into_new_folders_get_the_short_settle(tmp_path: Path, journal: Journal) -> None:
    """A file written into a folder created a moment earlier can close before inotify watches that
    folder (no close event). Found by the folder crawl or watchdog's synthetic event, it is still
    claimable after about close_settle (0.2 s), not the full settle (3 s)."""
    zone = tmp_path / "zone"
    zone.mkdir()
    rec = Reconciler(journal, [Z("z", str(zone))], settle=3.0, interval=0, dir_settle=0.2)
    w = Watcher([Z("z", str(zone))], journal, settle=3.0, close_settle=0.2, on_dir=rec.request_dir)
    rec.start()
    w.start()
    try:
        expected = set()
        for i in range(40):
            d = zone / f"new{i:02d}"
            d.mkdir()
            (d / "f.txt").write_text(f"file {i}\n")
            expected.add(str(d / "f.txt"))
        t0 = time.monotonic()
        claimed: set[str] = set()
        while claimed != expected and time.monotonic() - t0 < 2.5:
            claimed |= {c.path for c in journal.claim(100)}
            time.sleep(0.02)
        assert claimed == expected, f"{len(expected - claimed)} files still waiting for the full settle"
    finally:
        w.stop()
        rec.stop()
