"""The compiled-policy cache: a hit is the very PolicySet the loader builds, without loading; any entry
that is not ours, not sealed with our key, damaged or of another shape is a miss (the packs load as
usual and the entry is written again), and a pack with an error is never remembered."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import pickle
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.policy import PolicyError, PolicySet, load_policies
from agent.policy import loader as loader_module
from agent.policy.compiled import Rule
from agent.policy.setcache import POLICY_SET, cached_policies
from tests.unit.policy.conftest import KNOWN, pack_with_value_set
from tests.unit.policy.test_loader import SHIPPED

KEY = bytes(range(32))
ENTRY = "checked-packs-policies.json"

PACK = """\
pack: local
recognizers:
  - name: ticket-number
    entity: TICKET
    patterns:
      - {name: ticket, regex: 'TCK-\\d{6}(?=\\b)', score: 0.7}
    context: [ticket]
rules:
  - id: card-rule
    desc: A test rule.
    severity: high
    entities: [CREDIT_CARD, TICKET]
    min_score: 0.6
    window: {tokens: 12}
    attributes: {role: [Account Holder]}
    exceptions:
      values: ["4111 1111 1111 1111"]
      value_sets: [allow.txt]
      value_patterns: ['^5500', '^(?=9)\\d+$']
      paths: ["*.tmp"]
    examples:
      match: ["a", "b"]
      no_match: ["c", "d"]
"""


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    return pack_with_value_set(tmp_path, PACK, "5105105105105100\n")


class Loads:
    """The real loader, counting how often it ran."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = loader_module.load_policies

        def counted(*args: object, **kwargs: object) -> PolicySet:
            self.count += 1
            return real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(loader_module, "load_policies", counted)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Loads:
    return Loads(monkeypatch)


def same(a: PolicySet, b: PolicySet) -> bool:
    """Equal field by field; patterns by their text and engine (RE2 or re)."""

    def plain(rule: Rule) -> tuple[object, ...]:
        patterns = tuple((type(p), p.pattern) for p in rule.allow_patterns)
        return (*(getattr(rule, f) for f in rule.__dataclass_fields__ if f != "allow_patterns"), patterns)

    return (
        [plain(r) for r in a.rules] == [plain(r) for r in b.rules]
        and (a.recognizers, a.digest, a.disabled_by) == (b.recognizers, b.digest, b.disabled_by)
        and a == b
    )


@pytest.mark.parametrize("packs", ["shipped", "local"])
def test_a_hit_is_the_policy_set_the_loader_builds(
    packs: str, state: Path, pack_dir: Path, loads: Loads
) -> None:
    paths = [SHIPPED] if packs == "shipped" else [pack_dir]
    known = KNOWN | {"TICKET"}
    fresh = load_policies(paths, known)
    assert same(cached_policies(paths, known, state, KEY), fresh) and loads.count == 1
    hit = cached_policies(paths, known, state, KEY)
    assert loads.count == 1  # answered from the entry
    assert same(hit, fresh)
    assert (state / ENTRY).stat().st_mode & 0o777 == 0o600
    if packs == "local":  # the pack's own shapes came back: RE2 and re patterns, frozensets, windows
        rule = hit.rules[0]
        engines = {type(p).__module__ for p in rule.allow_patterns}
        assert engines == {"re2", "re"}
        assert rule.allow_values >= {"5105105105105100", "4111111111111111"}
        assert rule.window == ("tokens", 12) and rule.attributes == (("role", frozenset({"account holder"})),)
        assert hit.recognizers[0].patterns == (("ticket", r"TCK-\d{6}(?=\b)", 0.7),)


def test_no_entry_means_a_load_each_time(tmp_path: Path, pack_dir: Path, loads: Loads) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    for where in (None, open_dir, tmp_path / "absent"):
        cached_policies([pack_dir], KNOWN | {"TICKET"}, where, KEY)
        cached_policies([pack_dir], KNOWN | {"TICKET"}, where, KEY)
    assert loads.count == 6
    assert list(open_dir.iterdir()) == []


def test_a_changed_pack_value_set_or_entity_list_is_a_miss(state: Path, pack_dir: Path, loads: Loads) -> None:
    known = KNOWN | {"TICKET"}
    first = cached_policies([pack_dir], known, state, KEY)
    (pack_dir / "allow.txt").write_text("5105105105105100\n4012888888881881\n")
    second = cached_policies([pack_dir], known, state, KEY)
    assert loads.count == 2 and "4012888888881881" in second.rules[0].allow_values
    assert second.digest != first.digest
    (pack_dir / "local.yaml").write_text(PACK.replace("severity: high", "severity: critical"))
    assert cached_policies([pack_dir], known, state, KEY).rules[0].severity == "critical"
    assert loads.count == 3
    cached_policies([pack_dir], known | {"EDM_MATCH_2"}, state, KEY)  # what the detectors produce
    assert loads.count == 4


