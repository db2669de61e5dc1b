"""Format readers load on first use (a text scan never imports mail, lxml or libarchive), still read
every format from a cold start, and `Pipeline.warm_up` loads them all before workers fork."""

from __future__ import annotations

from pathlib import Path

import pytest

import agent.extract as extract
from tests.helpers import python_json
from tests.unit.extract.builders import docx_bytes, eml_bytes, odt_bytes, pdf_bytes, xlsx_bytes, zip_bytes

#: Libraries only the readers of other formats need.
HEAVY = ("agent.extract.mail", "agent.extract.office", "agent.extract.unpack", "lxml.etree", "libarchive")
#: Every module the dispatch may import lazily.
LAZY = sorted(
    {f"agent.extract.{spec[0]}" for spec in extract._READERS.values()}
    | {f"agent.extract.{m}" for m in extract.LAZY_MODULES}
)


@pytest.mark.parametrize("fmt", sorted(extract._READERS))
def test_every_table_entry_names_a_reader_of_its_module(fmt: str) -> None:
    """A typo in the table would only show when a file of that format arrives: catch it here."""
    reader = extract._reader(fmt)
    assert callable(reader)
    assert reader.__module__ == f"agent.extract.{extract._READERS[fmt][0]}"


READ_COLD = """
import json, sys
from agent.extract import Extractor
from agent.models import FileRef, TextChunk
heavy = sys.argv[1].split(",")
before = [m for m in heavy if m in sys.modules]
out = {}
for path in sys.argv[2:]:
    items = list(Extractor().extract(FileRef(path=path)))
    out[path.rsplit("/", 1)[-1]] = {
        "text": "\\n".join(i.text for i in items if isinstance(i, TextChunk)),
        "errors": [i.reason for i in items if not isinstance(i, TextChunk)],
    }
print(json.dumps({"before": before, "after": [m for m in heavy if m in sys.modules], "read": out}))
"""


def test_a_cold_extractor_imports_readers_only_when_a_format_needs_them(tmp_path: Path) -> None:
    files = {
        "a.txt": b"plain text line FOXTROT-1\n",
        "mail.eml": eml_bytes(),
        "payroll.docx": docx_bytes(),
        "staff.xlsx": xlsx_bytes(),
        "minutes.odt": odt_bytes(["odt paragraph GOLF-2"]),
        "bundle.zip": zip_bytes({"inner.txt": b"zipped text HOTEL-3\n"}),
        "report.pdf": pdf_bytes(["pdf page INDIA-4"]),
        "memo.rtf": rb"{\rtf1\ansi rtf body JULIET-5\par}",
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)

    txt_only = python_json(READ_COLD, ",".join(HEAVY), str(tmp_path / "a.txt"))
    assert txt_only["before"] == []
    assert txt_only["after"] == []  # a text file pulls no other format's reader
    assert "FOXTROT-1" in txt_only["read"]["a.txt"]["text"]

    every = python_json(READ_COLD, ",".join(HEAVY + tuple(LAZY)), *(str(tmp_path / n) for n in files))
    read = every["read"]
    expected = {
        "mail.eml": "AGENT-ORANGE",
        "payroll.docx": "Jane Roe",
        "staff.xlsx": "second sheet text",
        "minutes.odt": "GOLF-2",
        "bundle.zip": "HOTEL-3",
        "report.pdf": "INDIA-4",
        "memo.rtf": "JULIET-5",
    }
    for name, needle in expected.items():
        assert needle in read[name]["text"], name
        assert read[name]["errors"] == [], name
    assert set(HEAVY) - {"agent.extract.unpack", "libarchive"} <= set(every["after"])


WARM_THEN_FORK = """
import json, os, sys
from agent.models import FileRef
from agent.pipeline import build_pipeline
watched = sys.argv[1].split(",")
pipeline = build_pipeline(None, b"k" * 32, warm_up=False)
before = [m for m in watched if m in sys.modules]
pipeline.warm_up()
warmed = [m for m in watched if m in sys.modules]
r, w = os.pipe()
pid = os.fork()
if pid == 0:  # a worker: reading every kind of file imports nothing it did not inherit
    os.close(r)
    loaded = set(sys.modules)
    verdicts = [pipeline.scan(FileRef(path=p)) for p in sys.argv[2:]]
    new = sorted(m for m in set(sys.modules) - loaded if m.startswith(("agent.", "lxml", "libarchive")))
    os.write(w, json.dumps({"new": new, "findings": [len(v.findings) for v in verdicts]}).encode())
    os._exit(0)
os.close(w)
child = json.loads(os.read(r, 1 << 20))
os.waitpid(pid, 0)
print(json.dumps({"before": before, "warmed": warmed, "child": child}))
"""


def test_warm_up_loads_every_reader_before_workers_fork(tmp_path: Path) -> None:
    files = {
        "mail.eml": eml_bytes(),
        "payroll.docx": docx_bytes(),
        "bundle.zip": zip_bytes({"inner.txt": b"zipped text\n"}),
        "report.pdf": pdf_bytes(["pdf page"]),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    watched = (*HEAVY, *LAZY)
    got = python_json(WARM_THEN_FORK, ",".join(watched), *(str(tmp_path / n) for n in files))
    assert not set(HEAVY) & set(got["before"])  # building the pipeline alone stays lazy
    assert sorted(got["warmed"]) == sorted(watched)
    assert got["child"]["new"] == []
    assert len(got["child"]["findings"]) == len(files)
