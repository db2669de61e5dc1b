"""The compiled policy set, remembered: a scan of unchanged packs starts without YAML, the pydantic
pack schema or the regex checks.

Loading the shipped packs costs a launch ~0.2 CPU s (importing PyYAML, pydantic and the schema ~0.12 s,
then parsing, validating and checking ~200 regexes ~0.09 s), for a result that depends only on bytes:
the same key as the checked-packs cache (agent/policy/checkcache.py: pack and value-set bytes, paths,
entity names, the policy code and libraries). The PolicySet is stored there as JSON data, field by
field as the dataclasses declare their types, and read back the same way: a value of another shape
is a miss, never a guess. Exception value patterns are compiled again as the loader compiles them.

The entry is sealed with an HMAC keyed by the agent's secret key: a scan trusts these rules as it
trusts the packs, so an entry not written with that key (another key, a copy, an edit) is a miss and
the packs are loaded as usual. A pack with an error is never stored: it raises each time.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agent.policy.checkcache import Codec, Sources, remembered, seal_for
from agent.policy.compiled import PolicySet
from agent.policy.regexcheck import value_pattern

#: The entry's kind (its file: checked-packs-policies.json).
KIND = "policies"
_SEAL_LABEL = b"dropwarden compiled policy cache"


def cached_policies(
    paths: Sequence[str | Path],
    known_entities: frozenset[str],
    state_dir: str | Path | None,
    key: bytes,
    sources: Sources | None = None,
    keep_parse_trees: bool = False,
) -> PolicySet:
    """:func:`agent.policy.loader.load_policies`, answered from ``state_dir`` when an entry of the same
    inputs sealed with ``key`` is there (else loaded and stored). Raises PolicyError as it does."""

    def load(src: Sources) -> PolicySet:
        from agent.policy.loader import load_policies

        return load_policies(paths, known_entities, sources=src, keep_parse_trees=keep_parse_trees)

    seal = seal_for(key, _SEAL_LABEL)
    return remembered(KIND, paths, known_entities, load, state_dir, POLICY_SET, sources, seal=seal)


class Malformed(ValueError):
    """Stored data not of the shape a field declares."""


Convert = Callable[[Any], Any]


def _scalar(tp: type) -> Convert:
    kinds = (int, float) if tp is float else (tp,)

    def check(value: Any) -> Any:
        if type(value) not in kinds:  # not isinstance: a bool is no number here
            raise Malformed(tp.__name__)
        return value

    return check


def _items(value: Any, n: int | None = None) -> list[Any]:
    if type(value) is not list or (n is not None and len(value) != n):
        raise Malformed("list")
    return value


def _optional(inner: Convert) -> Convert:
    return lambda v: None if v is None else inner(v)


def _pattern(value: Any) -> Any:
    """An exception value pattern as the loader compiles it (RE2 where it can run it)."""
    try:
        return value_pattern(_scalar(str)(value))
    except re.error:
        raise Malformed("pattern") from None


@functools.cache
def _decoder(tp: Any) -> Convert:
    """Data as JSON holds it -> a value of type ``tp`` (raises Malformed)."""
    if tp in (str, int, float, bool):
        return _scalar(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is types.UnionType and len(args) == 2 and args[1] is type(None):
        return _optional(_decoder(args[0]))
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _decoder(args[0])
        return lambda v: tuple(map(item, _items(v)))
    if origin is tuple:
        parts = tuple(_decoder(a) for a in args)
        return lambda v: tuple(p(x) for p, x in zip(parts, _items(v, len(parts)), strict=True))
    if origin is frozenset:
        member = _decoder(args[0])
        return lambda v: frozenset(map(member, _items(v)))
    if origin is re.Pattern:
        return _pattern
    if dataclasses.is_dataclass(tp):
        return functools.partial(_decode_record, tp)
    raise TypeError(f"no cache decoder for {tp!r}")


@functools.cache
def _encoder(tp: Any) -> Convert:
    """A value of type ``tp`` -> JSON data (frozensets sorted, patterns as their text)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is types.UnionType and len(args) == 2 and args[1] is type(None):
        inner = _encoder(args[0])
        return _optional(inner)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _encoder(args[0])
        return lambda v: [item(x) for x in v]
    if origin is tuple:
        parts = tuple(_encoder(a) for a in args)
        return lambda v: [p(x) for p, x in zip(parts, v, strict=True)]
    if origin is frozenset:
        member = _encoder(args[0])
        return lambda v: sorted(member(x) for x in v)
    if origin is re.Pattern:
        return lambda v: v.pattern
    if tp in (str, int, float, bool):
        return lambda v: v
    if dataclasses.is_dataclass(tp):
        return _encode_record
    raise TypeError(f"no cache encoder for {tp!r}")


@functools.cache
def _fields(cls: Any) -> tuple[tuple[str, Convert, Convert], ...]:
    """(name, encode, decode) of each field of a dataclass, in declaration order (PolicySet: its rules
    and recognizers are dataclasses too)."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    return tuple((name, _encoder(hints[name]), _decoder(hints[name])) for name in names)


def _encode_record(value: Any) -> list[Any]:
    cls: Any = type(value)
    return [encode(getattr(value, name)) for name, encode, _ in _fields(cls)]


def _decode_record(cls: Any, data: Any) -> Any:
    fields = _fields(cls)
    values = _items(data, len(fields))
    return cls(**{name: decode(v) for (name, _, decode), v in zip(fields, values, strict=True)})


def decode(data: Any) -> PolicySet | None:
    """The PolicySet ``data`` holds, or None when it is not of that shape."""
    try:
        policies: PolicySet = _decode_record(PolicySet, data)
    except (Malformed, RecursionError):
        return None
    return policies


#: PolicySets as entries keep them.
POLICY_SET: Codec[PolicySet] = Codec(_encode_record, decode)
