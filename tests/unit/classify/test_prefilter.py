"""The prefilter never changes the result: detections with it equal detections over the whole text."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.classify import Classifier
from agent.classify.prefilter import Prefilter, Trigger
from agent.classify.recognizers.marking import _LEVELS
from agent.classify.tokenizer import Tokens
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
    assert pf.spans(text) == {"A": [(46, 61)], "B": [(93, 127)]}
    assert pf.spans("nothing here") == {}


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


def _digit_heavy(rng: random.Random) -> str:
    """Business/log text dense in digits: dates, timestamps, invoice numbers, phones, URLs, amounts."""
    kind = rng.randrange(12)
    if kind == 0:
        return (
            f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:00:00Z INFO"
        )
    if kind == 1:
        return f"{rng.randrange(1, 29):02d}.{rng.randrange(1, 13):02d}.20{rng.randrange(10, 30)}"
    if kind == 2:
        return rng.choice(
            ["+41 44 ", "+49 (0) 30 ", "0044 20 ", "(212) ", "+1-", "030 ", "+33 1 "]
        ) + " ".join(str(rng.randrange(10, 9999)) for _ in range(rng.randrange(1, 4)))
    if kind == 3:
        return f"INV-{rng.randrange(10**5, 10**7)} app[{rng.randrange(100, 9999)}]"
    if kind == 4:
        return str(rng.randrange(10 ** rng.randrange(1, 12), 10**13))
    if kind == 5:
        return f"https://intranet.example.com/{rng.choice(WORDS)}/{rng.randrange(1000)}?id={rng.randrange(10**6)}"
    if kind == 6:
        return f"www.{fakes.token(rng, 6).lower()}.{rng.choice(['com', 'ch', 'de', 'org'])}"
    if kind == 7:
        return f"CHF {rng.randrange(1, 10**6):,}.{rng.randrange(100):02d}".replace(",", "'")
    if kind == 8:
        return rng.choice(["phone", "call", "tel.", "mobile", "fax", "ext. 12", "x 45"])
    if kind == 9:
        return f"{rng.randrange(100, 999)}-{rng.randrange(10, 99)}-{rng.randrange(1000, 9999)}"
    if kind == 10:
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}:{rng.randrange(65536)}"
    return " ".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 60)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), parts=st.integers(5, 200))
def test_prefilter_on_equals_off_digit_heavy(
    pair: tuple[Classifier, Classifier], seed: int, parts: int
) -> None:
    """Phone-, URL- and digit-heavy documents (logs, dates, amounts): same detections, prefilter on or off."""
    rng = random.Random(seed)
    segments = [
        (_plant(rng) if rng.random() < 0.05 else _digit_heavy(rng))
        + rng.choice([" ", " ", "\n", ", ", "; ", " " * rng.randrange(1, 400), "\t"])
        for _ in range(parts)
    ]
    text = "".join(segments)
    on, off = pair
    assert _key(on, text) == _key(off, text)


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab1_-. \n" + "x" * 3), min_size=0, max_size=900),
    base=st.integers(0, 200),
    lo=st.integers(0, 900),
    width=st.integers(0, 900),
)
def test_local_tokens_match_whole_text_tokens(text: str, base: int, lo: int, width: int) -> None:
    """Tokens of a slice equal the whole text's tokens that lie MAX_TOKEN away from the slice's cut edges."""
    from agent.classify.tokenizer import MAX_TOKEN, tokenize

    hi = lo + width
    starts, lemmas = Tokens(text, base).local(lo, hi)
    words, all_starts = tokenize(text, base)
    lo_c, hi_c = max(0, lo), min(len(text), hi)
    inner_lo = lo_c + MAX_TOKEN if lo_c > 0 else 0
    inner_hi = hi_c - MAX_TOKEN if hi_c < len(text) else len(text)
    expect = [
        (s, w.lower())
        for s, w in zip(all_starts, words, strict=True)
        if s >= inner_lo and s + len(w) <= inner_hi
    ]
    got = [(s, w) for s, w in zip(starts, lemmas, strict=True) if s >= inner_lo and s + len(w) <= inner_hi]
    assert got == expect


def _digits_between_separators(rng: random.Random) -> str:
    """Digit-heavy text whose pieces are joined by every separator a digit run may or may not span."""
    seps = [" ", "\n", "/", "-", ":", "(", "", ")", ".", " (", "  ", "    ", "\u00a0", "+", "a", "٣"]
    text = "".join(_digit_heavy(rng) + rng.choice(seps) for _ in range(3000))
    text += "".join(_plant(rng) + rng.choice(seps) for _ in range(300))
    return text + "".join(str(rng.randrange(10**16)) + rng.choice(seps) for _ in range(2000))


def test_covering_triggers_cover_every_match() -> None:
    """Every phone match in dense log/date/amount text lies inside one hit of the whole-text trigger scan.

    The phone trigger is a covering one: a match may pass its hit by COVER characters (the "+" or "(").
    """
    import bisect

    import re2

    from agent.classify.prefilter import unicode_digits
    from agent.classify.recognizers.builtin import BUILTIN, COVERING_TRIGGERS

    text = _digits_between_separators(random.Random(8))
    for entity, (pattern, cover) in COVERING_TRIGGERS.items():
        hits = [m.span() for m in re2.compile(unicode_digits(pattern)).finditer(text)]
        starts = [s for s, _ in hits]
        results = BUILTIN[entity]().analyze(text, [entity], None)
        assert len(results) > 20, entity
        for r in results:
            i = bisect.bisect_right(starts, r.start + cover) - 1
            assert i >= 0, (entity, text[r.start : r.end])
            lo, hi = hits[i]
            assert lo - cover <= r.start and r.end <= hi + cover, (entity, text[r.start : r.end])


def test_digit_triggers_are_found_inside_digit_runs(pair: tuple[Classifier, Classifier]) -> None:
    """Triggers located in digit runs only have the same hits as over the whole text, and lie inside runs."""
    import re2

    from agent.classify.prefilter import DIGIT_RUN, _DigitRuns, hit_spans, unicode_digits

    data = _digits_between_separators(random.Random(9)).encode()
    runs = _DigitRuns(re2.compile(unicode_digits(DIGIT_RUN)), data)
    nested = [t for t in pair[0]._prefilter.triggers if t.in_digit_runs]
    assert {t.entity for t in nested} >= {"CREDIT_CARD", "BANK_ACCOUNT", "US_SSN"}
    for t in nested:
        rx = re2.compile(unicode_digits(t.pattern))
        whole = hit_spans(rx, data)
        assert len(whole) > 100, t.entity
        assert runs.hits(rx) == whole, t.entity
    with pytest.raises(ValueError, match="in_digit_runs needs a max_len"):
        Prefilter([Trigger("A", r"\d{8}", None, in_digit_runs=True)])


def test_full_width_and_arabic_indic_digits_pass_the_prefilter(pair: tuple[Classifier, Classifier]) -> None:
    """Values written in non-ASCII decimal digits (which recognizers' \\d matches) are not filtered out."""
    wide = str.maketrans("0123456789", "０１２３４５６７８９")
    arabic = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
    base = "Kontakt: phone +41 44 668 18 00, card 4539 1488 0343 6467, call 212-555-0199 today. "
    text = "the report " * 300 + base.translate(wide) + base.translate(arabic)
    on, off = pair
    assert _key(off, text)  # the reference does find something here
    assert _key(on, text) == _key(off, text)


#: Words outside ASCII, so the prefilter's byte-to-character offset mapping is exercised.
NON_ASCII = [
    "Grüße",
    "naïve",
    "Überweisung",
    "日本語の報告",
    "😀",
    "çà",
    "Ελλάδα",
    "\u00a0",
    "ﬁnance",
    "İstanbul",
]


def _password_shaped(rng: random.Random) -> str:
    """Tokens around the password-shaped pack recognizer's edges: some classes missing, some too long."""
    alphabet = rng.choice(
        [ALNUM, ALNUM + "!#%*@^&$?~", fakes.string.ascii_lowercase + "0123456789", ALNUM + ":/é"]
    )
    token = fakes.token(rng, rng.randrange(6, 48), alphabet)
    return rng.choice(["", "Password=", "pwd=", "| ", '"', "PASSWORD="]) + token


@pytest.fixture(scope="module")
def shipped_pair() -> tuple[Classifier, Classifier]:
    """Classifiers as `dropwarden scan` builds them from the shipped packs, with and without prefilter."""
    from agent.classify import ClassifierSettings
    from agent.pipeline import default_policy_dirs
    from agent.policy import load_policies

    ps = load_policies(default_policy_dirs(), Classifier.known_entities())
    settings = ClassifierSettings(entities=ps.entities(), custom=ps.recognizers)
    return Classifier(settings, prefilter=True), Classifier(settings, prefilter=False)


def test_shipped_pack_recognizer_is_prefiltered(shipped_pair: tuple[Classifier, Classifier]) -> None:
    """The pack's password-shaped recognizer declares a trigger, so it no longer scans whole texts."""
    on, _ = shipped_pair
    assert "PASSWORD_CANDIDATE" in on._group_entity.values() and "PASSWORD_CANDIDATE" not in on._always


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), parts=st.integers(5, 120))
def test_prefilter_on_equals_off_shipped_packs_non_ascii(
    shipped_pair: tuple[Classifier, Classifier], seed: int, parts: int
) -> None:
    """Shipped packs (pack recognizers included), non-ASCII text, password-shaped tokens: same detections."""
    rng = random.Random(seed)
    pieces = []
    for _ in range(parts):
        kind = rng.randrange(5)
        if kind == 0:
            pieces.append(_context(rng) + _plant(rng))
        elif kind == 1:
            pieces.append(_password_shaped(rng))
        elif kind == 2:
            pieces.append(" ".join(rng.choice(NON_ASCII + WORDS) for _ in range(rng.randrange(1, 30))))
        elif kind == 3:
            pieces.append(_digit_heavy(rng))
        else:
            pieces.append(rng.choice(["password list", "Kennwort", "credentials:", "login"]))
    text = "".join(p + rng.choice([" ", "\n", ", ", "; ", "\t", " | "]) for p in pieces)
    on, off = shipped_pair
    assert _key(on, text) == _key(off, text)


