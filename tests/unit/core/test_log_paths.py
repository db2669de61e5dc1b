"""Log lines name files as alerts show them: values in a name masked, never the real path.

Each stage that logs about a file is driven for real here (a real extractor, pipeline, crawl of a real
tree, outcome handler with a real journal and sinks) and its JSON log line read back: it names the
file (as its alert does, or withheld, or by its place) and never holds the card or e-mail address
written into the name. tests/adversarial/test_logpaths_daemon.py does the same through a real agent.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import agent.extract as extract_mod
from agent.classify.indexes.protect import iter_documents
from agent.daemon.outcome import withheld_path
from agent.daemon.workers import Outcome
from agent.extract import Extractor
from agent.log import about_file, configure_logging, reset_logging
from agent.models import FileRef, TextChunk
from agent.pipeline import Pipeline, build_pipeline, default_policy_dirs
from agent.sources.reconcile import ZoneFilter, crawl
from tests.helpers import fake_card
from tests.unit.daemon.test_outcome import KEY, World
from tests.unit.extract.builders import zip_bytes

CARD = fake_card()
EMAIL = "hilde.brandt@example.org"
NAME = f"Hilde Brandt {EMAIL} {CARD}.txt"
SHOWN = f"/srv/drop/Hilde Brandt hild*.*************e.org {CARD[:4]}********{CARD[-4:]}.txt"


@pytest.fixture(scope="module")
def policies() -> Pipeline:
    """The shipped policies (names are classified for real)."""
    return build_pipeline(default_policy_dirs(), KEY)


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The JSON log lines of the test (agent.log's whole pipeline: scrubber, renderer)."""
    out = io.StringIO()
    configure_logging(json=True, level="debug", stream=out)
    yield out
    reset_logging()


def events(out: io.StringIO, event: str) -> list[dict[str, Any]]:
    found = [json.loads(line) for line in out.getvalue().splitlines()]
    return [e for e in found if e["event"] == event]


