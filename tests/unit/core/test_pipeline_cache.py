"""build_pipeline with a policy cache: a second build loads no pack and parses no pattern for its
regex reach, and builds the same classifier (same fast groups, same reach) with the same verdicts; a
reach table that is not ours, not sealed with our key or of another shape is never used."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from agent import pipeline as pipeline_module
from agent.models import FileRef
from agent.pipeline import Pipeline, build_pipeline
from agent.policy import loader

KEY = bytes(range(32))
REACH_ENTRY = "checked-packs-regex-reach.json"
#: Generated values (checksum-valid, nobody's): a card, an IBAN, a mail address near a name.
TEXT = "Card 4529 3817 4625 0198, IBAN DE89 3704 0044 0532 0130 00, contact jane.roe@example.com\n"


class Counts:
    """How often the packs were loaded and a pattern was parsed for its regex reach."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loads = self.reaches = 0
        real_load, real_reach = loader.load_policies, pipeline_module.regex_reach

        def load(*args: object, **kwargs: object) -> object:
            self.loads += 1
            return real_load(*args, **kwargs)  # type: ignore[arg-type]

        def reach(*args: object, **kwargs: object) -> int | None:
            self.reaches += 1
            return real_reach(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(loader, "load_policies", load)
        monkeypatch.setattr(pipeline_module, "regex_reach", reach)


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Counts:
    return Counts(monkeypatch)


@pytest.fixture
def state(tmp_path: Path) -> Path:
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    return d


def shape(p: Pipeline) -> tuple[object, ...]:
    """What the classifier's construction decided: fast groups, each trigger's reach."""
    c = p.classifier
    triggers = c._prefilter.triggers if c._prefilter is not None else ()
    return dict(c._group_entity), sorted((t.entity, t.reach) for t in triggers)


def verdict(p: Pipeline, tmp_path: Path) -> object:
    f = tmp_path / "contacts.txt"
    f.write_text(TEXT)
    v = p.scan(FileRef(str(f), root=str(tmp_path)))
    return [(x.rule, x.entity, x.count, x.fingerprint, x.excerpt) for x in v.findings]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[tuple[object, ...], object]:
    """The classifier and verdict built with no cache at all."""
    p = build_pipeline(None, KEY, warm_up=False)
    return shape(p), verdict(p, tmp_path_factory.mktemp("ref"))


def test_a_second_build_loads_and_parses_nothing_and_builds_the_same(
    state: Path, tmp_path: Path, counts: Counts, reference: tuple[tuple[object, ...], object]
) -> None:
    first = build_pipeline(None, KEY, warm_up=False, policy_cache=state)
    assert counts.loads == 1 and counts.reaches > 0  # every pattern's reach, computed once
    computed = counts.reaches
    again = build_pipeline(None, KEY, warm_up=False, policy_cache=state)
    assert (counts.loads, counts.reaches) == (1, computed)  # from the state dir
    assert shape(first) == shape(again) == reference[0]
    assert verdict(again, tmp_path) == verdict(first, tmp_path) == reference[1]
    assert reference[1]  # the file does alert: the comparison says something
    assert (state / REACH_ENTRY).stat().st_mode & 0o777 == 0o600


def _seal(key: bytes) -> bytes:
    return hmac.new(key, b"dropwarden regex reach", hashlib.sha256).digest()


def _rewrite(state: Path, change: object, key: bytes = KEY) -> None:
    """The reach entry with its table changed by ``change`` (a function of the table), sealed with ``key``."""
    entry = state / REACH_ENTRY
    body = json.loads(entry.read_bytes().partition(b"\n")[2])
    body["value"] = change(body["value"])  # type: ignore[operator]
    data = json.dumps(body).encode()
    entry.write_bytes(hmac.new(_seal(key), data, hashlib.sha256).hexdigest().encode() + b"\n" + data)


def _all(value: object) -> object:
    return lambda table: dict.fromkeys(table, value)


@pytest.mark.parametrize(
    ("change", "key", "used"),
    [
        (_all(0), KEY, True),  # sealed with our key: used as it is (so the others can fail)
        (_all(0), b"", False),
        (_all(0), b"another agent key", False),
        (_all(-1), KEY, False),
        (_all(True), KEY, False),
        (_all("0"), KEY, False),
        (_all(1.5), KEY, False),
        (lambda table: list(table), KEY, False),
    ],
    ids=["ours", "no-key", "other-key", "negative", "bool", "string", "float", "list"],
)
def test_a_reach_table_is_used_only_as_we_wrote_it(
    change: object,
    key: bytes,
    used: bool,
    state: Path,
    counts: Counts,
    reference: tuple[tuple[object, ...], object],
) -> None:
    build_pipeline(None, KEY, warm_up=False, policy_cache=state)
    computed = counts.reaches
    _rewrite(state, change, key)
    p = build_pipeline(None, KEY, warm_up=False, policy_cache=state)
    if used:
        assert counts.reaches == computed
        assert {reach for _, reach in shape(p)[1]} == {0}  # type: ignore[misc]
    else:
        assert counts.reaches == 2 * computed
        assert shape(p) == reference[0]
        build_pipeline(None, KEY, warm_up=False, policy_cache=state)
        assert counts.reaches == 2 * computed  # the table was written again


def test_reach_is_computed_again_when_its_code_changes(
    state: Path, counts: Counts, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_pipeline(None, KEY, warm_up=False, policy_cache=state)
    computed = counts.reaches
    monkeypatch.setattr(pipeline_module.sys, "version", "another interpreter")  # another re parser
    build_pipeline(None, KEY, warm_up=False, policy_cache=state)
    assert counts.reaches == 2 * computed


def test_no_state_dir_no_table(tmp_path: Path, counts: Counts) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    for where in (None, open_dir):
        build_pipeline(None, KEY, warm_up=False, policy_cache=where)
    assert counts.loads == 2
    assert list(open_dir.iterdir()) == []


def test_no_table_when_the_reach_code_cannot_be_read(
    state: Path, counts: Counts, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(pipeline_module.prefilter, "__file__", str(tmp_path / "gone.py"))
    build_pipeline(None, KEY, warm_up=False, policy_cache=state)
    computed = counts.reaches
    build_pipeline(None, KEY, warm_up=False, policy_cache=state)
    assert computed > 0 and counts.reaches == 2 * computed  # computed both times
    assert not (state / REACH_ENTRY).exists()
    assert (state / "checked-packs-policies.json").exists()  # the packs are still remembered
