"""Hostile and broken input: every case yields the right ExtractError, and the next file reads fine."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from agent.extract import Extractor
from agent.models import FileRef, Limits, TextChunk
from tests.unit.extract.builders import docx_bytes, errors, pdf_bytes, run, texts, zip_bytes

REPO = Path(__file__).resolve().parents[3]


def _noise(n: int) -> bytes:
    """Deterministic random bytes (with NULs, so they can never pass for text): no flaky inputs."""
    return b"\0" + random.Random(n).randbytes(n - 1)


def _next_file_ok(ex: Extractor, tmp_path: Path) -> None:
    good = tmp_path / "next-good.txt"
    good.write_text("the next file reads fine")
    items = list(ex.extract(FileRef(str(good))))
    assert [i.text for i in items if isinstance(i, TextChunk)] == ["the next file reads fine"]


def _one(tmp_path: Path, name: str, data: bytes, limits: Limits | None = None) -> list:
    ex = Extractor(limits or Limits())
    p = tmp_path / name
    p.write_bytes(data)
    items = list(ex.extract(FileRef(str(p), root=str(tmp_path))))
    _next_file_ok(ex, tmp_path)
    return items


def test_garbage_pdf_is_malformed(tmp_path: Path) -> None:
    """A file with a PDF header and garbage after it yields ExtractError(malformed)."""
    items = _one(tmp_path, "bad.pdf", b"%PDF-1.7\n" + _noise(3000))
    assert errors(items) == [(None, "malformed")]


def test_truncated_pdf_never_raises(tmp_path: Path) -> None:
    """A PDF cut in half yields malformed (or what PDFium could recover) but never raises."""
    data = pdf_bytes(["first page text", "second page text"])
    items = _one(tmp_path, "trunc.pdf", data[: len(data) // 2])
    assert errors(items) and {r for _, r in errors(items)} <= {"malformed"}


def test_random_bytes_named_docx_is_malformed(tmp_path: Path) -> None:
    """Random bytes with a .docx name are reported malformed (content does not match the extension)."""
    items = _one(tmp_path, "fake.docx", _noise(5000))
    assert errors(items) == [(None, "malformed")]


def test_zip_named_docx_without_word_part_is_malformed(tmp_path: Path) -> None:
    """A real zip named .docx that python-docx rejects yields malformed with the exception type only."""
    items = _one(tmp_path, "notdoc.docx", zip_bytes({"a.txt": b"SECRET-CONTENT-VALUE"}))
    assert errors(items) == [(None, "malformed")]
    assert "SECRET-CONTENT-VALUE" not in items[0].detail


def test_bad_member_does_not_stop_the_archive(tmp_path: Path) -> None:
    """A broken member is reported and the following members are still extracted."""
    data = zip_bytes({"a-bad.docx": _noise(2000), "b-good.txt": b"after the bad member"})
    items = _one(tmp_path, "mixed.zip", data)
    assert errors(items) == [("a-bad.docx", "malformed")]
    assert texts(items) == "after the bad member"


def test_zip_bomb_declared_ratio(tmp_path: Path) -> None:
    """A zip member declaring a huge decompression ratio is refused (limit_ratio) without inflating it."""
    data = zip_bytes({"bomb.txt": b"\0" * (20 * 1024 * 1024), "ok.txt": b"fine member"})
    items = _one(tmp_path, "bomb.zip", data)
    assert errors(items) == [("bomb.txt", "limit_ratio")]
    assert texts(items) == "fine member"


def test_gzip_bomb_counted_while_streaming(tmp_path: Path) -> None:
    """A gzip stream (no trustworthy declared size) is stopped by counting bytes as they inflate."""
    items = _one(tmp_path, "bomb.txt.gz", gzip.compress(b"\0" * (30 * 1024 * 1024), compresslevel=9))
    assert errors(items) == [("bomb.txt", "limit_ratio")]


def test_lying_zip_size_is_bounded_by_actual_count(tmp_path: Path) -> None:
    """A zip member that lies about its size cannot make us inflate more than max_member_bytes."""
    data = zip_bytes({"big.txt": b"abc" * 400_000}, compression=zipfile.ZIP_STORED)
    items = _one(tmp_path, "big.zip", data, Limits(max_member_bytes=100_000))
    assert errors(items) == [("big.txt", "limit_bytes")]


def test_twelve_level_nested_zip_stops_at_max_depth(tmp_path: Path) -> None:
    """A 12-level nested zip is read down to max_depth, then ExtractError(limit_depth), no crash."""
    data = b"deepest text"
    for level in range(12, 0, -1):
        data = zip_bytes({f"level{level}.txt": f"text at level {level}".encode(), f"l{level}.zip": data})
    items = _one(tmp_path, "nested.zip", data)
    errs = errors(items)
    assert len(errs) == 1 and errs[0][1] == "limit_depth"
    assert errs[0][0] == "!".join(f"l{i}.zip" for i in range(1, 6))
    found = texts(items)
    assert "text at level 5" in found and "text at level 6" not in found and "deepest" not in found


def test_too_many_members(tmp_path: Path) -> None:
    """An archive with more members than max_members yields limit_members after the first ones."""
    data = zip_bytes({f"m{i:02d}.txt": f"member {i}".encode() for i in range(10)})
    items = _one(tmp_path, "many.zip", data, Limits(max_members=4))
    assert errors(items) == [(None, "limit_members")]
    assert len([i for i in items if isinstance(i, TextChunk)]) == 4


def test_encrypted_zip_member(tmp_path: Path) -> None:
    """A password-protected zip member yields ExtractError(encrypted); its neighbours are read."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("plain.txt", "open member")
        zf.writestr("locked.txt", "x")
    raw = bytearray(buf.getvalue())
    # set the "encrypted" flag bit on the second member, local header and central directory
    for sig in (b"PK\x03\x04", b"PK\x01\x02"):
        pos = raw.find(sig, raw.find(sig) + 1)
        flag_at = pos + (6 if sig == b"PK\x03\x04" else 8)
        raw[flag_at] |= 1
    items = _one(tmp_path, "locked.zip", bytes(raw))
    assert errors(items) == [("locked.txt", "encrypted")]
    assert texts(items) == "open member"


