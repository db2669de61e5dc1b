"""Outlook PST/OST through pffexport (pff-tools), run for real as a bounded subprocess.

No tool on this machine or in Debian/PyPI writes a PST (libpff, libpst and pypff only read), and
../shared/external holds no PST or OST, so no real store is scanned here. What is run for real:
pffexport on broken stores (an error record, never silence), the watchdog killing a real writer
past the output budget, and the walk over an export tree laid out as pffexport writes it
(``Folder/Message00001/{OutlookHeaders.txt, InternetHeaders.txt, Message.txt, Attachments/…}``),
including a link planted in it that must not be followed.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from agent.extract import pst, toolexport
from agent.extract.context import Context
from agent.models import Limits
from tests.unit.extract.builders import errors, run, texts

CARD = "4532 0151 1283 0366"
MARKING = "STRICTLY CONFIDENTIAL"
_HEADERS = (
    "Received: from mx.example.org by mail.example.net with ESMTPS id 4Qk9ZL2cP1z9sWv\n"
    "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1;\n"
    " bh=9f8Jq2Lx0vT5mWc3RkYpZ1sN7uH4eD6gA2bC8iO0qE4=\n"
    "Message-ID: <CAF8x7=Tq9vLm2PzR4kWn6Yb0Hs3Jd5Ge1Uc@mail.example.org>\n"
    "Subject: Quarterly customer list\nFrom: a@example.org\nTo: b@example.org\n\n"
)


def _need_pffexport() -> None:
    if shutil.which("pffexport") is None or shutil.which("prlimit") is None:
        pytest.skip("pffexport (pff-tools) not installed")


def _export_tree(root: Path) -> None:
    msg = root / "Top of Personal Folders" / "Inbox" / "Message00001"
    (msg / "Attachments").mkdir(parents=True)
    (msg / "OutlookHeaders.txt").write_text("Subject:\tCustomer list\nSender name:\tAlice Example\n")
    (msg / "InternetHeaders.txt").write_text(_HEADERS)
    (msg / "ConversationIndex.txt").write_text("Conversation index: 01d9a3b47e5f1c2a3b4c5d6e7f8091a2b3\n")
    (msg / "Message.txt").write_text(f"Classification: {MARKING}\nHello\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("cards.csv", f"name,card\nJane Doe,{CARD}\n")
    (msg / "Attachments" / "1_cards.zip").write_bytes(buf.getvalue())
    contact = root / "Top of Personal Folders" / "Contacts" / "Contact00001"
    contact.mkdir(parents=True)
    (contact / "Contact.txt").write_text("Given name:\tJane\nEmail address:\tjane@example.org\n")


def _walk(root: Path, limits: Limits | None = None) -> list[object]:
    ctx = Context(path="store.pst", limits=limits or Limits())

    def recurse(f: object, name: str, depth: int) -> object:
        from agent.extract import _dispatch

        return _dispatch(f, ctx, name, name, depth)  # type: ignore[arg-type]

    return list(pst.walk_export(str(root), ctx, None, 0, recurse))  # type: ignore[arg-type]


def test_export_tree_items_and_attachments_are_members(tmp_path: Path) -> None:
    """Message body, Outlook headers, contacts and a zip attachment's CSV are read as members; the
    Internet headers keep the subject but not DKIM, Received IDs or Message-ID; no-content files
    are skipped."""
    _export_tree(tmp_path)
    items = _walk(tmp_path)
    by_member = {}
    for i in items:
        if hasattr(i, "text"):
            by_member[i.member] = by_member.get(i.member, "") + i.text  # type: ignore[attr-defined]
    base = "Top of Personal Folders/Inbox/Message00001"
    assert MARKING in by_member[f"{base}/Message.txt"]
    assert CARD in by_member[f"{base}/Attachments/1_cards.zip!cards.csv"]
    assert "jane@example.org" in by_member["Top of Personal Folders/Contacts/Contact00001/Contact.txt"]
    headers = by_member[f"{base}/InternetHeaders.txt"]
    assert "Quarterly customer list" in headers
    assert "bh=" not in headers and "4Qk9ZL2cP1z9sWv" not in headers and "CAF8x7" not in headers
    assert not any("ConversationIndex" in (m or "") for m in by_member)
    assert not [i for i in items if hasattr(i, "reason")]


def test_export_walk_does_not_follow_links(tmp_path: Path) -> None:
    """A link in the export tree (to a file or a directory outside it) is never read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(f"{MARKING} outside the export")
    root = tmp_path / "export"
    _export_tree(root)
    msg = root / "Top of Personal Folders" / "Inbox" / "Message00001"
    (msg / "Attachments" / "2_link.txt").symlink_to(outside / "secret.txt")
    (msg / "Attachments" / "Attachment00002").symlink_to(outside, target_is_directory=True)
    text = "".join(i.text for i in _walk(root) if hasattr(i, "text"))  # type: ignore[attr-defined]
    assert "outside the export" not in text
    assert MARKING in text


