"""Fake keystores for the credential benchmark and the KEYSTORE tests: random keys, fake names.

PKCS#12 through ``cryptography`` (RFC 7292, as OpenSSL writes it); JKS/JCEKS and keytabs byte by byte
from the documented layouts (the JDK's JavaKeyStore, MIT krb5's keytab file format), so nothing needs
a JDK or krb5 (tests/unit/classify/keystores.py checks the layouts against keytool/ktutil builds).
"""

from __future__ import annotations

import datetime
import hashlib
import random
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, NoEncryption, pkcs12
from cryptography.x509.oid import NameOID


def _utf(s: str) -> bytes:
    raw = s.encode()
    return struct.pack(">H", len(raw)) + raw


def _cert(key: ec.EllipticCurvePrivateKey, name: str = "fake.example.org") -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )


def pkcs12_bytes(password: bytes | None = b"fake-pass", with_key: bool = True) -> bytes:
    """A PFX with a fresh EC key and its self-signed certificate (or certificates only)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _cert(key)
    enc = BestAvailableEncryption(password) if password else NoEncryption()
    if with_key:
        return pkcs12.serialize_key_and_certificates(b"fake", key, cert, None, enc)
    cas = [pkcs12.PKCS12Certificate(cert, b"ca")]
    return pkcs12.serialize_key_and_certificates(None, None, None, cas, enc)


def jks_bytes(rng: random.Random, tags: tuple[int, ...] = (1,), magic: int = 0xFEEDFEED) -> bytes:
    """A JKS (or, with magic 0xCECECECE, JCEKS) keystore, version 2: one entry per tag
    (1 private key with a one-certificate chain, 2 trusted certificate, 3 secret key), then the
    SHA-1 integrity digest. Key and certificate bytes are random: only the layout is real."""
    out = struct.pack(">III", magic, 2, len(tags))
    for i, tag in enumerate(tags):
        out += struct.pack(">I", tag) + _utf(f"alias{i}") + struct.pack(">Q", 1_767_225_600_000)
        if tag == 1:
            key = rng.randbytes(rng.randrange(300, 600))
            out += struct.pack(">I", len(key)) + key + struct.pack(">I", 1)
        if tag in (1, 2):
            cert = rng.randbytes(rng.randrange(200, 400))
            out += _utf("X.509") + struct.pack(">I", len(cert)) + cert
        if tag == 3:  # a serialised javax.crypto.SealedObject: stream magic, then the object
            out += b"\xac\xed\x00\x05sr\x00\x19javax.crypto.SealedObject" + rng.randbytes(120)
    return out + hashlib.sha1(out, usedforsecurity=False).digest()


def keytab_bytes(
    rng: random.Random, principal: str = "svc/host.example.org", realm: str = "EXAMPLE.ORG"
) -> bytes:
    """A version 0x0502 keytab with one AES-256 entry (random key) for ``principal@realm``."""
    parts = principal.split("/")
    entry = struct.pack(">H", len(parts)) + _utf(realm) + b"".join(_utf(p) for p in parts)
    entry += (
        struct.pack(">IIBH", 1, 1_767_225_600, 1, 18) + _utf_bytes(rng.randbytes(32)) + struct.pack(">I", 1)
    )
    return b"\x05\x02" + struct.pack(">i", len(entry)) + entry


def _utf_bytes(raw: bytes) -> bytes:
    return struct.pack(">H", len(raw)) + raw
