"""Policy regexes against ReDoS: RE2 wherever it can run them, a static backtracking check elsewhere.

Policy patterns run over untrusted files, so a pattern such as ``(a+)+$`` or ``(?:a?){40}a{40}`` would
let one crafted file pin a CPU for hours. Every pattern google-re2 compiles runs on RE2 (linear time,
whatever its shape: custom recognizers and exception value patterns alike). Only patterns RE2 cannot
express (lookarounds, backreferences) run on Python's ``re``, and those are refused at load time when
they show a shape behind catastrophic backtracking: a quantified group holding an unbounded quantifier
(``(a+)+``, ``(.*)*``), alternation under an unbounded quantifier whose branches can start alike
(``(a|ab)*``), a repeated group that can match the empty string (``(?:a?){40}``), and unbounded
quantifiers over the same characters with only optional items between them (``\\w*\\w*``).
Possessive quantifiers are accepted.
"""

from __future__ import annotations

import bisect
import functools
import importlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

#: ``re``'s compiler (no type stubs): it builds a pattern from a parse tree already made, see compiled().
K = importlib.import_module("re._compiler")
_ASCII = range(128)
_CATEGORY_CHARS = {
    C.CATEGORY_DIGIT: {c for c in _ASCII if chr(c).isdigit()},
    C.CATEGORY_WORD: {c for c in _ASCII if chr(c).isalnum() or chr(c) == "_"},
    C.CATEGORY_SPACE: {c for c in _ASCII if chr(c).isspace()},
}
# \D, \W, \S: the rest of ASCII (what lies beyond ASCII is left out: an approximation, see _first)
_CATEGORY_CHARS.update(
    {
        C.CATEGORY_NOT_DIGIT: set(_ASCII) - _CATEGORY_CHARS[C.CATEGORY_DIGIT],
        C.CATEGORY_NOT_WORD: set(_ASCII) - _CATEGORY_CHARS[C.CATEGORY_WORD],
        C.CATEGORY_NOT_SPACE: set(_ASCII) - _CATEGORY_CHARS[C.CATEGORY_SPACE],
    }
)
_ANY = frozenset({-1})  # "could be any character": overlaps everything non-empty
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT)
_ASSERTS = (C.ASSERT, C.ASSERT_NOT)
#: Flags the classifier compiles pack recognizers with (recognizers/custom.py: Presidio's defaults); the
#: loader checks and lint searches recognizer patterns with them (lint compiles each once).
SPEC_FLAGS = int(re.MULTILINE | re.DOTALL | re.IGNORECASE)
#: Flags as plain ints: ``int & RegexFlag`` goes through the enum's operators (~0.01 s over the shipped
#: packs' checks, most of it building the pseudo-members of flag combinations).
_IGNORECASE, _VERBOSE = int(re.IGNORECASE), int(re.VERBOSE)


