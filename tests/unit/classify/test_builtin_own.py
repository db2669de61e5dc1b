"""Our e-mail, IP, URL, US SSN and US bank recognizers find what Presidio's found, with the same scores.

Each entity used to be one of Presidio's predefined recognizers, run by Presidio's engine with our
offline tokenizer and context enhancer. The reference here is exactly that: Presidio's recognizer in
Presidio's ``AnalyzerEngine``. Ours runs through the classifier the scan uses (prefilter included).
Texts are generated (Hypothesis) and hand-built around what the rules turn on: address forms,
delimiters, sample numbers, digits inside longer runs, word boundaries next to Unicode marks, context
words before and after. Nothing is mocked.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
import regex
import tldextract
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from presidio_analyzer import EntityRecognizer, Pattern
from presidio_analyzer.predefined_recognizers import (
    EmailRecognizer,
    IpRecognizer,
    UsBankRecognizer,
    UsSsnRecognizer,
)
from presidio_analyzer.predefined_recognizers import UrlRecognizer as PresidioUrlRecognizer

from agent.classify import Classifier, ClassifierSettings
from agent.classify.recognizers import OURS
from agent.classify.recognizers.us_ssn import UsSsnRecognizer as OurSsn
from agent.models import TextChunk
from tests.unit.classify.presidio_ref import presidio_engine

_OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class _ScanEmailRecognizer(EmailRecognizer):
    """The e-mail recognizer the scan used: Presidio's, local part bounded to 64, offline suffix list."""

    def __init__(self) -> None:
        (pattern,) = EmailRecognizer.PATTERNS
        assert "{0,}" in pattern.regex  # Presidio's unbounded middle of the local part
        super().__init__(patterns=[Pattern(pattern.name, pattern.regex.replace("{0,}", "{0,62}"), 0.5)])

    def validate_result(self, pattern_text: str) -> bool:
        return _OFFLINE_TLD(pattern_text).fqdn != ""


#: entity -> the Presidio recognizer the scan ran for it before ours.
PRESIDIO: dict[str, Callable[[], EntityRecognizer]] = {
    "US_BANK_NUMBER": UsBankRecognizer,
    "US_SSN": UsSsnRecognizer,
    "IP_ADDRESS": IpRecognizer,
    "EMAIL_ADDRESS": _ScanEmailRecognizer,
    "URL": PresidioUrlRecognizer,
}
#: entity -> Presidio's predefined recognizer class for it.
PRESIDIO_CLASS: dict[str, type[EntityRecognizer]] = {
    "US_BANK_NUMBER": UsBankRecognizer,
    "US_SSN": UsSsnRecognizer,
    "IP_ADDRESS": IpRecognizer,
    "EMAIL_ADDRESS": EmailRecognizer,
    "URL": PresidioUrlRecognizer,
}
#: The entities ours replaced so far.
OWN = [e for e in PRESIDIO if e in OURS]

Key = set[tuple[str, int, int, float]]


class _Pair:
    """Presidio's engine with Presidio's recognizer, and the classifier with ours, for one entity."""

    def __init__(self, entity: str) -> None:
        self.entity = entity
        self.presidio = presidio_engine([PRESIDIO[entity]()])
        self.ours = Classifier(ClassifierSettings(entities=frozenset({entity})))

    def reference(self, text: str) -> Key:
        found = self.presidio.analyze(text=text, language="en", entities=[self.entity], score_threshold=0.0)
        return {(r.entity_type, r.start, r.end, round(r.score, 4)) for r in found if r.score > 0}

    def mine(self, text: str) -> Key:
        return {(d.entity, d.start, d.end, d.score) for d in self.ours.detect(TextChunk("/p", None, text))}

    def check(self, text: str) -> Key:
        expected = self.reference(text)
        assert self.mine(text) == expected, text
        return expected


@pytest.fixture(scope="module")
def pairs() -> dict[str, _Pair]:
    return {entity: _Pair(entity) for entity in OWN}


# --- generated text ---------------------------------------------------------------------------------

