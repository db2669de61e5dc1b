"""Plain text: encoding detection, streaming chunking with exact offsets/lines, decode errors."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from agent.models import Limits, TextChunk
from tests.unit.extract.builders import errors, run, texts

SMALL = Limits(chunk_chars=1000, chunk_overlap=100)


def _chunks(items: list) -> list[TextChunk]:
    return [i for i in items if isinstance(i, TextChunk)]


def _reassemble(chunks: list[TextChunk]) -> str:
    out = ""
    for c in chunks:
        assert c.offset <= len(out), "no gap between chunks"
        out = out[: c.offset] + c.text
    return out


@pytest.mark.parametrize(
    ("encoding", "raw_prefix"),
    [("utf-8", b""), ("utf-8-sig", b""), ("utf-16", b""), ("utf-16-be", b"\xfe\xff"), ("cp1252", b"")],
)
def test_encodings_decoded(tmp_path: Path, encoding: str, raw_prefix: bytes) -> None:
    """UTF-8 (with/without BOM), UTF-16 LE/BE with BOM and cp1252 with é/ü decode to the same text."""
    text = "Müller und Café résumé, Grüße aus Zürich: naïve façade über alles.\n" * 3
    p = tmp_path / "t.txt"
    p.write_bytes(raw_prefix + text.encode(encoding))
    items = run(p)
    assert errors(items) == []
    assert texts(items) == text


def test_value_straddling_chunk_boundary_is_whole_in_one_chunk(tmp_path: Path) -> None:
    """A value crossing the chunk_chars boundary appears whole in some chunk thanks to the overlap."""
    value = "DE89370400440532013000"
    body = "x" * 990 + value + "y" * 2000
    p = tmp_path / "big.log"
    p.write_text(body)
    chunks = _chunks(run(p, SMALL))
    assert len(chunks) > 2
    assert value not in chunks[0].text, "the test must really straddle the boundary"
    hits = [c for c in chunks if value in c.text]
    assert hits and hits[0].offset + hits[0].text.index(value) == 990


def test_streamed_chunks_offsets_lines_and_final_flags(tmp_path: Path) -> None:
    """Chunk offsets/lines locate text[0] exactly, only the last chunk is final, overlap reassembles."""
    lines = [f"line {i:05d} user{i}@example.com" for i in range(3000)]
    text = "\n".join(lines) + "\n"
    p = tmp_path / "app.log"
    p.write_text(text)
    limits = Limits(chunk_chars=7000, chunk_overlap=500)
    chunks = _chunks(run(p, limits))
    assert len(chunks) > 10
    assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    for c in chunks:
        assert len(c.text) <= 7000
        assert text[c.offset : c.offset + len(c.text)] == c.text
        assert c.line == text.count("\n", 0, c.offset) + 1
    for a, b in itertools.pairwise(chunks):
        assert a.offset + len(a.text) - b.offset == 500
    assert _reassemble(chunks) == text


def test_invalid_utf8_minor_is_replaced_without_error(tmp_path: Path) -> None:
    """A few invalid bytes in mostly-valid text decode with replacement and no decode_error."""
    p = tmp_path / "mixed.txt"
    p.write_bytes(b"valid ascii text " * 50 + b"\xff\xfe\x80 tail\n")
    items = run(p)
    assert "decode_error" not in [r for _, r in errors(items)]
    assert "tail" in texts(items)


def test_undecidable_text_reports_decode_error_and_keeps_text(tmp_path: Path) -> None:
    """Text whose decoded form is mostly U+FFFD still yields what decoded, plus ExtractError(decode_error)."""
    p = tmp_path / "garbage.txt"
    # a UTF-16 BOM followed by unpaired surrogates: declared, but undecodable
    p.write_bytes(b"\xff\xfe" + b"\x00\xdc" * 400 + "ok".encode("utf-16-le"))
    items = run(p)
    assert errors(items) == [(None, "decode_error")]
    assert texts(items).endswith("ok")


def test_empty_file_yields_nothing(tmp_path: Path) -> None:
    """An empty file yields no chunk and no error (documented choice: emptiness is not a failure)."""
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    assert run(p) == []


def test_text_limit_yields_what_fits_then_limit_bytes(tmp_path: Path) -> None:
    """Past max_text_chars the file yields exactly the allowed text, then ExtractError(limit_bytes)."""
    p = tmp_path / "long.txt"
    p.write_text("a" * 5000)
    items = run(p, Limits(max_text_chars=1234, chunk_chars=500, chunk_overlap=50))
    assert errors(items) == [(None, "limit_bytes")]
    assert _reassemble(_chunks(items)) == "a" * 1234
    assert _chunks(items)[-1].final


def test_timeout_stops_file_with_timeout_error(tmp_path: Path) -> None:
    """An expired per-file deadline stops extraction with ExtractError(timeout) instead of running on."""
    p = tmp_path / "slow.txt"
    p.write_text("z" * 2_000_000)
    items = run(p, Limits(timeout_seconds=0.0, chunk_chars=1000, chunk_overlap=10))
    assert errors(items) == [(None, "timeout")]