def test_a_pack_with_an_error_raises_each_time_and_is_not_stored(
    state: Path, pack_dir: Path, loads: Loads
) -> None:
    (pack_dir / "local.yaml").write_text(PACK.replace("entities: [CREDIT_CARD, TICKET]", "entities: [NOPE]"))
    for _ in range(2):
        with pytest.raises(PolicyError, match="unknown entity 'NOPE'"):
            cached_policies([pack_dir], KNOWN, state, KEY)
    assert loads.count == 2
    assert not (state / ENTRY).exists()


def _body(state: Path) -> dict[str, object]:
    return json.loads((state / ENTRY).read_bytes().partition(b"\n")[2])  # type: ignore[no-any-return]


def _seal(key: bytes) -> bytes:
    return hmac.new(key, b"dropwarden compiled policy cache", hashlib.sha256).digest()


def _write(state: Path, body: dict[str, object], key: bytes = KEY) -> None:
    """Store ``body`` as the entry, sealed with ``key`` as the cache seals (0600, ours)."""
    data = json.dumps(body).encode()
    mac = hmac.new(_seal(key), data, hashlib.sha256).hexdigest().encode()
    (state / ENTRY).write_bytes(mac + b"\n" + data)
    (state / ENTRY).chmod(0o600)


def _disable_every_rule(body: dict[str, object]) -> dict[str, object]:
    """The stored set with every rule switched off: what a forger would want a scan to run."""
    value = body["value"]
    assert isinstance(value, list)
    enabled = [name for name in Rule.__dataclass_fields__].index("enabled")
    for rule in value[0]:
        rule[enabled] = False
    return body


def test_only_an_entry_sealed_with_our_key_is_used(state: Path, pack_dir: Path, loads: Loads) -> None:
    """The seal is what stands between a forged entry and the scan: sealed with our key, the forged
    set would be used (so this test can fail); with any other key or none it is a miss."""
    known = KNOWN | {"TICKET"}
    good = cached_policies([pack_dir], known, state, KEY)
    forged = _disable_every_rule(_body(state))
    for other in (b"", bytes(32), KEY[:-1] + b"\x00"):
        _write(state, forged, key=other)
        assert same(cached_policies([pack_dir], known, state, KEY), good)
    assert loads.count == 4
    _write(state, forged)
    assert not any(r.enabled for r in cached_policies([pack_dir], known, state, KEY).rules)
    assert loads.count == 4
    assert same(cached_policies([pack_dir], known, state, b"another agent key"), good)
    assert loads.count == 5  # a scan with another key (--key-file) loads the packs again


def _field(name: str) -> int:
    return list(Rule.__dataclass_fields__).index(name)


def _rule_change(name: str, value: object) -> Callable[[list[object]], None]:
    def change(stored: list[object]) -> None:
        rules = stored[0]
        assert isinstance(rules, list)
        rules[0][_field(name)] = value

    return change


def _set(index: int, value: object) -> Callable[[list[object]], None]:
    def change(stored: list[object]) -> None:
        stored[index] = value

    return change


@pytest.mark.parametrize(
    "change",
    [
        _rule_change("min_score", True),  # a bool is no number
        _rule_change("min_count", 1.5),
        _rule_change("enabled", 1),
        _rule_change("entities", "CREDIT_CARD"),  # a string is not a list of names
        _rule_change("entities", [["CREDIT_CARD"]]),
        _rule_change("window", ["tokens", 12, 1]),
        _rule_change("attributes", {"role": ["x"]}),
        _rule_change("allow_patterns", ["(unclosed"]),
        _rule_change("examples_require", 7),
        _set(0, [[]]),  # a rule without fields
        _set(1, [["only", "three", "fields"]]),
        _set(2, None),  # no digest
        _set(3, [["a", "b", "c"]]),
        lambda stored: stored.append("extra"),
        lambda stored: stored.clear(),
    ],
    ids=[
        "bool-score",
        "float-count",
        "int-enabled",
        "str-set",
        "nested-set",
        "window-len",
        "dict-attrs",
        "bad-pattern",
        "int-require",
        "empty-rule",
        "short-spec",
        "no-digest",
        "disabled-by",
        "extra",
        "empty",
    ],
)
def test_a_sealed_entry_of_another_shape_is_a_miss(
    change: Callable[[list[object]], None], state: Path, pack_dir: Path, loads: Loads
) -> None:
    known = KNOWN | {"TICKET"}
    good = cached_policies([pack_dir], known, state, KEY)
    body = _body(state)
    value = body["value"]
    assert isinstance(value, list)
    change(value)
    _write(state, body)
    assert same(cached_policies([pack_dir], known, state, KEY), good)
    assert loads.count == 2
    assert same(cached_policies([pack_dir], known, state, KEY), good) and loads.count == 2  # rewritten