CONTEXT_WORDS = {
    "US_BANK_NUMBER": ["account", "acct", "bank", "check", "save", "debit", "account#", "Account:"],
    "US_SSN": ["ssn", "SSN:", "social", "security", "ssns", "ssid", "Social Security"],
    "IP_ADDRESS": ["ip", "IP:", "ipv4", "ipv6", "IPv6"],
    "EMAIL_ADDRESS": ["email", "E-mail:", "Email"],
    "URL": ["url", "URL:", "website", "link", "Link"],
}
FILLER = ["the", "report", "room", "ref", "no.", "id", "version", "Konto", "x", "_", "\n", "  ", "\t"]
#: Characters on which Presidio's ``\w``/``\b`` (``regex``) and ``re``'s differ, and other neighbours.
EDGES = [
    "",
    "",
    "",
    " ",
    "²",
    "\u0301",
    "\u203f",
    "\u200d",
    "_",
    "a",
    "-",
    ".",
    ":",
    "/",
    "%",
    "@",
    "١",
    "５",
]


def _digits(draw: st.DrawFn, n: int) -> str:
    return draw(st.text("0123456789", min_size=n, max_size=n))


@st.composite
def bank_value(draw: st.DrawFn) -> str:
    body = _digits(draw, draw(st.integers(5, 20)))
    if draw(st.booleans()):  # a separator inside: two runs, or a run broken as phone numbers are
        cut = draw(st.integers(0, len(body)))
        body = body[:cut] + draw(st.sampled_from(" -./")) + body[cut:]
    return body


@st.composite
def ssn_value(draw: st.DrawFn) -> str:
    def group(n: int) -> str:
        """Mostly random digits; now and then all zeros or one repeated digit (rules drop those)."""
        kind = draw(st.integers(0, 5))
        return "0" * n if kind == 0 else "6" * n if kind == 1 else _digits(draw, n)

    area = (
        draw(st.sampled_from(["000", "666", "078", "123", "987", "536"])) if draw(st.booleans()) else group(3)
    )
    samples = ["123456789", "987654320", "078051120", "111111111", "536904399"]
    digits = draw(st.sampled_from(samples)) if draw(st.integers(0, 4)) == 0 else area + group(2) + group(4)
    d1, d2 = draw(st.sampled_from(["-", ".", " ", ""])), draw(st.sampled_from(["-", ".", " ", ""]))
    shape = draw(st.integers(0, 3))
    if shape == 0:
        value = digits[:3] + d1 + digits[3:5] + d2 + digits[5:]
    elif shape == 1:
        value = digits[:5] + "-" + digits[5:]
    elif shape == 2:
        value = digits[:3] + "-" + digits[3:]
    else:
        value = digits
    if draw(st.integers(0, 4)) == 0:  # inside a longer run of digits
        value = _digits(draw, draw(st.integers(1, 3))) + draw(st.sampled_from(["", "-", " "])) + value
    return value


def _octet(draw: st.DrawFn) -> str:
    n = draw(st.integers(256, 999)) if draw(st.integers(0, 7)) == 0 else draw(st.integers(0, 255))
    return draw(st.sampled_from([str(n), f"{n:02d}", f"{n:03d}"]))


@st.composite
def ipv4_value(draw: st.DrawFn) -> str:
    return _maybe_prefix(
        draw, ".".join(_octet(draw) for _ in range(draw(st.sampled_from([4, 4, 4, 3, 5])))), 40
    )


def _maybe_prefix(draw: st.DrawFn, address: str, top: int) -> str:
    """The address, or the address with a CIDR prefix length from 0 to ``top`` (valid or not)."""
    return address + (f"/{draw(st.integers(0, top))}" if draw(st.booleans()) else "")


_HEX = "0123456789abcdefABCDEF"


@st.composite
def ipv6_value(draw: st.DrawFn) -> str:
    groups = [draw(st.text(_HEX, min_size=1, max_size=draw(st.sampled_from([4, 4, 5])))) for _ in range(8)]
    n = draw(st.integers(0, 8))
    head, tail = groups[: draw(st.integers(0, n))], groups[n:8]
    shape = draw(st.integers(0, 5))
    if shape == 0:
        value = ":".join(groups)
    elif shape == 1:
        value = ":".join(head) + "::" + ":".join(tail[: draw(st.integers(0, len(tail)))])
    elif shape == 2:
        value = draw(
            st.sampled_from(["::", "::1", "::ffff:", "::FFFF:0:", "64:ff9b::", "fe80::1:", "1:2:3:4:5:6:"])
        )
        value += draw(ipv4_value()) if value.endswith(":") else ""
    elif shape == 3:
        value = ":".join(head) + "::"
    elif shape == 4:
        value = "::" + ":".join(tail)
    else:
        value = ":".join(groups[: draw(st.integers(1, 9))])
    if draw(st.integers(0, 3)) == 0:
        value += "%" + draw(st.sampled_from(["eth0", "1", "ip", "ipv6", "Z", ""]))
    return _maybe_prefix(draw, value, 130)


