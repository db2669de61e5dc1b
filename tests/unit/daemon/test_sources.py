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
from tests.helpers import wait_for


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


def _deadline(journal: Journal, path: Path) -> tuple[float, float]:
    """(event_time, not_before) the journal holds for ``path`` ((0, 0) before its first event)."""
    row = journal._conn().execute(
        "SELECT event_time, not_before FROM files WHERE path = CAST(? AS BLOB)", (str(path),)
    )
    found = row.fetchone()
    return (found[0], found[1]) if found else (0.0, 0.0)


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
        assert wait_for(lambda: {r.path for r in _pending(journal)} >= want, 5.0)
    finally:
        w.stop()
        rec.stop()


def _pending(journal: Journal):
    return [journal.get(p) for (p,) in journal._conn().execute("SELECT path FROM files").fetchall()]


def test_debounce_slow_writer_is_claimable_once_after_settle(tmp_path: Path, journal: Journal) -> None:
    """Every write of a slow writer pushes the file's deadline to at least write + settle, so it is not
    due while writes continue; after the close it is claimed once.

    Each write is followed until its event reached the journal, and the deadline is read, not raced:
    a slow machine stretching the pause between writes cannot make the test fail or pass wrongly.
    """
    settle = 0.5
    zone = tmp_path / "zone"
    zone.mkdir()
    slow = zone / "slow.txt"
    w = Watcher([Z("z", str(zone))], journal, settle=settle)
    w.start()
    try:
        with open(slow, "w") as f:
            for i in range(8):
                due = time.time() + settle  # the earliest deadline this write may leave
                f.write(f"line {i}\n")
                f.flush()
                assert wait_for(lambda due=due: _deadline(journal, slow)[1] >= due, 10.0)
                assert journal.claim(10, now=due - 0.05) == []
        claims = wait_for(lambda: journal.claim(10), 10.0)
        assert [c.path for c in claims] == [str(slow)]
        assert journal.claim(10, now=time.time() + 3600) == []  # nothing else queued: claimed once
    finally:
        w.stop()


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
        assert wait_for(lambda: overflows, 10)
        assert wait_for(lambda: rec.runs >= 1, 15)
        assert wait_for(lambda: journal.counts().get("pending", 0) == n, 10)
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
        assert wait_for(lambda: journal.get(str(zone / "quiet.txt")) is not None, 5.0)
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
    """A closed file gets close_settle (0.2 s), not settle (2 s); a reopen for writing right after the
    close brings the full settle back, so a writer still at work is not claimed. The settle each file
    got is read from the journal (not_before - event_time), not inferred from how fast it was claimed."""
    zone = tmp_path / "zone"
    zone.mkdir()
    w = Watcher([Z("z", str(zone))], journal, settle=2.0, close_settle=0.2)
    w.start()
    try:
        (zone / "done.txt").write_text("complete\n")
        claimed = wait_for(lambda: journal.claim(10), 10.0)
        assert [c.path for c in claimed] == [str(zone / "done.txt")]
        assert 0 < claimed[0].not_before - claimed[0].event_time < 0.5  # the short settle was used
        assert claimed[0].settle == 0.2  # and the journal says so (the agent's mtime check uses it)
        busy = zone / "busy.txt"
        with open(busy, "w") as f:
            f.write("part 1\n")
            f.flush()
            f.close()  # the close gives it the short settle ...
            with open(busy, "a") as g:  # ... a reopen right away takes it back
                g.write("part 2\n")
                g.flush()
                # inotify reports one folder's events in order: once a file written after these
                # events is journaled, the batcher has flushed them all
                (zone / "marker.txt").write_text("later\n")
                assert wait_for(lambda: _deadline(journal, zone / "marker.txt")[1] > 0, 10.0)
                event_time, not_before = _deadline(journal, busy)
                assert not_before - event_time > 1.5  # the full settle is back
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

        def settles() -> list[float]:
            return [nb - et for et, nb in (_deadline(journal, Path(p)) for p in expected) if nb]

        # every file journaled with the short settle (one still waiting for the full one fails here)
        assert wait_for(lambda: len(s := settles()) == len(expected) and max(s) < 1.0, 10.0), settles()
    finally:
        w.stop()
        rec.stop()


