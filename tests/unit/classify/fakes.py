"""Generators of fake, checksum-valid values for classifier tests. Random, never real data."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import string

from agent.classify import Classifier
from agent.classify.validators import IBAN_LENGTHS, base62_crc32
from agent.models import Detection, TextChunk
from tests.helpers import luhn_complete


def card(rng: random.Random, prefix: str = "4", length: int = 16) -> str:
    """A Luhn-valid number with the given issuer prefix and length."""
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    return luhn_complete(body)


def iban(rng: random.Random, country: str = "DE") -> str:
    """A mod-97-valid IBAN of the registry length for ``country`` (numeric BBAN)."""
    n = IBAN_LENGTHS[country]
    bban = "".join(rng.choice(string.digits) for _ in range(n - 4))
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    return f"{country}{check:02d}{bban}"


def grouped(value: str, sep: str = " ") -> str:
    return sep.join(value[i : i + 4] for i in range(0, len(value), 4))


def token(rng: random.Random, n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def github_token(rng: random.Random, prefix: str = "ghp_") -> str:
    """A classic GitHub (or npm) token: 30 random base62 characters and their base62 CRC32."""
    body = token(rng, 30)
    return prefix + body + base62_crc32(body)


def aws_key_id(rng: random.Random) -> str:
    return "AKIA" + token(rng, 16, string.ascii_uppercase + "234567")


def aws_secret(rng: random.Random) -> str:
    while True:
        v = token(rng, 40, string.ascii_letters + string.digits + "+/")
        if any(c.isdigit() for c in v) and any(c.islower() for c in v) and any(c.isupper() for c in v):
            return v


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: random.Random, alg: str = "HS256", signed: bool = True) -> str:
    header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": token(rng, 8), "iat": rng.randrange(10**9, 2 * 10**9)}).encode())
    sig = b64url(hmac.new(token(rng, 16).encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest())
    return f"{header}.{payload}.{sig if signed else ''}"


def pem_body(rng: random.Random, lines: int = 6) -> str:
    """Random base64 lines shaped like a key body (random bytes, not a key)."""
    return "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(lines))


def private_key(rng: random.Random, kind: str = "RSA ", lines: int = 6) -> str:
    return f"-----BEGIN {kind}PRIVATE KEY-----\n{pem_body(rng, lines)}\n-----END {kind}PRIVATE KEY-----"


def detect(classifier: Classifier, text: str, entity: str | None = None, **chunk: object) -> list[Detection]:
    """Detections in ``text`` (of one entity when given)."""
    found = classifier.detect(TextChunk(path="/srv/share/doc.txt", member=None, text=text, **chunk))  # type: ignore[arg-type]
    return [d for d in found if entity is None or d.entity == entity]


def best(classifier: Classifier, text: str, entity: str) -> float:
    """Highest score of ``entity`` in ``text`` (0.0 when absent)."""
    return max((d.score for d in detect(classifier, text, entity)), default=0.0)
