"""Memory amplification through a zip's central directory: the entry count is read from the end records
before zipfile parses the directory, so a zip of 200,000 empty members costs no memory to refuse.
Real zips on disk, the real extractor; nothing mocked."""

from __future__ import annotations

import tracemalloc
import zipfile

import pytest

from agent.extract.archive import declared_entries
from agent.models import Limits
from tests.unit.extract.builders import errors, many_entry_zip, run


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("zipdir") / "entries.zip"
    many_entry_zip(path, 200_000)
    return path


def test_the_builder_writes_a_zip_zipfile_reads(tmp_path) -> None:
    path = tmp_path / "small.zip"
    many_entry_zip(path, 300)
    with zipfile.ZipFile(path) as z:
        assert len(z.infolist()) == 300 and z.read("0000299") == b""
    with open(path, "rb") as f:
        assert declared_entries(f) == 300


def test_a_zip_of_200000_entries_is_refused_before_its_directory_is_parsed(huge) -> None:
    """One limit_members error, and the extraction's peak of Python allocations stays small (parsing the
    directory into ZipInfo objects would take well over 50 MB)."""
    tracemalloc.start()
    try:
        items = run(huge, Limits(max_members=10_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert errors(items) == [(None, "limit_members")]
    assert peak < 8 * 1024 * 1024, peak


def test_a_count_that_lies_does_not_hide_the_directory(huge, tmp_path) -> None:
    """The 16-bit count field says 65,535 (or anything); the directory's declared size still gives it away."""
    data = bytearray(huge.read_bytes())
    at = data.rfind(b"PK\x05\x06")
    data[at + 8 : at + 12] = (3).to_bytes(2, "little") * 2
    liar = tmp_path / "liar.zip"
    liar.write_bytes(bytes(data))
    assert errors(run(liar, Limits(max_members=1_000))) == [(None, "limit_members")]
