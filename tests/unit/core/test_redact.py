"""Redaction: excerpts never carry the value, fingerprints correlate only with the key."""

from __future__ import annotations

import hashlib
import hmac
import os
import pickle
import stat

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.redact import Redactor, load_or_create_key, mask, normalise_value

CARD = "4539 1488 0343 6467"  # generated: Luhn-valid, random body


def test_mask_keeps_shape_but_not_the_middle_of_a_card() -> None:
    """A card keeps its first and last four digits and its grouping, nothing else."""
    assert mask(CARD, "CREDIT_CARD") == "4539 **** **** 6467"


def test_mask_of_secret_keeps_at_most_a_short_prefix() -> None:
    """A token is masked almost entirely: a leaked prefix cannot be used."""
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    masked = mask(token, "GITHUB_TOKEN")
    assert masked.startswith("ghp_")
    assert token[8:] not in masked


@given(st.text(alphabet="0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=8, max_size=40))
def test_mask_never_contains_the_value(value: str) -> None:
    """For any value of 8+ characters, the masked form never contains it."""
    assert value not in mask(value, "IBAN_CODE")


def test_fingerprint_is_keyed_and_stable_across_presentation() -> None:
    """Same key + same value (any grouping) gives one fingerprint; another key gives another."""
    a = Redactor(b"k" * 32)
    b = Redactor(b"j" * 32)
    assert a.fingerprint("CREDIT_CARD", CARD) == a.fingerprint("CREDIT_CARD", CARD.replace(" ", "-"))
    assert a.fingerprint("CREDIT_CARD", CARD) != b.fingerprint("CREDIT_CARD", CARD)
    plain = hashlib.sha256(CARD.replace(" ", "").encode()).hexdigest()
    assert plain[:32] not in a.fingerprint("CREDIT_CARD", CARD)
    # the published form (journals and past reports compare it): HMAC-SHA256 of "ENTITY\0VALUE"
    mac = hmac.new(b"k" * 32, b"CREDIT_CARD\x00" + CARD.replace(" ", "").encode(), hashlib.sha256)
    assert a.fingerprint("CREDIT_CARD", CARD) == "hmac-sha256:" + mac.hexdigest()[:32]


@settings(max_examples=200, deadline=None)
@given(key=st.binary(min_size=16, max_size=200), value=st.text(max_size=80))
def test_fingerprint_is_the_standard_hmac_for_any_key_length(key: bytes, value: str) -> None:
    """The precomputed key states give hmac's HMAC-SHA256 for keys shorter and longer than a block
    (64 bytes), also after the redactor went through pickle (the cached states do not travel)."""
    r = Redactor(key)
    message = f"PHONE_NUMBER\x00{normalise_value(value)}"
    expected = "hmac-sha256:" + hmac.digest(key, message.encode(), "sha256").hex()[:32]
    assert r.fingerprint("PHONE_NUMBER", value) == expected
    assert r.fingerprint_of(message) == expected
    again = pickle.loads(pickle.dumps(r))  # noqa: S301 - our own object, pickled just above
    assert again == r and again.fingerprint("PHONE_NUMBER", value) == expected


def test_excerpt_scrubs_digits_around_the_value() -> None:
    """Context around a value is kept as words, but neighbouring numbers are masked too."""
    context = f"IBAN CH93 0076 2011 6238 5295 7 card {CARD} expiry 09/29"
    start = context.index(CARD)
    excerpt = Redactor(b"k" * 32).excerpt(CARD, "CREDIT_CARD", context, start)
    assert "card" in excerpt
    assert "6238" not in excerpt and "09/29" not in excerpt
    assert CARD not in excerpt


def test_key_file_created_private(tmp_path) -> None:
    """A missing key file is created with mode 0600 and reused afterwards."""
    path = tmp_path / "state" / "fp.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_or_create_key(path) == key


def test_excerpt_blanks_other_values_in_the_context() -> None:
    """A neighbouring detected value (a BIC next to an account number) never shows in an excerpt."""
    context = "Account 0012345678 at bank BIC DEUTDEFFXXX for the client"
    value = "0012345678"
    start = context.index(value)
    bic = context.index("DEUTDEFFXXX")
    excerpt = Redactor(b"k" * 32).excerpt(value, "BANK_ACCOUNT", context, start, [(bic, bic + 11)])
    assert "DEUTDEFFXXX" not in excerpt
    assert "bank BIC" in excerpt


def _scrub_reference(text: str) -> str:
    """The straightforward form of redact._scrub: every run of 6+ token characters, kept if all letters."""
    import re

    lead = " " if text[:1].isspace() else ""
    trail = " " if text[-1:].isspace() else ""
    text = lead + " ".join(text.split()) + trail if text.strip() else (" " if text else "")
    text = re.sub(r"[A-Za-z0-9+/=_\-]{6,}", lambda m: m[0] if m[0].isalpha() else "*" * len(m[0]), text)
    return re.sub(r"\d", "#", text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab Zé1٣+/=_-.\n\t,"), max_size=60))
def test_scrub_equals_its_reference(text: str) -> None:
    """Only token runs that are not plain words are starred; digits become '#'."""
    from agent.redact import _scrub

    assert _scrub(text) == _scrub_reference(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab :/=\n;|x"), max_size=40))
def test_field_separators_equal_their_regex(text: str) -> None:
    """A ':' or '=' counts as a label's separator exactly where the lookaround regex says so
    (not in '://', '::', '==', ':=' runs)."""
    import re

    from agent.redact import _field_separators

    reference = re.compile(r"(?<![:/])[:=](?![:/=])")
    assert _field_separators(text) == [m.start() for m in reference.finditer(text)]


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(alphabet=st.characters(max_codepoint=127), max_size=70), st.text(max_size=70)))
def test_normalise_value_equals_its_regex(value: str) -> None:
    """ASCII values fold by a bytes translation, others by the regex: the same presentation dropped
    (every ASCII whitespace, \\x1c-\\x1f too, and - _ .), the same case folding and long-value rule."""
    import re

    compact = re.sub(r"[\s\-_.]", "", value)
    assert normalise_value(value) == (compact.upper() if len(compact) <= 64 else value.strip())


def test_fingerprint_of_a_value_with_undecodable_bytes() -> None:
    """A value read from a name that is not UTF-8 (lone surrogates) has a fingerprint, distinct from
    the same value with other bytes, and equal to the plain one's for valid text."""
    r = Redactor(b"k" * 32)
    assert r.fingerprint("SECRET", "pw\udcff1") != r.fingerprint("SECRET", "pw\udcfe1")
    assert r.fingerprint("SECRET", "pw1").startswith("hmac-sha256:")
