"""Property tests: arbitrary bytes never make extract() raise; plain-text chunks reassemble exactly."""

from __future__ import annotations

import io
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.extract import Extractor
from agent.extract.context import Context
from agent.models import ERROR_REASONS, ExtractError, Limits, TextChunk

LIMITS = Limits(chunk_chars=64, chunk_overlap=16, timeout_seconds=5)
NAMES = st.sampled_from(
    ["f.txt", "f.pdf", "f.docx", "f.xlsx", "f.pptx", "f.zip", "f.gz", "f.eml", "f.csv", "f"]
)
PREFIXES = st.sampled_from(
    [b"", b"%PDF-1.4\n", b"PK\x03\x04", b"\x1f\x8b\x08", b"\xff\xfe", b"BZh9", b"\xfd7zXZ\x00"]
)


def _extract(data: bytes, name: str) -> list[TextChunk | ExtractError]:
    ctx = Context(path=name, limits=LIMITS)
    return list(Extractor(LIMITS).extract_file(io.BytesIO(data), ctx, name))


def _check_items(items: list[TextChunk | ExtractError]) -> None:
    for i in items:
        assert isinstance(i, TextChunk | ExtractError)
        if isinstance(i, ExtractError):
            assert i.reason in ERROR_REASONS


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=PREFIXES, body=st.binary(max_size=600), name=NAMES)
def test_arbitrary_bytes_never_raise(prefix: bytes, body: bytes, name: str) -> None:
    """Whatever the bytes and name, extraction yields chunks/errors with known reasons, never raises."""
    _check_items(_extract(prefix + body, name))


@settings(max_examples=40, deadline=None)
@given(
    members=st.dictionaries(
        st.from_regex(r"[a-z0-9_.]{1,8}(/[a-z0-9_.]{1,8})?", fullmatch=True),
        st.one_of(
            st.binary(max_size=200), st.sampled_from([b"%PDF-1.4\n", b"PK\x03\x04junk", b"\x1f\x8bxx"])
        ),
        max_size=4,
    )
)
def test_arbitrary_zip_members_never_raise(members: dict[str, bytes]) -> None:
    """Zips of arbitrary member names and contents never make extraction raise."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n, d in members.items():
            zf.writestr(n, d)
    _check_items(_extract(buf.getvalue(), "a.zip"))


@settings(max_examples=150, deadline=None)
@given(
    text=st.text(
        alphabet=st.one_of(st.characters(blacklist_categories=["Cs", "Cc"]), st.sampled_from("\n\t")),
        max_size=600,
    )
)
def test_plain_text_chunks_reassemble(text: str) -> None:
    """Chunks of UTF-8 text, minus their overlaps, reproduce the text; offsets and lines are exact."""
    data = text.encode("utf-8")
    items = _extract(data, "t.txt")
    chunks = [i for i in items if isinstance(i, TextChunk)]
    out = ""
    for c in chunks:
        assert c.offset <= len(out)
        assert c.line == out.count("\n", 0, c.offset) + 1
        out = out[: c.offset] + c.text
    expected = data.decode("utf-8")
    if expected.startswith("\ufeff"):
        expected = expected[1:]  # a leading BOM is an encoding mark, not text
    assert not [i for i in items if isinstance(i, ExtractError)]
    assert out == expected
    assert all(not c.final for c in chunks[:-1]) and (not chunks or chunks[-1].final)