def test_a_directory_renamed_back_and_forth_is_crawled_at_most_once_per_interval(
    tmp_path: Path, journal: Journal
) -> None:
    """Crawl requests for the same directory while one waits are one crawl, and a directory just
    crawled waits DIR_INTERVAL before the next: a rename loop costs a crawl per interval, not per rename."""
    from agent.sources import reconcile

    zone = tmp_path / "zone"
    (zone / "sub").mkdir(parents=True)
    rec = Reconciler(journal, [Z("z", str(zone))], settle=0.0, interval=0)
    for _ in range(50):
        rec.request_dir("z", str(zone / "sub"))
    assert rec._q.qsize() == 1 and rec.pending_dirs() == 1
    crawls: list[str] = []
    real = rec.run_dir
    rec.run_dir = lambda z, p: crawls.append(p) or real(z, p)  # type: ignore[method-assign]
    rec.start()
    try:
        assert wait_for(lambda: rec.pending_dirs() == 0, 5.0)
        rec.request_dir("z", str(zone / "sub"))  # just crawled: waits for the interval, then runs once
        assert rec.pending_dirs() == 1 and len(crawls) == 1
        assert wait_for(lambda: rec.pending_dirs() == 0, reconcile.DIR_INTERVAL + 5.0)
        assert len(crawls) == 2
    finally:
        rec.stop()


def test_a_storm_of_directory_requests_becomes_one_bounded_zone_crawl(
    tmp_path: Path, journal: Journal
) -> None:
    """Thousands of distinct directories asking for a crawl within a second (a rename storm) are not
    kept one by one: the zone is marked for one whole crawl, which finds a file dropped elsewhere."""
    zone = tmp_path / "zone"
    (zone / "other").mkdir(parents=True)
    (zone / "other" / "dropped.txt").write_text("x")
    rec = Reconciler(journal, [Z("z", str(zone))], settle=0.0, interval=0)
    for i in range(5000):
        rec.request_dir("z", str(zone / f"gone-{i}"))
    assert rec.pending_dirs() == 1 and rec._dirty_zones == {"z"}
    assert rec._q.qsize() == 1
    rec.start()
    try:
        assert wait_for(lambda: journal.known(str(zone / "other" / "dropped.txt")) is not None, 5.0)
        assert wait_for(lambda: rec.pending_dirs() == 0, 5.0)
    finally:
        rec.stop()


def test_a_folder_renamed_in_a_loop_is_one_event_per_rename_not_one_per_file(
    tmp_path: Path, journal: Journal
) -> None:
    """Real inotify: a 200-file folder renamed away and back 100 times. watchdog replays every file of
    each move (synthetic events); the watcher ignores those, so what the journal ends up with is the
    folder's files under their real name (from the crawl), none left under the transient one."""
    zone = tmp_path / "zone"
    (zone / "busy").mkdir(parents=True)
    for i in range(200):
        (zone / "busy" / f"f{i:03d}.txt").write_text("x")
    rec = Reconciler(journal, [Z("z", str(zone))], settle=0.0, interval=0)
    w = Watcher([Z("z", str(zone))], journal, settle=0.0, on_dir=rec.request_dir)
    rec.start()
    w.start()
    try:
        for _ in range(100):
            os.rename(zone / "busy", zone / "away")
            os.rename(zone / "away", zone / "busy")
        (zone / "marker.txt").write_text("m")

        def paths() -> set[str]:
            return {os.fsdecode(p) for (p,) in journal._conn().execute("SELECT path FROM files")}

        want = {str(zone / "busy" / f"f{i:03d}.txt") for i in range(200)} | {str(zone / "marker.txt")}
        assert wait_for(lambda: want <= paths() and rec.pending_dirs() == 0, 30.0)
        assert w.batcher.events < 2000  # before: a replayed move per file per rename, 40,000 and more
    finally:
        w.stop()
        rec.stop()