_LOCAL = "abcxyzABC0123456789!#$%&'*+-/=?^_`{|}~.é"


@st.composite
def email_value(draw: st.DrawFn) -> str:
    local = draw(st.text(_LOCAL, min_size=0, max_size=draw(st.sampled_from([8, 8, 70]))))
    labels = [
        draw(
            st.sampled_from(
                ["example", "bank-01", "a--b", "xn--bcher-kva", "bücher", "mail", "x", "-a", "b_c"]
            )
        )
        for _ in range(draw(st.integers(1, 3)))
    ]
    tld = draw(
        st.sampled_from(["com", "org", "ch", "co.uk", "invalidtld", "local", "example", "рф", "c0m", ""])
    )
    return local + "@" + ".".join(labels) + ("." + tld if tld else "")


_HOSTS = [
    "example",
    "www.example",
    "www2.bank-01",
    "a--b.x",
    "bücher",
    "İt",
    "x.ſk",
    "K",
    "10.0.0",
    "-a",
    "_x",
]
#: Suffixes of the list (first and last, prefixes of longer ones), in other cases, and not in it.
_SUFFIXES = [
    "com",
    "COM",
    "accountants",
    "ch",
    "co.uk",
    "zw",
    "İt",
    "ſk",
    "uK",
    "io",
    "invalid",
    "c0m",
    "xn--p1ai",
]


@st.composite
def url_value(draw: st.DrawFn) -> str:
    scheme = draw(st.sampled_from(["", "", "http://", "https://", "HTTPS://", "ftp://", "http:/"]))
    host = draw(st.sampled_from(_HOSTS)) + "." + draw(st.sampled_from(_SUFFIXES))
    path = draw(st.sampled_from(["", "", "/", "/a/b?c=1&d=%20", "/x(1)", "/q'r", '/s"t', "/<u>", "/ v"]))
    quote = draw(st.sampled_from(["", "", '"', "'"]))
    return quote + scheme + host + path + draw(st.sampled_from([quote, "", '"', "'"]))


VALUES: dict[str, st.SearchStrategy[str]] = {
    "US_BANK_NUMBER": bank_value(),
    "US_SSN": ssn_value(),
    "IP_ADDRESS": st.one_of(ipv4_value(), ipv6_value()),
    "EMAIL_ADDRESS": email_value(),
    "URL": url_value(),
}


def _document(entity: str) -> st.SearchStrategy[str]:
    """Values of the entity with edge characters around them, context words and filler between."""
    value = st.builds(
        lambda a, v, b: a + v + b, st.sampled_from(EDGES), VALUES[entity], st.sampled_from(EDGES)
    )
    word = st.sampled_from(CONTEXT_WORDS[entity] + FILLER)
    piece = st.one_of(value, value, word, st.text(max_size=6))
    return st.lists(
        st.tuples(piece, st.sampled_from([" ", " ", "\n", ", ", "", ": ", " " * 40])), max_size=14
    ).map(lambda parts: "".join(p + sep for p, sep in parts))


@pytest.mark.parametrize("entity", OWN)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_text_gives_presidios_results(pairs: dict[str, _Pair], entity: str, data: Any) -> None:
    """Generated documents: same (entity, start, end, score after context) from ours as from Presidio's."""
    pairs[entity].check(data.draw(_document(entity)))


# --- hand-built text --------------------------------------------------------------------------------

