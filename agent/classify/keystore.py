"""KEYSTORE: what a binary keystore holds, judged from its structure (never from a password).

Extract hands a keystore over as a marker chunk (part ``keystore:<kind>``, the bytes as latin-1; see
``extract/sniff.py``); the KEYSTORE recognizer finds the same formats base64-encoded in text (a
Kubernetes Secret's ``keystore.p12:``, a ``.env`` line). Both come here.

``contents`` is the attribute rules select on:

- ``private-key``: a PKCS#12 key bag (plain or shrouded) or a JKS/JCEKS private-key entry;
- ``secret-key``: a JCEKS secret-key entry, a PKCS#12 secret bag, a Kerberos keytab entry;
- ``encrypted``: a PKCS#12 whose safes are encrypted as a whole: it may hold anything, and the password
  on such files is often weak or stored beside them, so it counts as a keystore with a key;
- ``certificates``: certificates only (a truststore, public material);
- ``unknown``: the header is right but the entries do not parse (truncated, damaged).

Formats: RFC 7292 (PKCS#12), the JDK's ``JavaKeyStore``/``JceKeyStore`` layout, the MIT krb5 keytab
file format.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from agent.models import KEYSTORE_PART, Detection, TextChunk

if TYPE_CHECKING:
    from asn1crypto import pkcs12

ENTITY = "KEYSTORE"
RECOGNIZER = "keystore"
#: Bags and entries that hold a key, strongest first.
_ORDER = ("private-key", "secret-key", "encrypted", "unknown", "certificates")
_PKCS12_BAGS = {
    "key_bag": "private-key",
    "pkcs8_shrouded_key_bag": "private-key",
    "secret_bag": "secret-key",
    "cert_bag": "certificates",
    "crl_bag": "certificates",
}
_JKS_TAGS = {1: "private-key", 2: "certificates", 3: "secret-key"}
_MAX_ENTRIES = 10_000


class _Truncated(Exception):
    """The bytes end (or lie) before the structure does."""


def strongest(found: set[str]) -> str:
    """The most sensitive of the contents seen (``unknown`` when nothing was seen)."""
    return next((c for c in _ORDER if c in found), "unknown")


def pkcs12_contents(data: bytes) -> str:
    """Bag types of a PFX; safes encrypted as a whole (EncryptedData, EnvelopedData) give ``encrypted``.

    asn1crypto is imported here, at the first PFX: a scan that meets none starts ~15 ms sooner."""
    from asn1crypto import pkcs12

    try:
        safes = pkcs12.Pfx.load(data).authenticated_safe
        found: set[str] = set()
        for info in safes:
            ctype = info["content_type"].native
            if ctype != "data":
                found.add("encrypted")
                continue
            found.update(_safe_bags(pkcs12.SafeContents.load(info["content"].native)))
        return strongest(found)
    except Exception:  # asn1crypto parses lazily: any damage surfaces as one of many exception types
        return "unknown"


def _safe_bags(safe: pkcs12.SafeContents, depth: int = 0) -> set[str]:
    found: set[str] = set()
    for bag in safe:
        bag_id = bag["bag_id"].native
        if bag_id == "safe_contents" and depth < 4:
            found.update(_safe_bags(bag["bag_value"], depth + 1))
        else:
            found.add(_PKCS12_BAGS.get(bag_id, "unknown"))
    return found


class _Reader:
    """Big-endian reads that raise :class:`_Truncated` instead of running off the end."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data, self.pos = data, pos

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise _Truncated
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u16(self) -> int:
        return int(struct.unpack(">H", self.take(2))[0])

    def i32(self) -> int:
        return int(struct.unpack(">i", self.take(4))[0])

    def counted(self, width: int = 2) -> bytes:
        return self.take(self.u16() if width == 2 else self.i32())


def jks_contents(data: bytes) -> str:
    """Entry tags of a JKS or JCEKS keystore: 1 private key, 2 trusted certificate, 3 secret key.

    A secret-key entry is a serialised Java object with no length in front: the walk stops there,
    having seen what it needs.
    """
    r = _Reader(data, 4)
    try:
        version, count = r.i32(), r.i32()
        found: set[str] = set()
        for _ in range(min(count, _MAX_ENTRIES)):
            tag = r.i32()
            if tag not in _JKS_TAGS:
                return strongest(found | {"unknown"})
            found.add(_JKS_TAGS[tag])
            if tag == 3:
                break
            r.counted()  # alias
            r.take(8)  # creation date
            _skip_jks_entry(r, tag, version)
        return strongest(found) if found else "unknown"
    except _Truncated:
        return strongest(found | {"unknown"})


def _skip_jks_entry(r: _Reader, tag: int, version: int) -> None:
    certs = 1
    if tag == 1:
        r.counted(4)  # the encrypted PKCS#8 key
        certs = r.i32()
    for _ in range(min(certs, _MAX_ENTRIES)):
        if version == 2:
            r.counted()  # certificate type, "X.509"
        r.counted(4)


def keytab_contents(data: bytes) -> str:
    """A keytab is keys only: ``secret-key`` once one well-formed entry with key bytes is read."""
    r = _Reader(data, 2)
    try:
        while r.pos < len(r.data):
            size = r.i32()
            if size <= 0:  # a hole left by a removed entry
                r.take(-size)
                continue
            entry = _Reader(r.take(size))
            components = entry.u16()
            entry.counted()  # realm
            for _ in range(components):
                entry.counted()
            entry.take(4 + 4 + 1)  # name type, timestamp, key version
            entry.u16()  # key type
            if entry.counted():
                return "secret-key"
    except _Truncated:
        pass
    return "unknown"


CONTENTS: dict[str, Callable[[bytes], str]] = {
    "pkcs12": pkcs12_contents,
    "jks": jks_contents,
    "jceks": jks_contents,
    "keytab": keytab_contents,
}


def fingerprint_value(kind: str, data: bytes) -> str:
    """The value a finding is fingerprinted by: the kind and a digest of the bytes, never the bytes."""
    return f"{kind}:{hashlib.blake2b(data, digest_size=16).hexdigest()}"


def detect_marker(chunk: TextChunk) -> list[Detection]:
    """The KEYSTORE detection of a marker chunk (part ``keystore:<kind>``)."""
    kind = chunk.part.removeprefix(KEYSTORE_PART)
    parse = CONTENTS.get(kind)
    if parse is None:
        return []
    data = chunk.text.encode("latin-1")
    value = fingerprint_value(kind, data)
    return [
        Detection(
            entity=ENTITY,
            start=chunk.offset,
            end=chunk.offset + len(chunk.text),
            score=0.95,
            recognizer=RECOGNIZER,
            path=chunk.path,
            member=chunk.member,
            line=1,
            part=chunk.part,
            value=value,
            attributes=(("format", kind), ("contents", parse(data))),
        )
    ]
