"""The log scrubber: matched-looking values never reach the output, ordinary text is left alone."""

from __future__ import annotations

import io
import json
import logging
import random
import secrets
import string
import subprocess
import sys
import warnings

import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from agent.checksums import IBAN_LENGTHS, iban_valid
from agent.log import configure_logging, reset_logging, scrub_secrets, scrub_text
from tests.helpers import fake_card

RNG = random.Random(20261127)


def fake_iban(country: str = "DE", bban_len: int = 18) -> str:
    """A random IBAN with valid check digits (not a real account)."""
    bban = "".join(RNG.choice(string.digits) for _ in range(bban_len))
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    iban = f"{country}{check:02d}{bban}"
    assert iban_valid(iban)
    return iban


def fake_pem() -> str:
    key = generate_private_key(SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def fake_tokens() -> list[str]:
    alnum = string.ascii_letters + string.digits
    rnd = lambda n: "".join(RNG.choice(alnum) for _ in range(n))  # noqa: E731
    return [
        "AKIA" + "".join(RNG.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
        "ghp_" + rnd(36),
        "glpat-" + rnd(20),
        "xoxb-" + "-".join([rnd(11), rnd(12), rnd(24)]),
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwicm9sZSI6ImFkbWluIn0." + rnd(43),
        secrets.token_urlsafe(32),
    ]


def _positives() -> list[str]:
    card, gb = fake_card(RNG), fake_iban("GB", 18)
    return [
        card,
        f"{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}",
        "-".join([card[:4], card[4:8], card[8:12], card[12:]]),
        fake_card(RNG, "37", 15),
        fake_iban(),
        " ".join(gb[i : i + 4] for i in range(0, len(gb), 4)),
        fake_pem(),
        *fake_tokens(),
    ]


NEGATIVES = [
    "file_classified",
    "scanned 1234 files in 12.5 s",
    "/srv/drop/Contractor1/Report2024Final.docx",
    "policy file=/etc/dropwarden/policies/PCI-DSS-2024.yaml rules=12",
    "hmac-sha256:0f3a9c2b7d10e4f5a6b7c8d9e0f1a2b3",
    "sha256:" + "ab" * 32,
    "20261127T155012Z-3f9a1c2b7d10",
    "d302c0db-0568-42ce-ad5b-0bd679ffac33",
    "2026-11-27T15:50:12.123456Z",
    "ConnectionResetError while reading",
    "Invoice 4111111111111112 is not Luhn-valid",
]


@pytest.mark.parametrize("value", _positives())
def test_positive_values_are_masked(value: str) -> None:
    """Each kind of secret-looking value is replaced, inside a sentence, by a masked form."""
    out = scrub_text(f"value was {value} here")
    assert value not in out
    assert out.startswith("value was ") and "*" in out


@pytest.mark.parametrize("text", NEGATIVES)
def test_ordinary_text_is_left_alone(text: str) -> None:
    """Paths, hashes, ids, timestamps and non-Luhn numbers pass through unchanged."""
    assert scrub_text(text) == text


def test_card_inside_longer_digit_groups_is_found() -> None:
    """A card followed by another digit group is still masked (the valid sub-range is found)."""
    card = fake_card(RNG)
    grouped = f"{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}"
    out = scrub_text(f"pan {grouped} 12 exp")
    assert grouped not in out and out.endswith(" 12 exp")


def test_processor_scrubs_nested_fields_not_keys() -> None:
    """The structlog processor walks dicts, lists and tuples and leaves non-strings alone."""
    card, iban = fake_card(RNG), fake_iban()
    ed = {"event": f"saw {card}", "fields": {"list": [iban, 3], "t": (card,)}, "size": 4111111111111111}
    out = scrub_secrets(None, "info", ed)
    dumped = json.dumps(out)
    assert card not in dumped and iban not in dumped
    assert out["size"] == 4111111111111111


@pytest.fixture
def captured():
    buf = io.StringIO()
    configure_logging(json=True, level="debug", stream=buf)
    yield buf
    reset_logging()


def test_json_output_never_holds_raw_values(captured) -> None:
    """Values logged via structlog, stdlib logging, exceptions and warnings never appear in the output."""
    values = _positives()
    log = structlog.get_logger("dropwarden.test")
    log.info("value_logged", value=values[0], nested={"xs": values[1:4]})
    logging.getLogger("presidio-analyzer").warning("recognizer saw %s and %s", values[4], values[5])
    try:
        raise ValueError(f"cannot parse {values[6]}")
    except ValueError:
        log.exception("extract_failed", path="/srv/drop/a.txt")
    try:
        raise RuntimeError(f"token {values[7]}")
    except RuntimeError:
        logging.getLogger("watchdog").exception("observer crashed")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"pypdf: odd object {values[8]}", UserWarning, stacklevel=1)
    log.debug("tokens_seen", tokens=values[9:])
    out = captured.getvalue()
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 6
    for v in values:
        assert v not in out
        for piece in v.splitlines():
            if len(piece) > 20:
                assert piece not in out
    first = lines[0]
    assert (
        first["event"] == "value_logged" and first["level"] == "info" and first["logger"] == "dropwarden.test"
    )
    assert first["timestamp"].endswith("Z")
    assert "Traceback" in lines[2]["exception"] and lines[2]["path"] == "/srv/drop/a.txt"
    assert lines[1]["logger"] == "presidio-analyzer"


def test_console_renderer_is_scrubbed_too() -> None:
    """The console (TTY) format goes through the same scrubber."""
    buf = io.StringIO()
    card = fake_card(RNG)
    configure_logging(json=False, stream=buf)
    try:
        structlog.get_logger("t").info("card_seen", card=card)
        structlog.get_logger("t").debug("hidden_below_level")
    finally:
        reset_logging()
    out = buf.getvalue()
    assert "card_seen" in out and card not in out and "hidden_below_level" not in out


def test_scrubber_is_fast_and_never_backtracks() -> None:
    """A typical event string scrubs in well under a millisecond, and hostile 100 kB inputs stay bounded."""
    import time

    text = (
        "file_classified path=/srv/drop/contractor/q3/report-final.docx zone=drop rules=3 " * 2
        + fake_card(RNG)
    )
    start = time.perf_counter()
    for _ in range(1000):
        scrub_text(text)
    per_call = (time.perf_counter() - start) / 1000
    assert per_call < 1e-3, per_call
    hostile = [
        "1 " * 50_000,
        "A1b2" * 25_000,
        "-----BEGIN PRIVATE KEY-----" + "x" * 100_000,
        "DE00 " * 20_000,
    ]
    start = time.perf_counter()
    for h in hostile:
        scrub_text(h)
    assert time.perf_counter() - start < 5.0


@pytest.mark.parametrize("country", sorted(IBAN_LENGTHS))
def test_the_scrubber_masks_an_iban_of_every_registry_country(country: str) -> None:
    """Log and recognizer share one IBAN check (agent.checksums): every country the detector knows
    is masked in logs, spaced in groups of four or not."""
    iban = fake_iban(country, IBAN_LENGTHS[country] - 4)
    spaced = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
    for shown in (iban, spaced):
        out = scrub_text(f"moved to {shown} today")
        assert shown not in out and out.startswith(f"moved to {iban[:4]}") and out.endswith(" today")


def test_the_log_imports_no_stage() -> None:
    """agent.log is shared infrastructure (the audit chain, hence quarantine, use it): importing it
    loads no stage module, so no stage depends on another through it."""
    code = (
        "import json, sys, agent.log; print(json.dumps([m for m in sys.modules if m.startswith('agent.')]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert not any(
        m.split(".")[1] in {"classify", "extract", "policy", "sources", "actions"} for m in json.loads(out)
    )