def test_fifo_is_never_opened(tmp_path: Path) -> None:
    """A FIFO yields not_regular_file without being opened (opening would block forever)."""
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    ex = Extractor()
    assert errors(list(ex.extract(FileRef(str(fifo), root=str(tmp_path))))) == [(None, "not_regular_file")]
    _next_file_ok(ex, tmp_path)


def test_device_is_never_opened(tmp_path: Path) -> None:
    """A character device (/dev/zero: reading it never ends) yields not_regular_file."""
    ex = Extractor()
    assert errors(list(ex.extract(FileRef("/dev/zero")))) == [(None, "not_regular_file")]
    _next_file_ok(ex, tmp_path)


def test_deleted_file_is_vanished(tmp_path: Path) -> None:
    """A file deleted between listing and reading yields vanished."""
    p = tmp_path / "gone.txt"
    p.write_text("x")
    ref = FileRef(str(p), root=str(tmp_path))
    p.unlink()
    ex = Extractor()
    assert errors(list(ex.extract(ref))) == [(None, "vanished")]
    _next_file_ok(ex, tmp_path)


def test_symlink_loop_and_outside(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Symlink loops yield symlink_loop, links leaving the root symlink_outside, even when following."""
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    outside_dir = tmp_path_factory.mktemp("outside")
    (outside_dir / "x.txt").write_text("outside secret")
    (tmp_path / "out").symlink_to(outside_dir / "x.txt")
    for follow in (False, True):
        ex = Extractor(Limits(follow_symlinks=follow))
        assert errors(list(ex.extract(FileRef(str(tmp_path / "a"), root=str(tmp_path))))) == [
            (None, "symlink_loop")
        ]
        assert errors(list(ex.extract(FileRef(str(tmp_path / "out"), root=str(tmp_path))))) == [
            (None, "symlink_outside")
        ]
        _next_file_ok(ex, tmp_path)


def test_symlink_inside_root_followed_only_on_request(tmp_path: Path) -> None:
    """A link to a file inside the root is read only with follow_symlinks; otherwise not_regular_file."""
    (tmp_path / "real.txt").write_text("inside text")
    (tmp_path / "link.txt").symlink_to(tmp_path / "real.txt")
    ref = FileRef(str(tmp_path / "link.txt"), root=str(tmp_path))
    assert errors(run(ref.path, Limits(), root=ref.root)) == [(None, "not_regular_file")]
    assert texts(run(ref.path, Limits(follow_symlinks=True), root=ref.root)) == "inside text"


_DROP_AND_READ = """
import json, os, sys
from agent.extract import Extractor  # import first: the interpreter's files may be root-only
from agent.models import FileRef
os.setgroups([]); os.setgid(65534); os.setuid(65534)
items = list(Extractor().extract(FileRef(sys.argv[1])))
print(json.dumps([[getattr(i, "reason", None), getattr(i, "text", None)] for i in items]))
"""


def test_unreadable_file_is_permission_denied(tmp_path: Path) -> None:
    """A file the scanning user may not read yields permission_denied (root drops to nobody to prove it)."""
    d = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        d.chmod(0o755)
        p = d / "private.txt"
        p.write_text("owner only")
        p.chmod(0o600)
        if os.geteuid() == 0:
            out = subprocess.run(
                [sys.executable, "-c", _DROP_AND_READ, str(p)],
                capture_output=True,
                text=True,
                timeout=60,
                cwd=str(REPO),
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            assert out.returncode == 0, out.stderr[-500:]
            assert json.loads(out.stdout.strip().splitlines()[-1]) == [["permission_denied", None]]
        else:
            p.chmod(0o000)
            assert errors(run(p)) == [(None, "permission_denied")]
    finally:
        shutil.rmtree(d)
    _next_file_ok(Extractor(), tmp_path)


def test_oversized_file_not_read(tmp_path: Path) -> None:
    """A file above max_file_bytes yields limit_bytes without being read."""
    items = _one(tmp_path, "big.txt", b"x" * 2000, Limits(max_file_bytes=1000))
    assert errors(items) == [(None, "limit_bytes")] and texts(items) == ""


def test_slow_pdf_pages_time_out_between_pages(tmp_path: Path) -> None:
    """Pages that each take PDFium ~0.4 s to parse stop at the time limit with timeout, not at the end."""
    ops = "BT /F1 12 Tf 72 720 Td (word) Tj ET\n" * 150_000
    data = pdf_bytes(["x"] * 20).replace(b"BT /F1 12 Tf 72 720 Td (x) Tj ET", ops.encode())
    data = data.replace(b"/Length 32", f"/Length {len(ops)}".encode())
    items = _one(tmp_path, "slow.pdf", data, Limits(timeout_seconds=0.5))
    assert (None, "timeout") in errors(items)
    assert texts(items).count("word") < 20  # stopped before the last page


def test_docx_inside_zip_inside_mail_is_found(tmp_path: Path) -> None:
    """Nesting across families (zip member DOCX) is read and named by its chain."""
    data = zip_bytes({"hr/payroll.docx": docx_bytes()})
    items = _one(tmp_path, "bundle.zip", data)
    assert any(
        isinstance(i, TextChunk) and i.member == "hr/payroll.docx" and "DE89370400440532013000" in i.text
        for i in items
    )


def test_office_package_bomb_refused_before_parsing(tmp_path: Path) -> None:
    """A DOCX whose document.xml inflates 1000x is refused (limit_ratio) before python-docx reads it."""
    data = zip_bytes(
        {
            "[Content_Types].xml": b"<Types/>",
            "word/document.xml": b"<w:document>" + b" " * (30 * 1024 * 1024) + b"</w:document>",
        }
    )
    items = _one(tmp_path, "bomb.docx", data)
    assert errors(items) == [(None, "limit_ratio")]
