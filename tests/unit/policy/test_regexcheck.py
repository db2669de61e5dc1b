"""The cheap trigger-coverage proof of `policy lint` finds exactly what searching every text would, and
each pack regex is compiled once per flag set."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.policy import regexcheck
from agent.policy.lint import lint
from agent.policy.regexcheck import ExampleTexts, required_literal, trigger_violations
from tests.unit.policy.conftest import KNOWN

FLAGS = re.MULTILINE | re.DOTALL | re.IGNORECASE

#: Shapes the literal prefilter must not get wrong: scoped case flags, lookarounds, groups, repeats,
#: alternation (no required literal), literals split by an assertion, patterns that match across lines.
PATTERNS = [
    r"(?-i:(?<![A-Za-z0-9])glft\-[A-Za-z0-9_-]{4}(?![A-Za-z0-9_-]))",
    r"tok(?=en)en_[0-9]+",
    r"(?:acme|ACME)_key=[A-Z0-9]{4}",
    r"ke\by",
    r"(k)ey[ \n]+\d{3}",
    r"x+",
    r"secret(?-i:Ab)c",
    r"(?-i:secret(?i:ab)C)",
    r"\bpin:\s*\d{4}",
    r"jira[_.-]?api[_.-]?token[ =]+\w{3}",  # several literals: a text must hold them all
]
#: Texts with matches at their edges, non-ASCII case variants (Kelvin sign, long s), and line breaks.
TEXTS = [
    "glft-abcd",
    "xglft-abcd",
    "GLFT-abcd and glft-ab_d!",
    "token_12 TOKEN_3",
    "\u212aey 123 and key\n456",
    "acme_key=AB12 Acme_Key=zz99",
    "xxx",
    "ſecretAbc SECRETabC secretABC",
    "Secretabc secretABc",
    "PIN: 1234\npin:\n5678",
    "",
    "nothing here",
    "Acme_Key=zz99",
    "TOKEN_77",
    "\u212aey 999",
    "ſECRETab",
    "token = abc",
    "JIRA_API_TOKEN = xyz1 and jira.api-token abcd",
]


def brute_force(patterns: list[str], trigger: str, max_len: int | None, texts: list[str]) -> list[str]:
    """The contract checked the slow way: every pattern over every text."""
    trig = re.compile(trigger)
    out = []
    for i, pattern in enumerate(patterns):
        for text in texts:
            for m in re.compile(pattern, FLAGS).finditer(text):
                v = m.group()
                if not v:
                    continue
                if not trig.search(v):
                    out.append(f"pattern {i}: a {len(v)}-character match holds no trigger match")
                elif max_len is not None and len(v) > max_len:
                    out.append(f"pattern {i}: a {len(v)}-character match is longer than max_len")
    return sorted(out)


@pytest.mark.parametrize(("trigger", "max_len"), [("zzz", 64), ("(?i)[a-z]", 5), ("[0-9]", 7)])
def test_prefilter_finds_what_every_text_search_finds(trigger: str, max_len: int) -> None:
    """Searching only the texts that hold a pattern's required literal reports the same violations."""
    expected = brute_force(PATTERNS, trigger, max_len, TEXTS)
    assert expected  # the fixture does produce violations to compare
    got = trigger_violations(PATTERNS, trigger, max_len, ExampleTexts.of(TEXTS), FLAGS)
    assert sorted(got) == expected
    assert sorted(trigger_violations(PATTERNS, trigger, max_len, TEXTS, FLAGS)) == expected


@pytest.mark.parametrize(
    ("pattern", "literal", "ignorecase"),
    [
        (r"(?-i:(?<![A-Za-z0-9])glft\-[A-Za-z0-9_-]{20})", "glft-", False),
        (r"ab(?-i:cde)f", "cde", False),
        (r"key\b=\d+", "key=", True),
        (r"acme|ACME", None, False),
        (r"a+b?", None, False),
    ],
)
def test_required_literal(pattern: str, literal: str | None, ignorecase: bool) -> None:
    """The longest literal run on the top-level sequence, under the case flags in force there."""
    found = required_literal(pattern, FLAGS)
    if literal is None:
        assert found is None
        return
    assert found is not None and found.text == literal
    assert bool(found.flags & re.IGNORECASE) is ignorecase