def test_set_failure_runs_every_trigger() -> None:
    """When RE2's set gives up (no sentinel in its answer), every trigger is located: same windows."""
    pf = Prefilter([Trigger("A", r"@", None), Trigger("B", r"\d{4}", 10), Trigger("C", r"zzz", 5)])
    text = "mail ab@cd.example and 1234 and é 5678 " * 20
    expected = pf.spans(text)
    assert set(expected) == {"A", "B"}

    class GaveUp:
        def Match(self, data: bytes) -> list[int]:
            return []

    pf._set = GaveUp()  # type: ignore[assignment]
    assert pf.spans(text) == expected


@pytest.mark.parametrize(
    ("pattern", "reach"),
    [
        (r"abc", 0),
        (r"\bword\b", 1),
        (r"^key$", 1),
        (r"\Avalue\Z", 1),
        (r"(?<![\w+@#'/])(?<!\w-)(?<!\d[.:,])\d{7}", 2),
        (r"(?=[^\s]{0,40}[a-z])[a-z0-9]{10,40}", 41),
        (r"(?:x|(?<=ab)y)+", 2),
        (r"(?=.*secret)\w+", None),
        (r"(unbalanced", None),
    ],
)
def test_regex_reach(pattern: str, reach: int | None) -> None:
    """How far a regex looks outside its match: lookaround widths, anchors one, unbounded None."""
    from agent.classify.prefilter import regex_reach

    assert regex_reach(pattern) == reach


