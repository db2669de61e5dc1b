"""Checksums and self-describing structure of vendor tokens, as each vendor's own code defines them.

- GitLab routable tokens (``glpat-<base64url>.01.<len><crc>``): GitLab's
  ``Authn::TokenField::Generator::RoutableToken``: the base64url payload (16 random bytes, the
  ``k:v`` routing lines, one byte holding their length), ``.`` + version 1 in two base-36 digits, ``.``
  + the payload's length in two base-36 digits, then ``Zlib.crc32`` of everything before (prefix
  included, with the ``t1_`` type marker runner tokens carry) in seven base-36 digits.
- Grafana service-account tokens (``glsa_<32 alnum>_<8 hex>``): Grafana's ``satokengen``: the hex of
  the little-endian CRC32 (IEEE) of ``glsa_<secret>``.
- PyPI API tokens (``pypi-<base64url>``): a macaroon in libmacaroons' V2 binary format whose location
  is ``pypi.org`` or ``test.pypi.org``, with an identifier and a 32-byte signature (Warehouse's
  ``macaroons`` service).

Each function takes the whole matched token and answers whether it is well-formed: a made-up token
of the right shape fails, so it scores below every rule.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

_ROUTABLE = re.compile(
    r"(?P<head>[a-z]{2,8}-(?P<payload>[A-Za-z0-9_-]{27,300})\.01\.(?P<len>[0-9a-z]{2}))(?P<crc>[0-9a-z]{7})"
)
_PYPI_LOCATIONS = (b"pypi.org", b"test.pypi.org")
_B36 = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(n: int, width: int) -> str:
    """``n`` in base 36 (Ruby's ``to_s(36)``), left-padded with zeros to ``width``."""
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return out.rjust(width, "0")


#: A type marker some token kinds put between the prefix and the payload (runner tokens: ``glrt-t1_``).
_SUB_PREFIX = re.compile(r"[a-z]\d{1,2}_")


def gitlab_routable_valid(value: str) -> bool:
    """A GitLab routable token whose declared payload length and CRC32 both hold."""
    m = _ROUTABLE.fullmatch(value)
    if m is None:
        return False
    payload = m["payload"]
    sub = _SUB_PREFIX.match(payload)
    lengths = {len(payload), len(payload) - sub.end()} if sub else {len(payload)}
    if m["len"] not in {base36(n, 2) for n in lengths}:
        return False
    return base36(zlib.crc32(m["head"].encode()), 7) == m["crc"]


def grafana_checksum(key: str) -> str:
    """Grafana's checksum of ``glsa_<secret>``: CRC32 (IEEE), its 4 bytes little-endian, in hex."""
    return zlib.crc32(key.encode()).to_bytes(4, "little").hex()


def grafana_sa_valid(value: str) -> bool:
    """``glsa_<secret>_<checksum>`` with the checksum of the part before it."""
    key, sep, checksum = value.rpartition("_")
    return bool(sep) and len(checksum) == 8 and grafana_checksum(key) == checksum


def _uvarint(data: bytes, pos: int) -> tuple[int, int]:
    n = shift = 0
    while True:
        if pos >= len(data) or shift > 28:
            raise ValueError("varint runs past the end")
        b = data[pos]
        n |= (b & 0x7F) << shift
        pos += 1
        if not b & 0x80:
            return n, pos
        shift += 7


def macaroon_fields(data: bytes) -> list[tuple[int, bytes]]:
    """The (type, data) fields of a V2 binary macaroon after its version byte; EOS is type 0, no data."""
    if data[:1] != b"\x02":
        raise ValueError("not a V2 macaroon")
    fields, pos = [], 1
    while pos < len(data):
        kind, pos = _uvarint(data, pos)
        if kind == 0:
            fields.append((0, b""))
            continue
        size, pos = _uvarint(data, pos)
        if pos + size > len(data):
            raise ValueError("field runs past the end")
        fields.append((kind, data[pos : pos + size]))
        pos += size
    return fields


def pypi_macaroon_valid(value: str) -> bool:
    """``pypi-`` + base64url of a V2 macaroon: PyPI's location, an identifier, a 32-byte signature last."""
    body = value.removeprefix("pypi-")
    try:
        fields = macaroon_fields(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, binascii.Error):
        return False
    if len(fields) < 4 or fields[0] != (1, fields[0][1]) or fields[0][1] not in _PYPI_LOCATIONS:
        return False
    identifier, signature = fields[1], fields[-1]
    return identifier[0] == 2 and bool(identifier[1]) and signature[0] == 6 and len(signature[1]) == 32
