"""WordPerfect, Visio .vsd, Publisher, CHM and OneNote: Debian's readers, run for real.

CHM files are written by a real compiler (Free Pascal's chmcmd, Debian fp-utils) and read back with
CHMLib's extract_chmLib. No free tool writes WordPerfect, Visio .vsd or Publisher files (AbiWord and
LibreOffice import them only) and ../shared/external holds none, so wpd2text, vsd2text and
pub2xhtml are run here on files they must reject, which end as error records, never as clean.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from agent.extract import liberation
from agent.extract.context import Context
from agent.models import Limits, TextChunk
from tests.unit.extract.builders import errors, pdf_bytes, run, texts

CARD = "4532 0151 1283 0366"
MARKING = "STRICTLY CONFIDENTIAL"


def _need(*tools: str) -> None:
    for t in tools:
        if shutil.which(t) is None:
            pytest.skip(f"{t} not installed")


def _chm(d: Path, files: dict[str, bytes], name: str = "help.chm") -> Path:
    _need("chmcmd", "extract_chmLib", "enum_chmLib")
    d.mkdir(parents=True, exist_ok=True)
    for n, data in files.items():
        (d / n).parent.mkdir(parents=True, exist_ok=True)
        (d / n).write_bytes(data)
    listing = "\n".join(files)
    (d / "p.hhp").write_text(
        f"[OPTIONS]\nCompiled file={name}\nDefault topic={next(iter(files))}\nTitle=Help\n\n"
        f"[FILES]\n{listing}\n"
    )
    subprocess.run(["chmcmd", "p.hhp"], cwd=d, check=True, capture_output=True, timeout=60)
    return d / name


def _page(body: str) -> bytes:
    return f'<html><head><meta charset="utf-8"><title>t</title></head><body>{body}</body></html>'.encode()


def test_chm_pages_and_attachments(tmp_path: Path) -> None:
    """Pages of a compiled help file are read as text (no markup), a PDF inside it as a PDF, and the
    CHM's own system files are not members."""
    p = _chm(
        tmp_path / "src",
        {
            "index.html": _page(f"<h1>{MARKING}</h1><p>Customer list</p>"),
            "topics/cards.htm": _page(f"<table><tr><td>Card</td><td>{CARD}</td></tr></table>"),
            "files/statement.pdf": pdf_bytes(["Statement for Jane Example"]),
        },
    )
    items = run(p)
    assert not errors(items)
    text = texts(items)
    assert MARKING in text and CARD in text and "Statement for Jane Example" in text
    assert "<h1>" not in text and "<td>" not in text
    members = {i.member for i in items if isinstance(i, TextChunk)}
    assert {"index.html", "topics/cards.htm", "files/statement.pdf"} <= members
    assert not any(m and m.startswith(("#", "$")) for m in members)


def test_chm_entry_names_with_dotdot_are_reported(tmp_path: Path) -> None:
    """chmcmd stores ``../x.html`` as ``/../x.html``: extract_chmLib skips it (it would write outside its
    directory), so it is reported unread, and nothing is written beside the scan's private directory."""
    p = _chm(tmp_path / "src", {"a.html": _page("inside"), "../up.html": _page(f"outside {MARKING}")})
    (tmp_path / "up.html").unlink()
    before = set(tmp_path.rglob("*"))
    items = run(p)
    assert (None, "malformed") in errors(items)
    assert "inside" in texts(items) and "outside" not in texts(items)
    assert set(tmp_path.rglob("*")) == before


def test_truncated_chm_is_malformed(tmp_path: Path) -> None:
    p = _chm(tmp_path / "src", {"a.html": _page(MARKING * 50)})
    cut = tmp_path / "cut.chm"
    cut.write_bytes(p.read_bytes()[:4000])
    assert errors(run(cut)) == [(None, "malformed")]


@pytest.mark.parametrize(("fmt", "tool"), [("wpd", "wpd2text"), ("vsd", "vsd2text"), ("pub", "pub2xhtml")])
def test_converter_rejects_are_errors(tmp_path: Path, fmt: str, tool: str) -> None:
    """A document the converter cannot read (random bytes after the format's signature) is an error
    record; pub2xhtml, which exits 0 and writes nothing, included."""
    _need(tool)
    import random

    data = (b"\xffWPC" if fmt == "wpd" else b"") + random.Random(7).randbytes(4000)
    ctx = Context(path=f"x.{fmt}", limits=Limits())
    with (tmp_path / f"x.{fmt}").open("wb+") as f:
        f.write(data)
        f.seek(0)
        items = list(liberation.extract_converted(fmt)(f, ctx, None, 0, lambda *_a: iter(())))
    assert [(i.member, i.reason) for i in items] == [(None, "malformed")]


def test_wordperfect_and_onenote_are_sniffed(tmp_path: Path) -> None:
    """By content: a WordPerfect signature goes to wpd2text; a OneNote section is named as such
    (no maintained reader), not 'no reader for binary content'."""
    one = tmp_path / "notes.bin"
    one.write_bytes(bytes.fromhex("e4525c7b8cd8a74daeb15378d02996d3") + bytes(2000))
    items = run(one)
    assert errors(items) == [(None, "unsupported_format")]
    assert "OneNote" in items[0].detail  # type: ignore[union-attr]
    wpd = tmp_path / "letter.bin"
    wpd.write_bytes(b"\xffWPC" + bytes(600))
    if shutil.which("wpd2text"):
        assert errors(run(wpd)) == [(None, "malformed")]