HAND_BUILT: dict[str, list[str]] = {
    "US_BANK_NUMBER": [
        "Checking account 4820917365 at First Bank.",
        "acct: 00987654321 debit",
        "12345678 123456789012345678 1234567",
        "4820917365² and 4820917365\u0301 and 4820917365_x",
        "ref 4820-917365 bank",
    ],
    "US_SSN": [
        "SSN: 536-90-4399, DOB 1980-02-03",
        "Social Security Number 536.22.1874 was verified; social security 536 22 1874.",
        "ssn 536-22.1874 (mixed delimiters) and 536-22 1874",
        "ssn 078-05-1120, 123-45-6789, 987-65-4320, 111-11-1111, 000-12-3456, 666-12-3456",
        "ssn 536-00-1234, 536-12-0000, 53612-3456, 536-123456, 536123456",
        "run 1536-90-4399 and 536-90-43991 and 12536904399 ssn",
        "ssn 536-90-4399² and 536-90-4399\u0301",
    ],
    "IP_ADDRESS": [
        "The gateway listens on 10.20.30.40 port 443; ip 192.168.17.201/24.",
        "ipv6 2001:db8::1, fe80::1%eth0, ::1, ::, ::/0, ::ffff:10.0.0.1, 64:ff9b::192.0.2.33",
        "2001:0db8:0000:0000:0000:ff00:0042:8329 and 2001:db8:0:0:0:ff00:42:8329/64",
        "Release 1.2.3 is out; room 4.12; 999.1.1.1; 1.2.3.4.5; 10.0.0.256",
        "fe80::1%ip and ::%ipv6 and 1:2:3:4:5:6:7:8:9 and 1::2::3 and 12345::1",
        "IP 10.0.0.1² and 10.0.0.1\u0301 and a10.0.0.1 and 10.0.0.1.5",
    ],
    "EMAIL_ADDRESS": [
        "Attendees: Jane Roe <jane.roe@example.org>, email privacy@example.com.",
        "x@bücher.ch and x@xn--bcher-kva.ch and a@b.invalidtld and a@b.local and a@localhost",
        "first.last+tag@sub.example.co.uk; o'brien@mail.example.com; .dot@example.com",
        "a" * 70 + "@example.com " + "b" * 64 + "@example.com " + "c" * 65 + "@example.com",
        "The handle @jane_roe is on the intranet; user@ ; @example.com",
        "a@b-c.com a@b--c.com a@-b.com a@b-.com e-mail: jané@exämple.de",
    ],
    "URL": [
        "See https://intranet.example.com/hr/payroll?id=42 and www.example.org (link).",
        "href=\"https://example.ch/a b\" src='example.io' url: HTTP://EXAMPLE.COM/X",
        "x.accountants y.co.uk z.museum 10.0.0.1 file.txt report.pdf e.g. i.e. v1.2.de",
        "website example.İt and example.ſk and example.uK and ftp://example.com",
        "ab." * 120 + "com, " + "a.b-" * 70 + "x.ch/p and 'https://www١.example.org' www12.x.io",
    ],
}


@pytest.mark.parametrize(
    ("entity", "text"), [(e, t) for e in OWN for t in HAND_BUILT[e]], ids=lambda v: str(v)[:30]
)
def test_hand_built_text_gives_presidios_results(pairs: dict[str, _Pair], entity: str, text: str) -> None:
    """Hand-built cases at each rule's edges: same results from ours as from Presidio's."""
    pairs[entity].check(text)


#: entity -> (text, the results our recognizer must give: (value, score after context)).
EXPECTED: dict[str, list[tuple[str, set[tuple[str, float]]]]] = {
    "US_BANK_NUMBER": [
        ("Checking account 4820917365.", {("4820917365", 0.4)}),
        ("Order 4820917365 shipped.", {("4820917365", 0.05)}),
        ("Order 1234567 or 123456789012345678 shipped.", set()),
    ],
    "US_SSN": [
        ("SSN: 536-90-4399", {("536-90-4399", 0.85)}),
        ("Ticket 536-90-4399 was closed.", {("536-90-4399", 0.5)}),
        ("Ticket 536904399 was closed.", {("536904399", 0.05)}),
        ("ssn 536-90.4399, 078-05-1120, 666-90-4399, 536-00-4399, 536-90-0000, 555-55-5555", set()),
    ],
    "IP_ADDRESS": [
        ("ip 10.0.0.1", {("10.0.0.1", 0.95)}),
        ("Route 2001:db8::1/64 via fe80::1%eth0.", {("2001:db8::1/64", 0.6), ("fe80::1%eth0", 0.6)}),
        ("Bind to :: now", {("::", 0.1)}),
        ("Release 1.2.3, address 10.0.0.256, 1::2::3, 010.1.1.1", set()),
        ("Nine groups 1:2:3:4:5::6:7:10.0.0.1", {("10.0.0.1", 0.6)}),
    ],
    "EMAIL_ADDRESS": [
        ("Mail jane.roe@example.org today.", {("jane.roe@example.org", 1.0)}),
        ("Mail a@b.invalidtld or a@localhost.", set()),
    ],
    "URL": [
        ("Go to https://example.com/a?b=1 now.", {("https://example.com/a?b=1", 0.6)}),
        ("website: example.org", {("example.org", 0.85)}),
        ("src='example.ch'", {("'example.ch'", 0.5)}),
        ("A firm.accountants page, example.ſk", {("firm.accountant", 0.5), ("example.ſk", 0.5)}),
    ],
}


