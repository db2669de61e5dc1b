"""Pipeline and scan plumbing that keeps big scans cheap: bounded per-file state, IPC batching."""

from __future__ import annotations

from dataclasses import dataclass

from agent import pipeline
from agent.models import Detection, ExtractError, TextChunk
from agent.pipeline import Pipeline, _DocState
from agent.scanpool import chunksize as _chunksize


@dataclass
class _Flood:
    """A classifier that reports `n` distinct detections of one entity per chunk (a hostile file)."""

    n: int

    def detect(self, chunk: TextChunk) -> list[Detection]:
        return [
            Detection("PHONE_NUMBER", chunk.offset + i, chunk.offset + i + 1, 0.4, "r", chunk.path, None, 1)
            for i in range(self.n)
        ]


def test_detections_and_dedup_set_stop_growing_at_the_per_entity_cap(monkeypatch) -> None:
    """Beyond MAX_DETECTIONS_PER_ENTITY neither the kept detections nor the dedup set grow any more."""
    monkeypatch.setattr(pipeline, "MAX_DETECTIONS_PER_ENTITY", 50)
    p = Pipeline(extractor=None, classifier=_Flood(40), policies=None, redactor=None)  # type: ignore[arg-type]
    state = _DocState()
    errors: list[ExtractError] = []
    for k in range(10):
        p._classify_into(TextChunk("/f", None, "x", offset=k * 1000), state, errors)
    assert len(state.detections) == 50
    assert len(state.seen) == 50
    assert not errors


def test_overlapping_chunks_report_a_value_once() -> None:
    """The same (entity, start, end) from two overlapping chunks is kept once."""
    p = Pipeline(extractor=None, classifier=_Flood(5), policies=None, redactor=None)  # type: ignore[arg-type]
    state = _DocState()
    p._classify_into(TextChunk("/f", None, "x", offset=0), state, [])
    p._classify_into(TextChunk("/f", None, "x", offset=3), state, [])
    assert sorted(d.start for d in state.detections) == [0, 1, 2, 3, 4, 5, 6, 7]


def test_chunksize_batches_many_small_files_but_not_few() -> None:
    """A handful of files go one per round trip (balance); thousands go in batches of up to 16."""
    assert _chunksize(10, 2) == 1
    assert _chunksize(100, 2) == 1
    assert _chunksize(1_000, 2) == 15
    assert _chunksize(100_000, 2) == 16


@dataclass
class _Rescored:
    """Reports the value at 10..18 in every chunk that holds it, scored higher by the later chunk."""

    def detect(self, chunk: TextChunk) -> list[Detection]:
        score = 0.2 if chunk.offset == 0 else 0.55
        return [Detection("BANK_ACCOUNT", 10, 18, score, "r", chunk.path, None, 1)]


def test_overlapping_chunks_keep_the_better_scored_read() -> None:
    """A value read again by the next chunk, which also holds its context word, keeps that read's
    score: the first, context-less one would sink it below the rule's threshold."""
    p = Pipeline(extractor=None, classifier=_Rescored(), policies=None, redactor=None)  # type: ignore[arg-type]
    state = _DocState()
    p._classify_into(TextChunk("/f", None, "x", offset=0), state, [])
    p._classify_into(TextChunk("/f", None, "x", offset=5), state, [])
    assert [(d.start, d.score) for d in state.detections] == [(10, 0.55)]
    p._classify_into(TextChunk("/f", None, "x", offset=0), state, [])  # a worse read never replaces it
    assert [(d.start, d.score) for d in state.detections] == [(10, 0.55)]


def test_a_value_at_a_chunk_boundary_with_its_context_word_past_it_is_found(tmp_path) -> None:
    """The real pipeline with small chunks: an account number that ends just before a chunk's end and
    whose context words begin just after it is found, as it is in the middle of a chunk."""
    from agent.models import FileRef, Limits
    from agent.pipeline import build_pipeline

    p = build_pipeline(None, b"k" * 32, Limits(chunk_chars=2_000, chunk_overlap=200), warm_up=False)
    filler = "The quarterly meeting went well and everybody agreed on the plan. " * 60
    found = {}
    for name, at in (("boundary", 2_000 - 14), ("middle", 1_000)):
        f = tmp_path / f"{name}.txt"
        f.write_text(filler[:at] + " 40817810 account holder " + filler)
        found[name] = sorted({(x.rule, x.entity) for x in p.scan(FileRef(str(f))).findings})
    assert found["middle"] == [("bank-account-customer", "BANK_ACCOUNT")]
    assert found["boundary"] == found["middle"]
