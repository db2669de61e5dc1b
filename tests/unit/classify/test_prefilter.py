"""The prefilter never changes the result: detections with it equal detections over the whole text."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.classify import Classifier
from agent.classify.prefilter import Prefilter, Trigger
from agent.classify.recognizers.marking import _LEVELS
from agent.classify.validators import IBAN_LENGTHS
from agent.models import TextChunk
from tests.unit.classify import fakes

#: Benign words that fire no trigger, so windows stay apart; context words are planted next to values.
WORDS = [
    "the",
    "quarterly",
    "report",
    "figures",
    "north",
    "river",
    "table",
    "window",
    "garden",
    "summer",
    "policy",
    "public",
    "data",
    "invoice",
]
CONTEXT = [
    "account",
    "konto",
    "swift",
    "bic",
    "iban",
    "card",
    "password",
    "token",
    "secret",
    "key",
    "aws",
    "bank",
    "credit",
    "acct",
]


ISSUERS = [
    ("4", 16),
    ("4", 13),
    ("51", 16),
    ("2221", 16),
    ("37", 15),
    ("6011", 16),
    ("36", 14),
    ("3528", 19),
    ("62", 17),
]
ALNUM = fakes.string.ascii_letters + fakes.string.digits


def _plant(rng: random.Random) -> str:
    """One value of a random entity, in a random presentation (case, grouping, length, decoration)."""
    kind = rng.randrange(27)
    card = fakes.card(rng, *rng.choice(ISSUERS))
    iban = fakes.iban(rng, rng.choice(sorted(IBAN_LENGTHS)))
    iban = rng.choice([str.upper, str.lower])(iban[:2]) + iban[2:]
    pw = fakes.token(rng, rng.randrange(8, 30), ALNUM + "#!%&")
    marking = rng.choice(_LEVELS)[0]
    marking = rng.choice([str.upper, str.title, str.lower])(marking)
    deco = rng.choice(["", "*** ", "[", "Classification: ", "# ", "-- "])
    return [
        card,
        fakes.grouped(card, rng.choice(" -")),
        iban,
        fakes.grouped(iban, rng.choice(" -")),
        "DEUTDEFF" + rng.choice(["", "500"]),
        str(rng.randrange(10**7, 10**16)),
        "078-05-1123",
        fakes.private_key(rng, lines=rng.randrange(1, 40)),
        fakes.aws_key_id(rng),
        fakes.aws_secret(rng),
        "ghp_" + fakes.token(rng, rng.randrange(36, 200)),
        "glpat-" + fakes.token(rng, 20),
        "xoxb-" + fakes.token(rng, rng.randrange(10, 240)),
        fakes.jwt(rng),
        "AccountKey=" + fakes.token(rng, 86) + "==",
        '"type": "service_account",'
        + " " * rng.randrange(2000)
        + '"private_key": "-----BEGIN PRIVATE KEY-----',
        f"password = '{pw}'",
        f"postgres://app:{pw}@db.example.org/x",
        f"secret_key: {fakes.aws_secret(rng)}",
        "\n" + deco + marking + deco[::-1].replace("[", "]") + "\n",
        f"{fakes.token(rng, rng.randrange(1, 600))}@example.com",
        f"https://{fakes.token(rng, 5).lower()}.example.org/{fakes.token(rng, rng.randrange(1, 900))}",
        f"+41 44 {rng.randrange(100, 999)} 12 34",
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
        "212-555-0199",
        pw,
        f"token={fakes.jwt(rng, signed=rng.random() < 0.5)}",
    ][kind]


def _filler(rng: random.Random) -> str:
    """Benign text, long whitespace-free runs or separators, of random length."""
    kind = rng.randrange(5)
    if kind == 0:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 400)))
    if kind == 1:
        return fakes.token(
            rng,
            rng.randrange(50, 3000),
            rng.choice([fakes.string.ascii_letters + '{}":,[]', "0123456789", "ab"]),
        )
    if kind == 2:
        return rng.choice(["\n", " ", "\t", "", "\n\n", ": ", "="])
    if kind == 3:
        return " " * rng.randrange(1, 700)
    return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(100, 1500)))


def _context(rng: random.Random) -> str:
    """Nothing, or a context word a few benign words before the value (sometimes beyond the window)."""
    if rng.random() < 0.4:
        return ""
    return " ".join([rng.choice(CONTEXT), *(rng.choice(WORDS) for _ in range(rng.randrange(0, 8))), ""])


@pytest.fixture(scope="module")
def pair() -> tuple[Classifier, Classifier]:
    return Classifier(prefilter=True), Classifier(prefilter=False)


def _key(c: Classifier, text: str) -> set[tuple[str, int, int, float, tuple[tuple[str, str], ...]]]:
    return {(d.entity, d.start, d.end, d.score, d.attributes) for d in c.detect(TextChunk("/p", None, text))}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), parts=st.integers(2, 40))
def test_prefilter_on_equals_off(pair: tuple[Classifier, Classifier], seed: int, parts: int) -> None:
    """Random documents with planted values of every entity: same detections with and without prefilter."""
    rng = random.Random(seed)
    segments = [(_context(rng) + _plant(rng) if rng.random() < 0.35 else _filler(rng)) for _ in range(parts)]
    text = rng.choice(["", " ", "\n"]).join(segments)
    on, off = pair
    assert _key(on, text) == _key(off, text)


def test_windows_cover_triggers_and_skip_quiet_text() -> None:
    """Windows surround each trigger hit with the margin, merge when close, and leave quiet text out."""
    pf = Prefilter([Trigger("A", r"@", None), Trigger("B", r"\d{4}", 10)], margin=5, merge_gap=0)
    text = "x" * 50 + " ab@cd " + "y" * 50 + " 1234 " + "z" * 50
    wins = pf.windows(text)
    assert [(w.start, w.end, w.entities) for w in wins] == [(46, 61, {"A"}), (93, 127, {"B"})]
    assert pf.windows("nothing here") == []


def test_trigger_contract_holds_for_every_match() -> None:
    """Every regex match of a recognizer contains its trigger and respects its declared maximum length."""
    import re2

    from agent.classify.recognizers import OURS

    rng = random.Random(5)
    samples = [_context(rng) + _plant(rng) for _ in range(1500)]
    samples += [phrase.upper() for phrase, _ in _LEVELS] + [phrase for phrase, _ in _LEVELS]
    text = "\n".join(samples)
    checked = 0
    for cls in OURS.values():
        assert cls.TRIGGER, cls.__name__
        trigger = re2.compile(cls.TRIGGER)
        for _, rx in cls()._compiled:
            for m in rx.finditer(text):
                checked += 1
                assert trigger.search(m.group()), (cls.__name__, m.group()[:40])
                assert cls.MAX_LEN is None or len(m.group()) <= cls.MAX_LEN, cls.__name__
    assert checked > 1000


def test_trigger_contract_holds_for_presidio_builtins() -> None:
    """Presidio recognizers we prefilter (e-mail, URL, phone, SSN, IP) honour their trigger contract."""
    import re2

    from agent.classify.recognizers.builtin import BUILTIN, TRIGGERS

    rng = random.Random(6)
    text = "\n".join(_context(rng) + _plant(rng) for _ in range(600))
    text += "\ncall (212) 555-0199 or +44 20 7946 0958 or 030 901820 or +49 (0) 30 1234567, ssn 078 05 1123"
    for entity, (pattern, max_len) in TRIGGERS.items():
        trigger = re2.compile(pattern)
        results = BUILTIN[entity]().analyze(text, [entity], None)
        assert results, entity
        for r in results:
            value = text[r.start : r.end]
            assert trigger.search(value), (entity, value)
            assert (max_len is None and not any(c.isspace() for c in value)) or (
                max_len and len(value) <= max_len
            )