def _sealed(body: bytes) -> bytes:
    return hmac.new(_seal(KEY), body, hashlib.sha256).hexdigest().encode() + b"\n" + body


def _elsewhere(entry: Path) -> None:
    target = entry.parent.parent / "elsewhere.json"
    entry.rename(target)
    entry.symlink_to(target)


def _fifo(entry: Path) -> None:
    entry.unlink()
    os.mkfifo(entry, 0o600)


def _directory(entry: Path) -> None:
    entry.unlink()
    entry.mkdir(mode=0o700)


def _huge(entry: Path) -> None:
    with entry.open("ab") as f:
        f.truncate(8 * 1024 * 1024)


#: Ways an entry gets damaged, or is not ours to trust.
DAMAGE: dict[str, Callable[[Path], object]] = {
    "truncated": lambda e: e.write_bytes(e.read_bytes()[: e.stat().st_size // 2]),
    "garbage": lambda e: e.write_bytes(os.urandom(e.stat().st_size)),
    "empty": lambda e: e.write_bytes(b""),
    "no-seal": lambda e: e.write_bytes(e.read_bytes().partition(b"\n")[2]),
    # never unpickled: a pickle is only bytes that are no sealed JSON
    "pickle": lambda e: e.write_bytes(pickle.dumps(os.system)),
    "nested": lambda e: e.write_bytes(_sealed(b"[" * 100_000 + b"]" * 100_000)),
    "world-writable": lambda e: e.chmod(0o666),
    "group-readable": lambda e: e.chmod(0o640),
    "symlink": _elsewhere,
    "fifo": _fifo,
    "directory": _directory,
    "huge": _huge,
}


@pytest.mark.parametrize("how", list(DAMAGE))
def test_a_damaged_or_foreign_entry_is_never_used(
    how: str, state: Path, pack_dir: Path, loads: Loads
) -> None:
    known = KNOWN | {"TICKET"}
    good = cached_policies([pack_dir], known, state, KEY)
    entry = state / ENTRY
    if how in ("world-writable", "group-readable", "symlink"):  # a well-sealed set a scan must not trust
        _write(state, _disable_every_rule(_body(state)))
    DAMAGE[how](entry)
    assert same(cached_policies([pack_dir], known, state, KEY), good)
    assert loads.count == 2
    if how != "directory":  # the entry is written again, private and usable
        assert same(cached_policies([pack_dir], known, state, KEY), good) and loads.count == 2
        assert entry.stat().st_mode & 0o777 == 0o600 and not entry.is_symlink()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_an_entry_or_state_dir_of_another_user_is_never_used(
    state: Path, pack_dir: Path, loads: Loads
) -> None:
    known = KNOWN | {"TICKET"}
    good = cached_policies([pack_dir], known, state, KEY)
    _write(state, _disable_every_rule(_body(state)))
    os.chown(state / ENTRY, 65534, 65534)
    assert same(cached_policies([pack_dir], known, state, KEY), good) and loads.count == 2
    body = _body(state)  # written again: ours, the good set
    (state / ENTRY).unlink()
    _write(state, _disable_every_rule(body))
    os.chown(state, 65534, 65534)  # a state dir of another user: neither read nor written
    assert same(cached_policies([pack_dir], known, state, KEY), good) and loads.count == 3
    assert not any(r.enabled for r in POLICY_SET.decode(_body(state)["value"]).rules)  # type: ignore[union-attr]


def test_value_patterns_come_back_compiled_as_the_loader_compiles_them(
    state: Path, pack_dir: Path, loads: Loads
) -> None:
    known = KNOWN | {"TICKET"}
    cached_policies([pack_dir], known, state, KEY)
    rule = cached_policies([pack_dir], known, state, KEY).rules[0]
    assert loads.count == 1
    by_text = {p.pattern: p for p in rule.allow_patterns}
    assert isinstance(by_text["^(?=9)\\d+$"], re.Pattern)  # a lookahead: RE2 cannot run it
    assert by_text["^5500"].search("5500000000000004") and by_text["^(?=9)\\d+$"].search("9123")