def test_an_extractor_bug_is_logged_under_the_shown_path(
    lines: io.StringIO, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reader raising (a bug, injected: no real file triggers one on purpose) inside the worker's
    log context: the line names the file as the worker masked it, not by its real name."""
    path = tmp_path / NAME
    path.write_text("quarterly notes\n")

    def broken(*_: object) -> Iterator[object]:
        raise RuntimeError(path.name)  # even a message holding the name stays out: only the class is logged
        yield

    monkeypatch.setattr(extract_mod, "_dispatch", broken)
    with about_file(SHOWN):
        items = list(Extractor().extract(FileRef(str(path), root=str(tmp_path))))
    assert [i.reason for i in items if not isinstance(i, TextChunk)] == ["internal"]
    (line,) = events(lines, "extract_failed")
    assert line["path"] == SHOWN and line["error"] == "RuntimeError"
    assert CARD not in lines.getvalue() and EMAIL not in lines.getvalue()
    with about_file(None):  # the name could not be masked: no path at all, never the real one
        list(Extractor().extract(FileRef(str(path), root=str(tmp_path))))
    assert "path" not in events(lines, "extract_failed")[1]


def test_a_classifier_bug_names_neither_the_path_nor_the_member(
    lines: io.StringIO,
    tmp_path: Path,
    policies: Pipeline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(chunk: TextChunk) -> list[object]:
        raise ValueError(chunk.text)

    """Every chunk of a real zip (its member named after a card) fails to classify: each line names
    the file as the worker masked it and says whether the chunk was a member's, never which."""
    path = tmp_path / NAME.replace(".txt", ".zip")
    path.write_bytes(zip_bytes({f"inner {CARD}.txt": b"notes\n"}))
    monkeypatch.setattr(policies.classifier, "detect", broken)
    with about_file(SHOWN):
        v = policies.scan(FileRef(str(path), root=str(tmp_path)))
    assert {e.reason for e in v.errors} == {"internal"}
    failed = events(lines, "classify_failed")
    assert {e["path"] for e in failed} == {SHOWN} and {e["in_member"] for e in failed} == {False, True}
    assert CARD not in lines.getvalue() and EMAIL not in lines.getvalue()


def test_a_folder_the_crawl_cannot_open_is_logged_by_zone_and_depth(
    lines: io.StringIO, tmp_path: Path
) -> None:
    """A hostile writer nests folders until their path passes PATH_MAX (built relative to directory
    descriptors, as a writer can), then swaps the first for a link to itself; the crawl is asked for
    the deepest (as a new folder's event asks): it cannot open it (a link loop) and says where,
    without its name (a card number and an e-mail address)."""
    root = tmp_path / "zone"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    depth = 0
    try:
        while depth * 201 < 4200:
            name = "d" * 200 if depth < 20 else f"Hilde Brandt {EMAIL} {CARD}"
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, depth = nxt, depth + 1
    finally:
        os.close(fd)
    (root / ("d" * 200)).rename(root / "moved")
    (root / ("d" * 200)).symlink_to("d" * 200)
    deep = os.path.join(str(root), *["d" * 200] * 20, f"Hilde Brandt {EMAIL} {CARD}")
    assert len(deep) > 4096
    assert list(crawl(ZoneFilter(str(root)), start=deep)) == []
    failed = events(lines, "crawl_dir_failed")
    assert [(e["zone_root"], e["depth"], e["error"]) for e in failed] == [
        (str(root), 21, "Too many levels of symbolic links")
    ]
    assert CARD not in lines.getvalue() and EMAIL not in lines.getvalue()


def test_a_protected_document_is_logged_by_position_and_suffix(lines: io.StringIO, tmp_path: Path) -> None:
    (tmp_path / "a-memo.txt").write_text("memo\n")
    (tmp_path / f"contract {EMAIL} {CARD}.bin").write_bytes(b"\x00")
    assert [d for d, _ in iter_documents(tmp_path)] == ["a-memo"]
    (line,) = events(lines, "protected_doc_skipped")
    assert (line["directory"], line["position"], line["suffix"]) == (str(tmp_path), 2, ".bin")
    assert CARD not in lines.getvalue() and EMAIL not in lines.getvalue()


def test_the_agent_logs_a_scanned_file_as_its_alert_shows_it(
    lines: io.StringIO,
    tmp_path: Path,
    policies: Pipeline,
) -> None:
    """A real verdict (the card in the name and the content): `file_scanned` and `alert_raised` carry
    the path every alert about the file shows."""
    world = World(tmp_path, policies)
    path = world.drop(f"Hilde Brandt {EMAIL} {CARD}.csv")
    v = policies.scan(FileRef(str(path), "drop", "contractor-drop", root=str(world.zone)))
    o = Outcome(world.claim(path), "verdict", verdict=v, seconds=0.01)
    world.handler.handle_safely(o)
    shown = {a["path"] for a in world.alerts()}
    assert len(shown) == 1 and CARD not in next(iter(shown))
    for event in ("file_scanned", "alert_raised"):
        assert {e["path"] for e in events(lines, event)} == shown, event
    assert CARD not in lines.getvalue()


@pytest.mark.parametrize("said", [True, False])
def test_a_killed_workers_file_is_logged_as_its_unscanned_alert_shows_it(
    lines: io.StringIO,
    tmp_path: Path,
    policies: Pipeline,
    said: bool,
) -> None:
    """`scan_failed` after a worker was killed: the name as the worker masked it before reading, or,
    when it died before it said, withheld exactly as the UNSCANNED_CONTENT alert withholds it."""
    world = World(tmp_path, policies)
    path = world.drop(f"Hilde Brandt {EMAIL} {CARD}.pdf")
    ref = FileRef(str(path), "drop", "contractor-drop", root=str(world.zone))
    shown = policies.shown_path(ref) if said else withheld_path(ref, KEY)
    o = Outcome(world.claim(path), "timeout", reason="timeout", seconds=2.0, shown=shown if said else None)
    world.handler.handle_safely(o)
    (alert,) = world.alerts()
    (line,) = events(lines, "scan_failed")
    assert line["path"] == alert["path"] == shown and CARD not in shown
    assert CARD not in lines.getvalue() and EMAIL not in lines.getvalue()


def test_a_scan_worker_logs_under_the_path_it_said(tmp_path: Path) -> None:
    """`dropwarden scan`'s forked worker binds the shown path it told the parent around the file's scan:
    a stage logging deep inside names the file that way (the line is read from the worker's output)."""
    import structlog

    from agent.models import Verdict
    from agent.scanpool import Naming, scan_named

    log_file = tmp_path / "log.jsonl"
    with log_file.open("w", buffering=1) as out:  # line-buffered: the worker leaves with os._exit
        configure_logging(json=True, level="debug", stream=out)
        try:

            def scan(ref: FileRef) -> Verdict:
                structlog.get_logger("probe").error("probe_failed")
                return Verdict(ref.path, None, (), (), 0, 0.0)

            naming = Naming(shown=lambda _: SHOWN, withheld=lambda _: "/srv/drop/[name withheld]")
            refs = [FileRef(str(tmp_path / NAME))]
            assert [shown for _, shown in scan_named(refs, 1, scan, 60.0, naming)] == [SHOWN]
        finally:
            reset_logging()
    (line,) = [json.loads(x) for x in log_file.read_text().splitlines() if "probe_failed" in x]
    assert line["path"] == SHOWN
    assert CARD not in log_file.read_text() and EMAIL not in log_file.read_text()