def _counting_parser(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts ``re._parser.parse`` calls by pattern (the loader's and the classifier's: one module)."""
    calls: Counter[str] = Counter()
    real = regexcheck.P.parse

    def counting(pattern: str, flags: int = 0, state: object = None) -> object:
        calls[pattern] += 1
        return real(pattern, flags, state)

    regexcheck.compiled.cache_clear()
    regexcheck._parsed.cache_clear()
    monkeypatch.setattr(regexcheck.P, "parse", counting)
    return calls


def test_each_pack_regex_is_parsed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading and linting a pack parses each of its regexes once, however many checks (compile error,
    backtracking shape, required literal, trigger coverage) and flag sets look at it; the parse trees
    are released afterwards, the compiled patterns kept."""
    regex = "(?-i:(?<![A-Za-z0-9])WX[0-9]{6})"
    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: t\nrecognizers:\n  - name: wx-key\n    entity: API_TOKEN\n"
        f"    patterns: [{{name: k, regex: '{regex}', score: 0.8}}]\n"
        "    trigger: 'WX'\n    max_len: 8\n"
        "    examples: {match: ['WX123456', 'k WX654321'], no_match: ['WX12']}\n",
        encoding="utf-8",
    )
    calls = _counting_parser(monkeypatch)
    assert lint([pack], KNOWN) == []
    assert calls[regex] == 1
    assert regexcheck._parsed.cache_info().currsize == 0 and regexcheck.compiled.cache_info().currsize
    assert regexcheck.compiled(regex, FLAGS).search("x WX123456") is not None  # the shared tree compiles