def test_embedded_messages_count_against_the_depth(tmp_path: Path) -> None:
    """Messages attached to messages (``Attachment00001/``) nest; past max_depth: one limit_depth error."""
    d = tmp_path
    for _ in range(4):
        d = d / "Attachment00001"
    d.mkdir(parents=True)
    (d / "Message.txt").write_text(MARKING)
    items = _walk(tmp_path, Limits(max_depth=2))
    assert [getattr(i, "reason", None) for i in items if hasattr(i, "reason")] == ["limit_depth"]
    assert MARKING not in "".join(i.text for i in items if hasattr(i, "text"))  # type: ignore[attr-defined]


def test_broken_store_is_malformed(tmp_path: Path) -> None:
    """A file with the PST signature whose header is garbage, and a truncated one: pffexport fails and
    the store is reported ``malformed`` (an UNSCANNED alert), never passed as clean."""
    _need_pffexport()
    bad = tmp_path / "bad.pst"
    bad.write_bytes(b"!BDN" + bytes(range(256)) * 400)
    assert errors(run(bad)) == [(None, "malformed")]
    cut = tmp_path / "cut.ost"
    cut.write_bytes(b"!BDN\x00\x00\x00\x00SM\x17\x00")
    assert errors(run(cut)) == [(None, "malformed")]
    assert texts(run(cut)) == ""


def test_missing_pffexport_is_unsupported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without pff-tools the store is ``unsupported_format``, naming the tool."""
    monkeypatch.setenv("PATH", str(tmp_path))
    bad = tmp_path / "x.pst"
    bad.write_bytes(b"!BDN" + b"\0" * 600)
    items = run(bad)
    assert errors(items) == [(None, "unsupported_format")]
    assert "pffexport" in items[0].detail  # type: ignore[union-attr]


def _watched(tmp_path: Path, limits: Limits, code: str) -> tuple[str, int]:
    """Run a real writer under the pffexport watchdog; the reason it was stopped and the bytes it wrote."""
    ctx = Context(path="x.pst", limits=limits)
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, start_new_session=True)
    try:
        with pytest.raises(toolexport.Bounded) as e:
            toolexport.watch(proc, ctx, str(tmp_path), time.monotonic() + 60)
    finally:
        proc.kill()
        proc.wait()
    return e.value.reason, sum(p.stat().st_size for p in tmp_path.iterdir())


def test_watchdog_kills_a_writer_past_the_output_budget(tmp_path: Path) -> None:
    """The watchdog that bounds pffexport and extract_chmLib, on a real process that keeps writing:
    stopped once the tree it writes exceeds the unpacked budget left for the file (and not before)."""
    code = "import itertools\nfor i in itertools.count():\n    open(f'f{i}','wb').write(b'x'*100000)\n"
    reason, written = _watched(tmp_path, Limits(max_unpacked_bytes=2_000_000), code)
    assert reason == "limit_bytes" and written > 2_000_000


def test_watchdog_counts_members(tmp_path: Path) -> None:
    """Many small files (a store of a million empty items): stopped at the member budget."""
    code = "import itertools\nfor i in itertools.count():\n    open(f'f{i}','wb').close()\n"
    assert _watched(tmp_path, Limits(max_members=50), code)[0] == "limit_members"
