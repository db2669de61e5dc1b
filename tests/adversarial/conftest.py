"""A share a hostile writer filled: names that are bytes (not UTF-8, UTF-8-encoded surrogates, control
characters, newlines, bidi overrides, 255-byte components) and secrets inside names, beside content
with invalid UTF-8 in every text-ish format. Built for real on disk; the tests push it through every
output and command of the agent."""

from __future__ import annotations

import codecs
import io
import os
import random
import tarfile
import zipfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.helpers import fake_card

RNG = random.Random(20261205)
#: Secrets only ever written into names (never into content): no output may show them in clear.
NAME_CARD = fake_card(RNG, prefix="45")
NAME_AWS = "AKIA" + "".join(RNG.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
#: A card written into the content of every file: each file must still be alerted.
BODY_CARD = fake_card(RNG, prefix="52")
#: Bytes that decode (surrogateescape) to lone surrogates: a UTF-8-encoded surrogate, an overlong
#: slash, a lone continuation byte, Latin-1.
SURROGATE_BYTES = b"\xed\xa0\x80-\xc0\xaf-\x80-caf\xe9"

#: Hostile folder and file names (bytes). The folder names are themselves hostile: every file below
#: them carries that too.
FOLDERS: tuple[bytes, ...] = (b"dir-\xff\xfe", b"rtl-\xe2\x80\xaeFDP.exe", b"nl\nfolder")
NAMES: tuple[bytes, ...] = (
    b"undecodable-" + SURROGATE_BYTES + b".txt",
    b"ctl-\x01\x07\x1b]0;owned\x07\x7f.txt",
    b"two\nlines\rFORGED finding.txt",
    b"bidi-\xe2\x80\xaetxt.exe.txt",  # U+202E: shown as "bidi-exe.txt" by a naive terminal
    b"seps-\xc2\x85\xe2\x80\xa8\xe2\x80\xa9-\x1c\x1d\x1e.txt",  # NEL, LS, PS, FS/GS/RS: str.splitlines()
    b"L" * 251 + b".txt",  # NAME_MAX
    f"card {NAME_CARD} ".encode() + b"\xff.txt",
    f"aws-{NAME_AWS}-".encode() + b"\xfe.txt",
    b"html-<img src=x onerror=alert(1)>&\"q'.txt",
)


@dataclass
class Share:
    """The built tree: its root and every file in it (bytes paths), by kind."""

    root: bytes
    files: list[bytes] = field(default_factory=list)

    @property
    def root_str(self) -> str:
        return os.fsdecode(self.root)


def _write(path: bytes, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def docx_odd(card: str) -> bytes:
    """A .docx whose document.xml holds a C1 control, U+FFFE/U+FFFF (XML 1.0 forbids the last two as
    literal characters but a sloppy writer puts them there), bidi override, and the card."""
    ct = (
        '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/'
        '2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-'
        'package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override '
        'PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'wordprocessingml.document.main+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
        'wordprocessingml/2006/main"><w:body>'
        "<w:p><w:r><w:t>odd \u0085\u202e\ufeff chars &#x85; then</w:t></w:r></w:p>"
        f"<w:p><w:r><w:t>Please charge card {card} today.</w:t></w:r></w:p>"
        "</w:body></w:document>"
    )
    return _zip({"[Content_Types].xml": ct.encode(), "_rels/.rels": rels.encode(),
                 "word/document.xml": body.encode("utf-8")})  # fmt: skip


def xlsx_odd(card: str) -> bytes:
    """A real .xlsx (openpyxl) whose sheet name carries a bidi override and cells odd characters."""
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "pay\u202eroll"
    ws.append(["name", "card", "note"])
    ws.append(["Jane Roe", card, "odd \u2028 line \u0085 sep \ufeff"])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def eml_odd(card: str) -> bytes:
    """A mail whose headers and body carry raw 8-bit bytes that are not UTF-8 and whose attachment's
    file name (RFC 2231) decodes to undecodable bytes."""
    msg = EmailMessage()
    msg["Subject"] = "statement"
    msg["From"] = "alice@example.com"
    msg["To"] = "bob@example.org"
    msg.set_content(f"Please charge card {card} today.\n")
    msg.add_attachment(f"attached card {card}\n".encode(), maintype="text", subtype="plain", filename="x.txt")
    raw = bytes(msg)
    raw = raw.replace(b"Subject: statement", b"Subject: st\xff\xfeat\xed\xa0\x80ement")
    raw = raw.replace(b'filename="x.txt"', b"filename*=utf-8''%ff%ed%a0%80%1b%0a.txt")
    return raw.replace(b"today.", b"today \xff\xfe\xed\xa0\x80.")


def tar_odd(card: str) -> bytes:
    """A tar whose member names are undecodable bytes (tarfile decodes them with surrogateescape)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as tf:  # fmt: skip
        for name in (b"m-\xff\xed\xa0\x80.txt", b"m " + NAME_CARD.encode() + b"\xfe.txt"):
            data = f"member card {card}\n".encode()
            info = tarfile.TarInfo(os.fsdecode(name))
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _rezip(data: bytes, part: str, edit: tuple[bytes, bytes]) -> bytes:
    """``data`` (a zip) with ``edit[0]`` replaced by ``edit[1]`` in the member ``part``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            body = src.read(name)
            dst.writestr(name, body.replace(*edit) if name == part else body)
    return out.getvalue()


#: Files whose XML cannot be parsed: raw bytes that are not UTF-8, a character reference XML 1.0
#: forbids. They must come out as UNSCANNED_CONTENT, never as clean.
UNREADABLE: tuple[bytes, ...] = (b"broken-bytes.docx", b"broken-charref.docx", b"broken-cell.xlsx")


def contents(card: str) -> dict[bytes, bytes]:
    """One file per text-ish format, each holding ``card`` among invalid UTF-8."""
    bad = b"\xff\xfe\xed\xa0\x80\xc0\xaf\x80"
    return {
        b"notes.txt": b"header " + bad + f"\nPlease charge card {card} today.\n".encode() + bad,
        b"clients.csv": b"name,card,note\nJane Roe," + card.encode() + b"," + bad + b"\n",
        b"export.json": b'{"note": "' + bad + b'", "card": "' + card.encode() + b'"}\n',
        b"page.html": b"<html><body><p>" + bad + f"</p><p>card {card}</p></body></html>".encode(),
        b"mail.eml": eml_odd(card),
        b"letter.docx": docx_odd(card),
        b"sheet.xlsx": xlsx_odd(card),
        b"bundle.tar": tar_odd(card),
        # a UTF-16 BOM put before UTF-8 text (read as UTF-16 it is CJK, the card gone), and real
        # UTF-16 holding a lone surrogate code unit
        b"bom-lie.txt": codecs.BOM_UTF16_LE + f"Please charge card {card} today.\n".encode(),
        b"utf16.txt": codecs.BOM_UTF16_LE + f"card {card}\n".encode("utf-16-le") + b"\x00\xd8!\x00",
        UNREADABLE[0]: _rezip(docx_odd(card), "word/document.xml", (b"odd ", b"odd " + bad)),
        UNREADABLE[1]: _rezip(docx_odd(card), "word/document.xml", (b"odd ", b"odd &#x1;&#xD800;")),
        UNREADABLE[2]: _rezip(xlsx_odd(card), "xl/worksheets/sheet1.xml", (b"Jane Roe", b"Jane" + bad)),
    }


def build_share(base: Path) -> Share:
    """Every hostile name, at the top and under every hostile folder, each file holding the body card
    among invalid UTF-8; and every format of odd content under a hostile folder."""
    root = os.path.join(os.fsencode(base), b"share")
    os.mkdir(root)
    share = Share(root)
    body = (
        b"line \xff\xfe" + SURROGATE_BYTES + b" odd\nPlease charge card " + BODY_CARD.encode() + b" today.\n"
    )
    for folder in (b"", *FOLDERS):
        d = os.path.join(root, folder) if folder else root
        os.makedirs(d, exist_ok=True)
        for name in NAMES:
            share.files.append(os.path.join(d, name))
            _write(share.files[-1], body)
    deep = os.path.join(root, b"D" * 255, b"E" * 255, b"F" * 255)
    os.makedirs(deep)
    share.files.append(os.path.join(deep, b"G" * 250 + b".txt"))
    _write(share.files[-1], body)
    formats = os.path.join(root, FOLDERS[0], b"formats-\xed\xb2\x80")
    os.mkdir(formats)
    for name, data in contents(BODY_CARD).items():
        share.files.append(os.path.join(formats, name))
        _write(share.files[-1], data)
    return share


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Share:
    return build_share(tmp_path_factory.mktemp("oddtext"))


def secrets_in_names() -> list[str]:
    """What must never appear in clear in any output: the name's card (plain and grouped) and key."""
    grouped = " ".join(NAME_CARD[i : i + 4] for i in range(0, 16, 4))
    return [NAME_CARD, grouped, NAME_AWS]