def test_a_scan_pipeline_parses_each_pack_regex_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a pipeline parses a pack regex once: the classifier reads its regex reach from the
    tree the loader made (the same reach as from a parse of its own), then the trees are released."""
    from agent.classify.prefilter import regex_reach
    from agent.pipeline import build_pipeline

    regex = "(?-i:(?<![A-Za-z0-9])WX[0-9]{6}(?![0-9]))"
    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: t\nrecognizers:\n  - name: wx-key\n    entity: API_TOKEN\n"
        f"    patterns: [{{name: k, regex: '{regex}', score: 0.8}}]\n    trigger: 'WX'\n    max_len: 8\n"
        "rules:\n  - id: wx\n    desc: A WX key.\n    severity: high\n    entities: [API_TOKEN]\n",
        encoding="utf-8",
    )
    calls = _counting_parser(monkeypatch)
    pipeline = build_pipeline([pack], b"k" * 32, warm_up=False)
    assert calls[regex] == 1
    assert regexcheck._parsed.cache_info().currsize == 0
    assert regex_reach(regex) == regex_reach(regex, regexcheck.parsed) == 1
    assert calls[regex] == 3  # released: each call above parsed it anew
    found = pipeline.classifier.analyze_text("key WX123456 and WX12345678")
    assert [(r.entity_type, r.start, r.end) for r in found] == [("API_TOKEN", 4, 12)]


def test_a_pipeline_that_fails_to_load_releases_the_parse_trees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agent.pipeline import build_pipeline
    from agent.policy import PolicyError

    pack = tmp_path / "p.yaml"
    pack.write_text(
        "pack: t\nrecognizers:\n  - name: k\n    entity: API_TOKEN\n"
        "    patterns: [{name: k, regex: 'WX[0-9]{6}', score: 0.8}]\n"
        "rules:\n  - id: wx\n    desc: An unknown entity.\n    severity: high\n"
        "    entities: [NO_SUCH_ENTITY]\n",
        encoding="utf-8",
    )
    _counting_parser(monkeypatch)
    with pytest.raises(PolicyError):
        build_pipeline([pack], b"k" * 32, warm_up=False)
    assert regexcheck._parsed.cache_info().currsize == 0


#: Characters whose case ``re`` folds unusually: the Kelvin sign, long s, dotless and dotted i, micro
#: sign and mu, final sigma, sharp s, title-case digraphs, Greek symbol variants, combining ypogegrammeni.
_CASE_ALPHABET = "KkKsSſiIıİµμΜσςΣßẞǅǄǆΩωθϑϐβ\u0345ιɐ\nxyz "


@given(
    literal=st.text(_CASE_ALPHABET, min_size=1, max_size=3),
    texts=st.lists(st.text(_CASE_ALPHABET, max_size=12), max_size=5),
    ascii_only=st.booleans(),
)
def test_a_literal_ignoring_case_is_found_in_every_text_re_finds_it_in(
    literal: str, texts: list[str], ascii_only: bool
) -> None:
    """The folded search of an IGNORECASE literal misses no text where ``re`` finds it."""
    flags = re.IGNORECASE | (re.ASCII if ascii_only else 0)
    corpus = ExampleTexts.of(texts)
    held = corpus.holding(regexcheck.RequiredLiteral(literal, int(flags)))
    assert {i for i, t in enumerate(texts) if re.search(re.escape(literal), t, flags)} <= set(held)
    if "\n" not in literal and not ascii_only:  # exact, but for the newlines that join the texts
        assert held == [i for i, t in enumerate(texts) if re.search(re.escape(literal), t, flags)]


def _re_compile_error(pattern: str, flags: int) -> str | None:
    """What compiling with ``re`` itself says (the reference compile_error must agree with)."""
    try:
        re.compile(pattern, flags)
    except re.error as exc:
        return f"regex does not compile: {exc}"
    return None


#: Pieces whose look-behinds ``re``'s compiler (not its parser) refuses, at any depth, beside ones it
#: accepts and plain parse errors, so a generated pattern may hold several errors of different kinds.
_PIECES = [
    "a", "\\d", "[a-z]", "x*", "(?:a|bc)", "(a)", "\\1", "\\b", "^", "$", "(?=a+)", "(?!b)", "(?>ab*)",
    "a*+", "(?(1)a|bc)", "(?(1)ab)", "(?<=ab)", "(?<!a|bc)", "(?<=a*)", "(?<!x{2})", "(?<=(?:a|b))",
    "(?<=a{1,3})", "(?<=\\d{3}-)", "(?<!(?<=a)b)", "(?<=(?<!ab)c*)", "(?<=\\b)", "(?i:A)", "(?-i:b)",
    "(", ")", "[", "{2,1}",
]  # fmt: skip


@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6), st.sampled_from([0, FLAGS, re.VERBOSE]))
def test_compile_error_is_what_compiling_says(pieces: list[str], flags: int) -> None:
    """compile_error finds the compiler's look-behind errors without compiling: the same message, the
    same first error, and nothing where ``re`` compiles the pattern."""
    pattern = "".join(pieces)
    assert regexcheck.compile_error(pattern, flags) == _re_compile_error(pattern, flags)


@pytest.mark.parametrize(
    "pattern",
    [r"(?<=a|bc)x", r"x(?:y|(?<!a+))", r"(a)(?(1)(?<=a*)|b)", r"(?>(?<=a{1,2}))", r"(?:(?<=ab)|(?<=a?))+"],
)
def test_variable_look_behinds_are_compile_errors(pattern: str) -> None:
    assert (
        regexcheck.compile_error(pattern)
        == "regex does not compile: look-behind requires fixed-width pattern"
    )
    assert regexcheck.compile_error(pattern) == _re_compile_error(pattern, 0)


@given(
    st.lists(
        st.sampled_from([p for p in _PIECES if p not in ("(", ")", "[", "{2,1}")]), min_size=1, max_size=5
    )
)
def test_re2_is_tried_only_where_it_can_run_the_pattern(pieces: list[str]) -> None:
    """Skipping the RE2 compile of patterns with a lookaround changes no answer."""
    pattern = "".join(pieces)
    if regexcheck.compile_error(pattern) is None:
        assert regexcheck._re2_runs(pattern) is (regexcheck.linear(pattern) is not None)
