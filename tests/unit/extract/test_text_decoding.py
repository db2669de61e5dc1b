"""Plain text: what decoding replaced is told apart from U+FFFD the file itself holds, and the binary
sniff counts control bytes, both without a pass in Python over every byte."""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.extract import sniff, text
from agent.extract.context import Context
from agent.models import Limits
from tests.unit.extract.builders import errors, run

GENUINE = "\ufffd".encode()  # an earlier tool's replacement mark, written as UTF-8
#: Pieces of a UTF-8 file: ASCII, accents, genuine U+FFFD, bytes that are never UTF-8, a cut sequence.
PIECES = st.lists(st.sampled_from([b"abc ", "é€ ".encode(), GENUINE, b"\xff", b"\x80\x80", b"\xe2\x82"]))


def _added_as_before(piece: str, data: bytes, marker: bytes) -> int:
    """The count the reader made before: every U+FFFD of the piece, less the genuine ones."""
    return piece.count("\ufffd") - (min(piece.count("\ufffd"), data.count(marker)) if marker and data else 0)


@settings(max_examples=300, deadline=None)
@given(PIECES, st.integers(min_value=1, max_value=7))
def test_added_replacements_count_as_before(pieces: list[bytes], block: int) -> None:
    """Small blocks, so sequences are cut between reads and the decoder carries bytes over."""
    data = b"abc " + b"".join(pieces)  # valid UTF-8 at the head: decoded as UTF-8
    reads: list[bytes] = []
    f = io.BytesIO(data)
    real_read = f.read

    def read(n: int = -1) -> bytes:
        reads.append(real_read(n))
        return reads[-1]

    f.read = read  # type: ignore[method-assign]
    with mock.patch.object(text, "_HEAD", 4), mock.patch.object(text, "BLOCK", block):
        got = list(text.decoded_stream(f, Context(path="x", limits=Limits())))
    assert "".join(p for p, _, _ in got) == data.decode("utf-8", "replace")
    # the pieces as the reader made them before, from the same reads (a read may decode to nothing)
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    expected = []
    for data in reads:  # the last read is the empty one at the end
        if piece := decoder.decode(data, final=not data):
            expected.append(_added_as_before(piece, data, GENUINE))
    assert [a for _, _, a in got] == expected


def test_genuine_replacement_marks_are_text_not_a_decoding_failure(tmp_path: Path) -> None:
    marks = tmp_path / "marks.txt"
    marks.write_bytes(("name \ufffd\ufffd\ufffd\n" * 2000).encode())
    assert errors(run(marks)) == []
    undecodable = tmp_path / "undecodable.txt"  # a UTF-8 head (64 KB), mostly invalid bytes after it
    undecodable.write_bytes(b"ok " + GENUINE * 10 + b"a" * 70_000 + b"\xc3" * 100_000)
    assert errors(run(undecodable)) == [(None, "decode_error")]


def _looks_binary_as_before(head: bytes) -> bool:
    sample = head[:4096]
    if b"\x00" in sample:
        even, odd = sample[0::2], sample[1::2]
        return (odd.count(0) > 0.9 * len(odd)) == (even.count(0) > 0.9 * len(even))
    return sum(1 for b in sample if b in sniff._TEXTISH_CONTROL) > max(2, len(sample) // 10)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=5000) | st.lists(st.sampled_from(b"\x01\x02\x1b\t\na"), max_size=400).map(bytes))
def test_control_bytes_decide_binary_as_before(head: bytes) -> None:
    assert sniff._looks_binary(head) is _looks_binary_as_before(head)
