"""EML (stdlib email, policy.default) and Outlook MSG (extract-msg): headers, bodies, attachments.

Bodies are decoded (base64, quoted-printable, declared charset, with replacement when the charset
lies); HTML is reduced to its text. Attachments go back to the dispatcher as members named after
their file name, so a DOCX attached to a mail is read like any other DOCX.
"""

from __future__ import annotations

import email
import tempfile
from collections.abc import Iterator
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import IO, Any

from agent.extract.archive import depth_error, join_member
from agent.extract.context import Context, Item, Recurse
from agent.models import ExtractError

_HEADERS = ("Subject", "From", "To", "Cc", "Bcc", "Reply-To")
_SKIP_TAGS = {"script", "style", "head"}
_MIME_HEADERS = {"content-type", "content-disposition", "content-transfer-encoding"}
_MAX_MIME_HEADER = 64 * 1024  # no real MIME structure header comes near: beyond it, it is not parsed
_HEADER_PIECE = 64 * 1024  # content header values are decoded in pieces of about this many characters
_BLOCK_TAGS = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "td", "th"}


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.out.append("\n" if tag not in ("td", "th") else "\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(html: str) -> str:
    """Visible text of an HTML body (tags, scripts and styles dropped, entities decoded)."""
    p = _TextOnly()
    p.feed(html)
    p.close()
    return "".join(p.out)


def _decode_text_part(part: EmailMessage) -> str:
    try:
        content = part.get_content()
        if isinstance(content, str):
            return content
    except Exception:  # noqa: S110 - unknown charset, broken transfer encoding: fall back below
        pass
    raw = part.get_payload(decode=True) or b""
    if not isinstance(raw, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return raw.decode(charset, "replace")
    except LookupError:
        return raw.decode("utf-8", "replace")


def _header_values(msg: Any) -> dict[str, str]:
    """The raw value of each content header (its first occurrence), by canonical name."""
    wanted = {h.lower(): h for h in _HEADERS}
    found: dict[str, str] = {}
    for name, raw in msg.raw_items():
        key = wanted.get(name.lower())
        if key is not None and key not in found:
            found[key] = str(raw)
    return found


def _decoded(raw: str) -> Iterator[str]:
    """A header value, RFC 2047 words decoded and white space folded, in pieces cut at white space (an
    encoded word holds none): a 50 MB header is decoded a piece at a time, never copied whole into the
    decoder's lists (that took 940 MB of RSS for a 53 MB mail)."""
    start = 0
    while start < len(raw):
        end = start + _HEADER_PIECE
        if end < len(raw):
            end = max(raw.rfind(c, start, end) for c in " \t\n") + 1 or end
        piece = raw[start:end]
        start = end
        try:
            value = str(make_header(decode_header(piece)))
        except Exception:  # an undecodable encoded word: keep the raw value
            value = piece
        if folded := " ".join(value.split()):
            yield folded


def _headers_text(msg: Any) -> str:
    """The content headers, RFC 2047 words decoded. From the raw values: policy.default's structured
    address parsing was 60 % of an mbox's extraction time, and the classifier needs only the text."""
    found = {h: " ".join(_decoded(raw)) for h, raw in _header_values(msg).items()}
    lines = [f"{h}: {found[h]}" for h in _HEADERS if found.get(h)]
    return "\n".join(lines)


def content_headers(msg: Any) -> str:
    """The content headers of a parsed header block (a PST item's Internet headers), no transport noise."""
    return _headers_text(msg)


def _header_chunks(ctx: Context, member: str | None, msg: Any) -> Iterator[Item]:
    """:func:`_headers_text` as chunks, fed a piece at a time (same text, bounded memory)."""
    found = _header_values(msg)
    ch = ctx.chunker(member, "metadata")
    sep = ""
    for h in _HEADERS:
        pieces = _decoded(found.get(h, ""))
        first = next(pieces, None)
        if first is None:
            continue
        yield from ch.feed(f"{sep}{h}: {first}")
        for piece in pieces:
            yield from ch.feed(f" {piece}")
        sep = "\n"
    yield from ch.close()


def _oversized_mime_header(part: Any) -> str | None:
    """The name of a MIME structure header too long to parse. The stdlib's structured header parser is
    super-linear: a 56 MB Content-Disposition of RFC 2231 parameters kept it busy for minutes."""
    for name, raw in part.raw_items():
        if name.lower() in _MIME_HEADERS and len(raw) > _MAX_MIME_HEADER:
            return str(name)
    return None


def _parts(
    ctx: Context, msg: Any, member: str | None, depth: int
) -> Iterator[tuple[EmailMessage, int] | ExtractError]:
    """The leaf parts of a mail with the archive depth they lie at, like ``msg.walk()`` but bounded: an
    attached message (message/rfc822) is one nesting level, and past ``max_depth`` it is reported
    limit_depth, not read; a part whose MIME headers are too long to parse is reported malformed."""
    stack: list[tuple[Any, int]] = [(msg, depth)]
    nested = 0
    while stack:
        part, level = stack.pop()
        ctx.check()
        if (bad := _oversized_mime_header(part)) is not None:
            yield ctx.error(
                member, "malformed", f"{bad} header longer than {_MAX_MIME_HEADER} bytes: part not read"
            )
            continue
        children = part.get_payload() if part.is_multipart() else None
        if children is None:
            yield part, level
            continue
        if part.get_content_maintype() == "message":
            nested += 1
            level += 1
            name = join_member(member, part.get_filename() or f"attached-message-{nested}")
            if isinstance(err := depth_error(ctx, name, level), ExtractError):
                yield err
                continue
        stack.extend((c, level) for c in reversed(children))


def spooled(data: bytes, ctx: Context, name: str, depth: int, recurse: Recurse) -> Iterator[Item]:
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
        spool.write(data)
        spool.seek(0)
        yield from recurse(spool, name, depth + 1)


def extract_eml(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    msg = email.message_from_binary_file(f, policy=policy.default)
    yield from _header_chunks(ctx, member, msg)
    n_att = 0
    for found in _parts(ctx, msg, member, depth):
        if isinstance(found, ExtractError):
            yield found
            continue
        part, level = found
        ctype = part.get_content_type()
        filename = part.get_filename()
        is_att = part.get_content_disposition() == "attachment" or (
            filename and not ctype.startswith("text/")
        )
        if is_att or not ctype.startswith("text/"):
            if not filename and not is_att and not ctype.startswith("image/"):
                continue  # a non-text body part without a name; inline images (pasted scans) are read
            n_att += 1
            if n_att > ctx.limits.max_members:
                yield ctx.error(member, "limit_members", f"more than {ctx.limits.max_members} attachments")
                return
            name = join_member(member, filename or f"attachment-{n_att}")
            if (err := depth_error(ctx, name, level + 1)) is not None:
                yield err
                continue
            data = part.get_payload(decode=True)
            if isinstance(data, bytes) and data:
                yield from spooled(data, ctx, name, level, recurse)
            continue
        text = _decode_text_part(part)
        if ctype == "text/html":
            text = html_to_text(text)
        yield from ctx.chunk_text(member, text, "body")
    for d in msg.defects[:1]:
        yield ctx.error(member, "malformed", f"mail defect: {type(d).__name__}")


def extract_msg(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    import extract_msg as em

    msg = em.openMsg(f.read(), delayAttachments=False)
    try:
        head = [f"{k}: {v}" for k, v in (("Subject", msg.subject), ("From", msg.sender), ("To", msg.to)) if v]
        yield from ctx.chunk_text(member, "\n".join(head), "metadata")
        body = msg.body or ""
        if not body and getattr(msg, "htmlBody", None):
            body = html_to_text(msg.htmlBody.decode("utf-8", "replace"))
        yield from ctx.chunk_text(member, body, "body")
        attachments = list(getattr(msg, "attachments", []))
        if len(attachments) > ctx.limits.max_members:
            yield ctx.error(member, "limit_members", f"more than {ctx.limits.max_members} attachments")
        for i, att in enumerate(attachments[: ctx.limits.max_members], start=1):
            ctx.check()
            name = join_member(member, att.longFilename or att.shortFilename or f"attachment-{i}")
            if (err := depth_error(ctx, name, depth + 1)) is not None:
                yield err
                continue
            data = _msg_attachment_bytes(att)
            if isinstance(data, bytes) and data:
                yield from spooled(data, ctx, name, depth, recurse)
            elif data is None:
                yield ctx.error(name, "unsupported_format", f"{type(att).__name__}: attachment not read")
    finally:
        msg.close()


def _msg_attachment_bytes(att: Any) -> bytes | None:
    """An Outlook attachment's bytes; an attached Outlook message (extract-msg gives it as a parsed
    message, not bytes) exported back to MSG bytes, so it is read like any other MSG, one nesting level
    down. None: a kind of attachment nothing reads (reported, never skipped silently)."""
    data = att.data
    export = getattr(data, "exportBytes", None)
    if export is not None:
        return bytes(export())
    return data if isinstance(data, bytes) else None


def _spool() -> IO[bytes]:
    return tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)


def extract_mbox(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """An mbox mailbox (mboxo/mboxrd/mboxcl): every message, as member ``message-N``, read as EML.

    A message starts at a ``From `` line at the top of the file or after an empty line; one
    message larger than the member limit is reported and skipped, the others are still read.
    """
    lim = ctx.limits
    count, size, blank = 0, 0, True
    spool: IO[bytes] | None = None
    try:
        for line in iter(lambda: f.readline(1024 * 1024), b""):
            if blank and line.startswith(b"From "):
                if spool is not None:
                    yield from _mbox_message(spool, ctx, member, count, depth, recurse)
                count += 1
                if count > lim.max_members:
                    yield ctx.error(member, "limit_members", f"more than {lim.max_members} messages")
                    return
                spool, size = _spool(), 0
            elif spool is not None and size <= lim.max_member_bytes:
                size += len(line)
                spool.write(line[1:] if line.startswith(b">From ") else line)
            blank = line in (b"\n", b"\r\n")
        if spool is not None:
            yield from _mbox_message(spool, ctx, member, count, depth, recurse)
    finally:
        if spool is not None:
            spool.close()


def _mbox_message(
    spool: IO[bytes], ctx: Context, member: str | None, n: int, depth: int, recurse: Recurse
) -> Iterator[Item]:
    name = join_member(member, f"message-{n}")
    with spool:
        ctx.check()
        if spool.tell() > ctx.limits.max_member_bytes:
            yield ctx.error(name, "limit_bytes", f"message larger than {ctx.limits.max_member_bytes} bytes")
            return
        if (err := depth_error(ctx, name, depth + 1)) is not None:
            yield err
            return
        spool.seek(0)
        ctx.formats[name] = "eml"
        yield from extract_eml(spool, ctx, name, depth + 1, recurse)


def extract_emlx(
    f: IO[bytes], ctx: Context, member: str | None, depth: int, recurse: Recurse
) -> Iterator[Item]:
    """Apple Mail .emlx: a byte count line, the RFC 822 message, then a property list (skipped)."""
    count = int(f.readline(32).strip() or b"0")
    with _spool() as spool:
        spool.write(f.read(min(count, ctx.limits.max_member_bytes)))
        spool.seek(0)
        yield from extract_eml(spool, ctx, member, depth, recurse)