@functools.lru_cache(maxsize=4096)
def compiled(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """``pattern`` compiled by ``re`` with ``flags``, remembered by (pattern, flags) and built from the
    shared parse tree (:func:`_parsed`): the loader's checks (compile error, backtracking shape) and
    lint's trigger search would otherwise parse each of the ~200 shipped formats up to four times, and
    ``re``'s own cache (512 entries) is smaller than the formats times their flag variants. The
    result's ``.pattern`` is None (``re`` only sets it when it parses the text itself). Raises
    ``re.error`` (not cached) for a pattern that does not compile."""
    if flags & _VERBOSE:  # verbose patterns parse differently from the shared flag-less tree
        return re.compile(pattern, flags)
    # a plain int, as re.compile passes it on: the compiler tests the flags at every node, and
    # RegexFlag's enum operators made that ~0.03 s of checking the shipped packs
    rx: re.Pattern[str] = K.compile(_parsed(pattern), int(flags))
    return rx


@functools.lru_cache(maxsize=4096)
def _parsed(pattern: str) -> Any:
    """``re``'s parse tree of a pattern (no flags: M, S, I and A change no node, only ``state.flags``),
    shared by compiling, the backtracking check, the required-literal search and (through
    :func:`parsed`) the classifier's regex reach; never mutated (the compiler only reads it). Raises
    ``re.error``."""
    return P.parse(pattern)


def parsed(pattern: str) -> Any:
    """The shared parse tree of ``pattern`` (parsed now unless the loader did, and it is not released
    yet): the pipeline hands this to the classifier, which walks the pack patterns' trees for their
    regex reach instead of parsing the ~200 shipped formats a second time (~30 ms of a scan's start)."""
    return _parsed(pattern)


def compile_error(pattern: str, flags: int = 0) -> str | None:
    """The ``re`` compile error of a pattern (compiled with the ``flags`` it runs with), or None.

    Found without compiling: ``re`` reports every error while parsing but one, a look-behind whose
    width varies, which its compiler finds walking the tree (:func:`_lookbehind_error`, the same walk
    and words). Compiling all ~200 shipped formats cost ~15 ms of `policy lint` and `config check`,
    and the classifier compiles the patterns it runs anyway."""
    try:
        if flags & _VERBOSE:  # verbose patterns parse differently from the shared flag-less tree
            re.compile(pattern, flags)
        else:
            _lookbehind_error(_parsed(pattern))
    except re.error as exc:
        return f"regex does not compile: {exc}"
    return None


def _lookbehind_error(items: Any) -> None:
    """Raise the ``re.error`` that ``re``'s compiler raises for the first look-behind it cannot compile
    (``re._compiler._compile``: its order, its checks, its messages), if any."""
    for op, av in _items(items):
        if op in _ASSERTS and av[0] < 0:
            lo, hi = av[1].getwidth()
            if lo > K.MAXCODE:
                raise re.error("looks too much behind")
            if lo != hi:
                raise re.error("look-behind requires fixed-width pattern")
        for sub in _children(op, av):
            _lookbehind_error(sub)


def _children(op: object, av: Any) -> tuple[Any, ...]:
    """The sub-sequences of one node that ``re``'s compiler compiles, in its order."""
    if op in _REPEATS or op is C.POSSESSIVE_REPEAT:
        return (av[2],)
    if op is C.SUBPATTERN:
        return (av[-1],)
    if op is C.ATOMIC_GROUP:
        return (av,)
    if op in _ASSERTS:
        return (av[1],)
    if op is C.BRANCH:
        return tuple(av[1])
    if op is C.GROUPREF_EXISTS:
        return (av[1], av[2]) if av[2] else (av[1],)
    return ()


def _has_lookaround(items: Any) -> bool:
    """Whether a parse tree holds a lookahead or look-behind: RE2 runs neither."""
    return any(
        op in _ASSERTS or any(_has_lookaround(s) for s in _children(op, av)) for op, av in _items(items)
    )


def release_parse_trees() -> None:
    """Drop the cached parse trees once packs are checked (the compiled patterns stay): tens of
    thousands of small objects a daemon would otherwise keep, and every later collection (including
    the one at exit) would walk."""
    _parsed.cache_clear()


def backtracking_risk(pattern: str) -> str | None:
    """A short reason when the pattern can backtrack exponentially, else None."""
    try:
        tree = _parsed(pattern)
    except re.error:
        return None  # reported by compile_error
    return _walk(_items(tree), inside_unbounded=False)


#: One node of ``re._parser``'s tree: (opcode, argument); the argument's shape depends on the opcode
#: (a repeat's (min, max, items), a group's (..., items), a branch's (None, [items, ...]), a literal's
#: code point), which is why it is Any here and read through the helpers below.
Node = tuple[Any, Any]


def _items(seq: Any) -> list[Node]:
    """The nodes of a parse-tree sequence: a ``SubPattern``'s own list (read only, never changed), as
    iterating one calls its Python ``__getitem__`` for every node (~50,000 calls over the shipped packs)."""
    return seq.data if type(seq) is P.SubPattern else list(seq)


def _repeat(av: Any) -> tuple[int, int, list[Node]]:
    """A repeat's (min, max, items)."""
    lo, hi, sub = av
    return int(lo), int(hi), _items(sub)


def _unbounded(hi: int) -> bool:
    return hi == C.MAXREPEAT or hi > 64


def _inner(op: object, av: Any) -> list[list[Node]]:
    """The sequences nested directly in a group, branch or lookaround node (none for other nodes)."""
    if op is C.SUBPATTERN:
        return [_items(av[-1])]
    if op is C.BRANCH:
        return [_items(b) for b in av[1]]
    if op in (C.ASSERT, C.ASSERT_NOT):
        return [_items(av[1])]
    return []


def _walk(items: list[Node], inside_unbounded: bool) -> str | None:
    if _adjacent_overlap(items):
        return "adjacent quantifiers over the same characters (e.g. \\w*\\w*) backtrack polynomially"
    for op, av in items:
        if op in _REPEATS:
            found = _repeat_risk(av, inside_unbounded)
        else:
            found = next((f for seq in _inner(op, av) if (f := _walk(seq, inside_unbounded))), None)
        if found:
            return found
    return None


def _repeat_risk(av: Any, inside_unbounded: bool) -> str | None:
    """What makes one quantifier (and what it repeats) backtrack catastrophically, if anything."""
    _lo, hi, sub = _repeat(av)
    unbounded = _unbounded(hi)
    if unbounded and inside_unbounded:
        return "nested quantifiers (e.g. (a+)+) can backtrack catastrophically"
    if unbounded and _overlapping_branch(sub):
        return "overlapping alternation under a quantifier can backtrack catastrophically"
    found = _walk(sub, inside_unbounded or unbounded)
    if found:
        return found
    if hi > 1 and _nullable(sub):
        return "a repeated group that can match nothing (e.g. (?:a?){40}) backtracks exponentially"
    return None


def _nullable(items: list[Node]) -> bool:
    """Whether the sequence can match the empty string (conservative: unknown constructs are not)."""
    for op, av in items:
        if op in _REPEATS:
            lo, _hi, sub = _repeat(av)
            if lo > 0 and not _nullable(sub):
                return False
        elif op is C.SUBPATTERN:
            if not _nullable(_items(av[-1])):
                return False
        elif op is C.BRANCH:
            if not any(_nullable(_items(b)) for b in av[1]):
                return False
        elif op not in (C.AT, C.ASSERT, C.ASSERT_NOT):
            return False
    return True


def _adjacent_overlap(items: list[Node]) -> bool:
    """Two unbounded quantifiers in one sequence over overlapping characters, with nothing but optional
    items between them: each split of a run between them is a path to try (O(n^k) for k of them)."""
    previous: frozenset[int] | None = None
    for op, av in items:
        if op in _REPEATS and _unbounded(_repeat(av)[1]):
            first = _first(_repeat(av)[2]) or _ANY
            if previous is not None and (first is _ANY or previous is _ANY or first & previous):
                return True
            previous = first
        elif not _nullable([(op, av)]):
            previous = None
    return False


def _overlapping_branch(items: list[Node]) -> bool:
    for op, av in items:
        if op is C.BRANCH:
            firsts = [_first(_items(b)) for b in av[1]]
            for i, a in enumerate(firsts):
                for b in firsts[i + 1 :]:
                    if not a or not b or a is _ANY or b is _ANY or a & b:
                        return True
        elif op is C.SUBPATTERN and _overlapping_branch(_items(av[-1])):
            return True
    return False


def _first(items: list[Node]) -> frozenset[int]:
    """Characters a sequence can start with (ASCII approximation); empty set: may match empty."""
    for op, av in items:
        if op is C.LITERAL:
            return frozenset({int(av)}) if av < 128 else _ANY
        if op is C.IN:
            return _first_in(list(av))
        if op is C.SUBPATTERN:
            inner = _first(_items(av[-1]))
            if inner:
                return inner
            continue
        if op in _REPEATS:
            lo, _hi, sub = _repeat(av)
            inner = _first(sub)
            if lo == 0:
                return _ANY if inner is _ANY else inner  # optional: conservatively its first set
            return inner
        if op is C.AT:
            continue
        return _ANY  # ANY, NOT_LITERAL, CATEGORY, BRANCH...: be conservative
    return frozenset()


def _first_in(members: list[Node]) -> frozenset[int]:
    """The characters of a character class ``[...]`` (ASCII approximation, -1: beyond ASCII)."""
    chars: set[int] = set()
    negate = any(op is C.NEGATE for op, _ in members)
    for op, av in members:
        if op is C.LITERAL:
            chars.add(int(av) if av < 128 else -1)
        elif op is C.RANGE:
            chars.update(range(int(av[0]), min(int(av[1]), 127) + 1))
        elif op is C.CATEGORY:
            chars.update(_CATEGORY_CHARS.get(av, {-1}))
    if negate:  # the rest of ASCII, plus anything beyond it
        return _ANY if -1 in chars or not chars else frozenset(set(_ASCII) - chars)
    return _ANY if -1 in chars else frozenset(chars)


@functools.lru_cache(maxsize=4096)
def linear(pattern: str, flags: str = "") -> Any:
    """``pattern`` compiled by google-re2 (linear time, inline ``flags`` such as "ims"), or None when RE2
    cannot express it (lookarounds, backreferences)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # a lookaround is expected here, not an error worth a line on stderr
    try:
        return re2.compile(f"(?{flags})" + pattern if flags else pattern, options)
    except Exception:  # re2.error; TypeError/ValueError from the wrapper
        return None


def value_pattern(pattern: str) -> Any:
    """An exception value pattern as rules run it: RE2 wherever it can run the pattern, else ``re``
    (raises ``re.error``). The loader compiles with it, and so does the compiled-set cache."""
    return linear(pattern) or re.compile(pattern)


def pattern_problem(pattern: str, flags: int = 0) -> str | None:
    """Why a policy regex is refused: it does not compile, or only Python's backtracking ``re`` can run
    it (RE2 cannot express it) and it has a catastrophic-backtracking shape. None: accepted."""
    problem = compile_error(pattern, flags)
    if problem is None and not _re2_runs(pattern):
        problem = backtracking_risk(pattern)
    return problem


def _re2_runs(pattern: str) -> bool:
    """Whether google-re2 compiles ``pattern`` (a pattern ``re`` parses): lookarounds need no try, RE2
    has none (most shipped formats hold one: ~10 ms of RE2 compiles that fail)."""
    return not _has_lookaround(_parsed(pattern)) and linear(pattern) is not None


@functools.lru_cache(maxsize=4096)
def trigger_re2(pattern: str) -> Any:
    """A prefilter trigger compiled by google-re2 (raises its error): remembered, so the loader's
    compile check and lint's contract check (:func:`trigger_violations`) compile each trigger once."""
    import re2

    return re2.compile(pattern)


def re2_compile_error(pattern: str) -> str | None:
    """Why a prefilter trigger does not compile in google-re2 (the engine that runs it), or None."""
    try:
        trigger_re2(pattern)
    except Exception as exc:  # re2.error, or TypeError/ValueError from the wrapper
        return f"trigger does not compile in re2: {exc}"
    return None


@dataclass(frozen=True)
class ExampleTexts:
    """Example texts joined once (by newlines), so a pattern's required literal is looked up over all of
    them in one C-level pass instead of one regex call per text."""

    texts: tuple[str, ...]
    joined: str
    starts: tuple[int, ...]
    #: ``joined`` case-folded as ``re`` compares characters under IGNORECASE (:func:`fold`)
    folded: str

    @classmethod
    def of(cls, texts: Iterable[str]) -> ExampleTexts:
        items = tuple(texts)
        starts, at = [], 0
        for text in items:
            starts.append(at)
            at += len(text) + 1
        joined = "\n".join(items)
        return cls(items, joined, tuple(starts), fold(joined))

    def holding(self, literal: RequiredLiteral | None) -> list[int]:
        """Indices of the texts an occurrence of ``literal`` overlaps (every text when there is none)."""
        if literal is None:
            return list(range(len(self.texts)))
        found: set[int] = set()
        for start, end in literal.spans(self.joined, self.folded):
            first = bisect.bisect_right(self.starts, start) - 1
            last = bisect.bisect_right(self.starts, end - 1) - 1
            found.update(range(first, last + 1))
        return sorted(found)

    def holding_all(self, literals: Sequence[RequiredLiteral]) -> list[int]:
        """Indices of the texts that hold every one of ``literals`` (every text when there is none):
        the texts holding the longest, then of those the ones each other literal occurs in."""
        if not literals:
            return list(range(len(self.texts)))
        longest = max(literals, key=lambda r: len(r.text))
        held = self.holding(longest)
        for literal in literals:
            if literal is longest or not held:
                continue
            # ignoring case: the literal's fold in the folded texts, as spans() finds it
            hay, needle = (
                (self.folded, fold(literal.text))
                if literal.flags & _IGNORECASE
                else (self.joined, literal.text)
            )
            held = [
                t for t in held if hay.find(needle, self.starts[t], self.starts[t] + len(self.texts[t])) >= 0
            ]
        return held


@dataclass(frozen=True)
class RequiredLiteral:
    """Characters every non-empty match of a pattern holds in a row, and the flags they match under."""

    text: str
    flags: int

    def spans(self, haystack: str, folded: str | None = None) -> Iterator[tuple[int, int]]:
        """Where the literal occurs: ``str.find`` when case matters (much faster than a regex scan).
        Ignoring case: ``str.find`` of its :func:`fold` in ``folded`` (``fold(haystack)``) finds every
        place ``re`` matches it (also overlapping ones, which holding() may count); without ``folded``,
        ``re`` with the pattern's own flags (~0.2 ms a search of the shipped packs' examples)."""
        text = self.text
        if self.flags & _IGNORECASE:
            if folded is None:
                yield from (m.span() for m in compiled(re.escape(text), self.flags).finditer(haystack))
                return
            text, haystack = fold(text), folded
        at = haystack.find(text)
        while at >= 0:
            yield at, at + len(text)
            at = haystack.find(text, at + 1)


#: ``re``'s per-character lower case and its extra case classes ("i"/"ı", "s"/"ſ", "µ"/"μ", ...).
_sre = importlib.import_module("_sre")
_EXTRA_CASES: dict[int, tuple[int, ...]] = importlib.import_module("re._casefix")._EXTRA_CASES


def fold(text: str) -> str:
    """``text`` with each character replaced by one representative of the characters ``re`` matches it
    with under IGNORECASE: its lower case (``re``'s own, one code point for one) and, for the few with
    extra cases, the smallest of those. Two characters match each other ignoring case exactly when
    their folds are equal (with re.ASCII fewer do: folding then finds a superset), and the fold keeps
    every offset."""
    table: dict[int, int] = {}
    for ch in set(text):
        low = _sre.unicode_tolower(ord(ch))
        table[ord(ch)] = min((low, *_EXTRA_CASES.get(low, ())))
    return text.translate(table)


#: Flags that change what a literal character matches (the rest do not matter to a literal).
#: A plain int: required_literal masks every node's flags with it, and RegexFlag's enum operators
#: cost ~5 ms over the shipped packs.
_LITERAL_FLAGS = int(re.IGNORECASE | re.ASCII)


def required_literal(pattern: str, flags: int = 0) -> RequiredLiteral | None:
    """A literal every non-empty match of ``pattern`` holds, with the flags it is matched under (the
    longest run of literal characters on the pattern's top-level sequence, groups flattened and
    zero-width assertions skipped), or None when there is none. A text that does not hold it holds no
    match: that makes it a sound prefilter."""
    runs = required_literals(pattern, flags)
    return max(runs, key=lambda r: len(r.text)) if runs else None  # the first of the longest


def required_literals(pattern: str, flags: int = 0) -> list[RequiredLiteral]:
    """Every run of literal characters on the pattern's top-level sequence (see
    :func:`required_literal`), in pattern order: every non-empty match holds each of them."""
    if flags & _VERBOSE:
        return []  # verbose patterns parse differently from the shared flag-less tree
    try:
        tree = _parsed(pattern)
    except re.error:
        return []
    out: list[RequiredLiteral] = []
    run, run_flags = "", 0
    for node, node_flags in [*_sequence(_items(tree), int(tree.state.flags | flags)), (None, 0)]:
        scope = node_flags & _LITERAL_FLAGS
        if node is not None and node[0] is C.LITERAL and (not run or scope == run_flags):
            run, run_flags = run + chr(node[1]), scope
            continue
        if run:
            out.append(RequiredLiteral(run, run_flags))
        run, run_flags = "", 0
        if node is not None and node[0] is C.LITERAL:
            run, run_flags = chr(node[1]), scope
    return out


def _sequence(items: list[Node], flags: int) -> Iterator[tuple[Node, int]]:
    """The items every match passes through in order, with the flags in force at each: groups are
    flattened (their scoped flags applied), zero-width assertions dropped (they consume nothing)."""
    for op, av in items:
        if op is C.SUBPATTERN:
            _group, add, remove, sub = av
            yield from _sequence(_items(sub), (flags | add) & ~remove)
        elif op not in (C.AT, C.ASSERT, C.ASSERT_NOT):
            yield (op, av), flags


def trigger_violations(
    patterns: Sequence[str],
    trigger: str,
    max_len: int | None,
    texts: ExampleTexts | Iterable[str],
    flags: int,
) -> list[str]:
    """Matches of ``patterns`` in ``texts`` that break the prefilter contract, described without values.

    The contract (agent/classify/prefilter.py): every match contains a ``trigger`` match and is at most
    ``max_len`` characters long (``None``: holds no whitespace). A violation means the prefilter could
    skip a real finding, so `policy lint` reports it as an error. Only the texts holding every required
    literal of a pattern are searched (pass an :class:`ExampleTexts` to join them once for many calls).
    """
    corpus = texts if isinstance(texts, ExampleTexts) else ExampleTexts.of(texts)
    trig = trigger_re2(trigger)
    problems: list[str] = []
    for i, pattern in enumerate(patterns):
        held = corpus.holding_all(required_literals(pattern, flags))
        if not held:
            continue  # no text can hold a match: not even compiled
        rx = compiled(pattern, flags)
        for t in held:
            for m in rx.finditer(corpus.texts[t]):
                problem = _violation(m.group(), trig, max_len)
                if problem:
                    problems.append(f"pattern {i}: {problem}")
    return problems


def _violation(value: str, trig: Any, max_len: int | None) -> str | None:
    """How one match breaks the contract (never quoting it), or None."""
    if not value:
        return None
    if not trig.search(value):
        return f"a {len(value)}-character match holds no trigger match"
    if max_len is None and any(c.isspace() for c in value):
        return "a match holds whitespace but max_len is null"
    if max_len is not None and len(value) > max_len:
        return f"a {len(value)}-character match is longer than max_len"
    return None