def _context_heavy(rng: random.Random) -> str:
    """Context words in every spelling the tokenizer may see: case, short words, long runs, punctuation."""
    word = rng.choice(
        [
            "a/c",
            "A/C",
            "acct",
            "Account",
            "KONTO",
            "iban",
            "IBAN:",
            "card",
            "cc",
            "ssn",
            "number",
            "tel",
            "n°",
        ]
    )
    glue = rng.choice([" ", "", "-", "_", ": ", "\n", "x" * rng.randrange(1, 70), "Ü"])
    return rng.choice([word + glue, glue + word, word])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), parts=st.integers(5, 80))
def test_context_precheck_never_hides_a_context_word(
    pair: tuple[Classifier, Classifier], seed: int, parts: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Skipping tokenisation when no context word is near changes no score (checked with it disabled)."""
    from agent.classify.context import LinearContextEnhancer

    rng = random.Random(seed)
    pieces = [rng.choice([_context_heavy, _plant, _digit_heavy, _filler])(rng) for _ in range(parts)]
    text = "".join(p + rng.choice([" ", "\n", "", " | "]) for p in pieces)
    on, _ = pair
    fast = _key(on, text)
    with monkeypatch.context() as m:
        m.setattr(LinearContextEnhancer, "_keys_near", lambda self, text, todo: todo)
        assert _key(on, text) == fast


def _reference_spans(triggers: list[Trigger], text: str, margin: int, gap: int) -> dict[str, list]:
    """The windows of the module docstring, one hit at a time, on str offsets (no bytes, no numpy)."""
    import re as pyre

    out: dict[str, list[tuple[int, int]]] = {}
    for t in triggers:
        wins = []
        for m in pyre.finditer(t.pattern, text):
            assert t.max_len is not None
            lo = max(0, m.start() - t.max_len - margin)
            hi = min(len(text), m.end() + t.max_len + margin)
            if wins and lo <= wins[-1][1] + gap:
                wins[-1] = (wins[-1][0], max(wins[-1][1], hi))
            else:
                wins.append((lo, hi))
        if wins:
            out.setdefault(t.entity, []).extend(wins)
    for entity, wins in out.items():
        wins.sort()
        joined = [wins[0]]
        for lo, hi in wins[1:]:
            if lo <= joined[-1][1] + gap:
                joined[-1] = (joined[-1][0], max(joined[-1][1], hi))
            else:
                joined.append((lo, hi))
        out[entity] = joined
    return out


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab7@ é日😀\n-"), max_size=600),
    margin=st.integers(0, 20),
    gap=st.integers(0, 30),
)
def test_bounded_windows_match_a_hit_by_hit_reference(text: str, margin: int, gap: int) -> None:
    """Merged windows, on UTF-8 byte offsets mapped back to characters, equal a plain loop's."""
    triggers = [Trigger("A", "7b", 4), Trigger("A", "é日", 3), Trigger("B", "a", 2), Trigger("C", "😀@", 5)]
    pf = Prefilter(triggers, margin=margin, merge_gap=gap)
    assert pf.spans(text) == _reference_spans(triggers, text, margin, gap)


@settings(max_examples=150, deadline=None)
@given(
    pattern=st.sampled_from([r"\d{2}", r"x*", r"", r"b|", r"\p{Nd}{2,}", r"[a-z]+@", r"(?i)secret|\d{8}"]),
    text=st.text(alphabet=st.sampled_from("ab1234x@é٣ SECRET"), max_size=200),
)
def test_hit_spans_equal_finditer(pattern: str, text: str) -> None:
    """The Match-object-free hit loop gives exactly google-re2's finditer spans, empty matches too."""
    import re2

    from agent.classify.prefilter import hit_spans

    rx = re2.compile(pattern)
    data = text.encode()
    assert hit_spans(rx, data) == [m.span() for m in rx.finditer(data)]


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from("ab7 é日😀\n"), min_size=1, max_size=3000),
    picks=st.lists(st.floats(0, 1), min_size=1, max_size=40),
)
def test_char_offsets_count_the_characters_before_a_byte_offset(text: str, picks: list[float]) -> None:
    """Byte -> character offsets at character starts, asked in any order, across checkpoint blocks."""
    from agent.classify.prefilter import _CharOffsets

    data = text.encode()
    starts = [len(text[:i].encode()) for i in range(len(text) + 1)]
    chars = _CharOffsets(data)
    for p in picks:
        i = int(p * len(text))
        assert chars.at(starts[i]) == i