@pytest.mark.parametrize(
    ("entity", "case"), [(e, c) for e in OWN for c in EXPECTED[e]], ids=lambda v: str(v)[:30]
)
def test_known_values_and_scores(
    pairs: dict[str, _Pair], entity: str, case: tuple[str, set[tuple[str, float]]]
) -> None:
    """Values the rules keep or drop, with the scores they get: base score, validation, context."""
    text, expected = case
    assert {(text[s:e], score) for _, s, e, score in pairs[entity].mine(text)} == expected


def test_shipped_packs_build_no_presidio_recognizer_for_our_entities(monkeypatch: pytest.MonkeyPatch) -> None:
    """The classifier `dropwarden scan` builds from the shipped packs constructs none of Presidio's four
    (nor does a classifier of every entity, URL included)."""
    from agent.pipeline import default_policy_dirs
    from agent.policy import load_policies

    built: list[str] = []
    for entity in OWN:
        cls = PRESIDIO_CLASS[entity]
        original = cls.__init__

        def recording(self: EntityRecognizer, *args: Any, _orig: Any = original, **kw: Any) -> None:
            built.append(type(self).__name__)
            _orig(self, *args, **kw)

        monkeypatch.setattr(cls, "__init__", recording)
    for entity in OWN:
        PRESIDIO[entity]()
    assert len(built) == len(OWN)  # the recording works
    built.clear()
    ps = load_policies(default_policy_dirs(), Classifier.known_entities())
    assert {"EMAIL_ADDRESS", "IP_ADDRESS", "US_SSN"} <= ps.entities()
    text = "ssn 536-90-4399 ip 10.0.0.1 a@example.org acct 4820917365 https://example.com"
    for wanted in (ps.entities(), None):
        classifier = Classifier(ClassifierSettings(entities=wanted, custom=ps.recognizers))
        assert built == []
        found = {d.entity for d in classifier.detect(TextChunk("/p", None, text))}
        assert {e for e in OWN if wanted is None or e in wanted} <= found


def test_url_matching_skips_host_runs_with_no_suffix() -> None:
    """Presidio's URL pattern backtracks over every dot within 253 characters at every position of a
    run of host characters (10 KB of "ab.ab.ab..." took seconds): ours tries only positions near a
    dot that a known suffix follows, which such a run has none of."""
    from agent.classify.recognizers.url import UrlRecognizer, _finders, start_windows

    finders = _finders(UrlRecognizer.FLAGS)
    hostile = "ab." * 300_000
    assert start_windows(hostile, 0, len(hostile), finders) == []
    assert UrlRecognizer().analyze(hostile, []) == []
    text = "ab." * 100 + "com and 'https://example.org'"
    # host characters from 253 before the first suffix dot (299); from after "//" (317) to the second
    assert start_windows(text, 0, len(text), finders) == [(299 - 253 - 16, 299), (317 - 16, 324)]
    for pattern, fast in UrlRecognizer()._compiled:
        plain = regex.compile(pattern.regex, UrlRecognizer.FLAGS)
        assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)]


class _NoPrecheck(OurSsn):
    UNION_PRECHECK = False


_SSN_TEXT = st.lists(
    st.sampled_from(
        ["1", "2", "0", "6", "-", " ", ".", "x", "\n", "²", "078-05-1120", "536-90-4399", "53690 4399"]
    ),
    max_size=60,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_SSN_TEXT, cuts=st.lists(st.integers(0, 400), max_size=6))
def test_union_precheck_skips_only_regions_no_pattern_matches(text: str, cuts: list[int]) -> None:
    """Searching the union of the SSN patterns first drops no match, whatever the regions."""
    bounds = sorted({0, len(text), *(min(c, len(text)) for c in cuts)})
    regions = list(itertools.pairwise(bounds))
    fast, slow = (
        OurSsn().analyze_regions(text, regions),
        _NoPrecheck().analyze_regions(text, regions),
    )
    assert [(r.start, r.end, r.score) for r in fast] == [(r.start, r.end, r.score) for r in slow]
