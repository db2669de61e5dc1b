"""Load policy packs, layer them, and compile them into an immutable :class:`PolicySet`.

Loading collects every problem as an :class:`Issue` (``lint`` shows them all); ``load_policies``
raises the first error as a one-line :class:`PolicyError`, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.models import UNSCANNED_ENTITY, RecognizerSpec
from agent.policy.compiled import (
    INDEX_ENTITIES,
    NER_ENTITIES,
    Issue,
    PolicyError,
    PolicySet,
    Rule,
    normalise_text,
)
from agent.policy.regexcheck import (
    SPEC_FLAGS,
    pattern_problem,
    re2_compile_error,
    release_parse_trees,
    value_pattern,
)
from agent.policy.schema import (
    PACK_FIELDS,
    RECOGNIZER_FIELDS,
    RULE_FIELDS,
    OverrideModel,
    PackModel,
    RecognizerModel,
    RuleModel,
)
from agent.policy.shipped import load_yaml
from agent.policy.shipped import pack_files as pack_files  # where it lives: light, no pydantic
from agent.redact import normalise_value

_OPTIONAL = {**dict.fromkeys(NER_ENTITIES, "ner-model"), **dict.fromkeys(INDEX_ENTITIES, "protected-index")}
ZONE_ROLES = ("contractor-drop", "outbound", "internal")


#: Verified file contents by path (``require_signed``): when given, the loader reads nothing from disk
#: except through it, so the bytes whose signature was checked are the bytes that are loaded.
Sources = Mapping[Path, bytes]


def load_policies(
    paths: Sequence[str | Path],
    known_entities: frozenset[str],
    sources: Sources | None = None,
    keep_parse_trees: bool = False,
) -> PolicySet:
    """Load and layer packs (dirs: their *.yaml sorted by name; files as given). Raises PolicyError.

    ``sources``: pack and value-set contents already read (and signature-checked) by the caller; a
    file missing from it is an error instead of being read from disk. ``keep_parse_trees``: the
    caller reuses the patterns' parse trees (:func:`agent.policy.regexcheck.parsed`) and releases
    them itself (:func:`~agent.policy.regexcheck.release_parse_trees`).
    """
    policies, issues = compile_policies(
        paths, known_entities, sources=sources, keep_parse_trees=keep_parse_trees
    )
    for issue in issues:
        if issue.level == "error":
            raise PolicyError.from_issue(issue)
    if policies is None:  # compile_policies reports an error issue whenever it returns None
        raise RuntimeError("policy compilation returned nothing without an error")
    return policies


def _read_source(path: Path, sources: Sources | None) -> bytes:
    """The file's bytes: from ``sources`` when given (never the disk), else read now."""
    if sources is None:
        return path.read_bytes()
    try:
        return sources[Path(path)]
    except KeyError:
        raise OSError(0, "not among the verified sources") from None


def compile_policies(
    paths: Sequence[str | Path],
    known_entities: frozenset[str],
    lint: bool = False,
    sources: Sources | None = None,
    keep_parse_trees: bool = False,
) -> tuple[PolicySet | None, list[Issue]]:
    """Every issue found while layering the packs, and the PolicySet when there is no error.

    ``lint`` adds the checks that must not stop a pack from loading (examples present, ...). Both
    ``lint`` and ``keep_parse_trees`` leave the parse trees for the caller to use and release.
    """
    files, issues = pack_files(paths)
    layering = _Layering(issues)
    for f in files:
        pack = _read_pack(f, issues, sources)
        if pack is not None:
            layering.add(f, pack)
    # UNSCANNED_CONTENT is made by the pipeline itself from extraction errors (agent.policy.unscanned)
    known = known_entities | {UNSCANNED_ENTITY} | {spec.entity for spec, _ in layering.recognizers.values()}
    value_set_digest = hashlib.sha256()
    compiled: list[Rule] = []
    for layer in layering.layers.values():
        _check_rule(layer.changed_in, layer.model, known, issues)
        if lint:
            _lint_rule(layer.changed_in, layer.model, layering.disabled.get(layer.model.id), issues)
        rule = _compile_rule(layer.model, layer.pack, layer.file, issues, value_set_digest, sources)
        if rule is not None:
            compiled.append(rule)
    if not (lint or keep_parse_trees):  # lint still searches the required literals; it releases them itself
        release_parse_trees()
    if any(i.level == "error" for i in issues):
        return None, issues
    return layering.policy_set(compiled, value_set_digest.digest()), issues


@dataclass
class _Layer:
    """One rule as the packs read so far define it: its model after overrides, the pack and file that
    defined it, and the file that changed it last (issues about the effective rule name that one)."""

    model: RuleModel
    pack: str
    file: str
    changed_in: str


@dataclass
class _Layering:
    """The packs layered in order: each defines rules and recognizers, overrides or disables earlier ones."""

    issues: list[Issue]
    layers: dict[str, _Layer] = field(default_factory=dict)  # rule id -> layer, in definition order
    recognizers: dict[str, tuple[RecognizerSpec, str]] = field(default_factory=dict)  # name -> (spec, file)
    disabled: dict[str, str] = field(default_factory=dict)  # rule id -> file that disabled it

    def add(self, f: Path, pack: PackModel) -> None:
        name = str(f)
        for rec in pack.recognizers:
            _add_recognizer(name, rec, self.recognizers, self.issues)
        seen_here: set[str] = set()
        for rule in pack.rules:
            if rule.id in seen_here:
                self.issues.append(Issue(name, rule.id, "id", "duplicate rule id in this pack"))
                continue
            seen_here.add(rule.id)
            self._define(f, pack.pack, rule)
        for ov in pack.override:
            self._override(f, ov)
        for rid in pack.disable:
            self._disable(name, rid)

    def _define(self, f: Path, pack: str, rule: RuleModel) -> None:
        name = str(f)
        prior = self.layers.get(rule.id)
        if prior is not None:
            self.issues.append(
                Issue(name, rule.id, "id", f"rule already defined in {prior.file}; use 'override'")
            )
            return
        self.layers[rule.id] = _Layer(_anchor(rule, f), pack, name, name)

    def _override(self, f: Path, ov: OverrideModel) -> None:
        name = str(f)
        layer = self.layers.get(ov.id)
        if layer is None:
            self.issues.append(_unknown_rule(name, ov.id, "override", self.layers))
            return
        base = layer.model.model_dump()
        changes = ov.model_dump(exclude_unset=True)
        if changes.get("exceptions"):  # value_sets are relative to the file that names them
            changes["exceptions"]["value_sets"] = [
                str(f.parent / v) for v in changes["exceptions"].get("value_sets") or []
            ]
        base.update(changes)
        try:
            layer.model = RuleModel.model_validate(base)
        except ValidationError as exc:
            self.issues.extend(_validation_issues(name, exc, [base], "override"))
            return
        layer.changed_in = name
        if ov.enabled is False:
            self.disabled[ov.id] = name
        elif ov.enabled:
            self.disabled.pop(ov.id, None)

    def _disable(self, name: str, rid: str) -> None:
        layer = self.layers.get(rid)
        if layer is None:
            self.issues.append(_unknown_rule(name, rid, "disable", self.layers))
            return
        layer.model = layer.model.model_copy(update={"enabled": False})
        self.disabled[rid] = name

    def policy_set(self, compiled: list[Rule], value_sets: bytes) -> PolicySet:
        """The PolicySet of these layers; its digest covers the effective rules, the recognizers and
        the value-set contents (``value_sets``: their digest)."""
        effective = [
            {"pack": layer.pack, **layer.model.model_dump(mode="json")} for layer in self.layers.values()
        ]
        recs = [spec.__dict__ for spec, _ in self.recognizers.values()]
        blob = json.dumps({"rules": effective, "recognizers": recs}, sort_keys=True, default=list)
        return PolicySet(
            rules=tuple(compiled),
            recognizers=tuple(spec for spec, _ in self.recognizers.values()),
            digest=hashlib.sha256(blob.encode() + value_sets).hexdigest(),
            disabled_by=tuple(sorted(self.disabled.items())),
        )


def _anchor(rule: RuleModel, f: Path) -> RuleModel:
    """Make value_sets paths relative to the pack file that names them (they survive overrides)."""
    if not rule.exceptions.value_sets:
        return rule
    exc = rule.exceptions.model_copy(
        update={"value_sets": [str(f.parent / v) for v in rule.exceptions.value_sets]}
    )
    return rule.model_copy(update={"exceptions": exc})


def _read_pack(f: Path, issues: list[Issue], sources: Sources | None = None) -> PackModel | None:
    name = str(f)
    try:
        raw = load_yaml(_read_source(f, sources).decode("utf-8"))
    except OSError as exc:
        issues.append(Issue(name, "", "", f"cannot read: {exc.strerror or type(exc).__name__}"))
        return None
    except UnicodeDecodeError:
        issues.append(Issue(name, "", "", "not UTF-8 text"))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        issues.append(Issue(name, "", "", f"invalid YAML{where}: {problem}"))
        return None
    if not isinstance(raw, dict):
        issues.append(Issue(name, "", "", "a policy pack must be a mapping with 'pack' and 'rules'"))
        return None
    ok = True
    top = {k: v for k, v in raw.items() if k not in ("rules", "recognizers", "override")}
    try:
        PackModel.model_validate(top)
    except ValidationError as exc:
        issues.extend(_validation_issues(name, exc, [], "pack"))
        ok = False
    items: dict[str, list[Any]] = {}
    for key, model in (("rules", RuleModel), ("recognizers", RecognizerModel), ("override", OverrideModel)):
        value = raw.get(key) or []
        if not isinstance(value, list):
            issues.append(Issue(name, "", key, "must be a list"))
            ok = False
            continue
        good = []
        for entry in value:
            try:
                good.append(model.model_validate(entry))
            except ValidationError as exc:
                issues.extend(_validation_issues(name, exc, [entry], key))
                ok = False
        items[key] = good
    if not ok:
        return None
    # the validated instances are kept as they are, so an override remembers which fields it set
    return PackModel.model_validate({**top, **items})


def _validation_issues(name: str, exc: ValidationError, entries: list[Any], kind: str) -> list[Issue]:
    entry = entries[0] if entries else {}
    rid = str(entry.get("id") or entry.get("name") or "") if isinstance(entry, dict) else ""
    fields = {"rules": RULE_FIELDS, "override": RULE_FIELDS, "recognizers": RECOGNIZER_FIELDS}.get(
        kind, PACK_FIELDS
    )
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        fld = ".".join(loc) if loc else kind
        suggestion = ""
        if err["type"] == "extra_forbidden":
            message = "unknown field"
            if len(loc) == 1:
                suggestion = _close(loc[-1], fields)
        elif err["type"] == "missing":
            message = "required field is missing"
        elif err["type"] == "string_pattern_mismatch" and loc and loc[-1] in ("id", "pack", "name"):
            message = "must be kebab-case (lowercase letters and digits joined by '-')"
        elif err["type"] == "literal_error":
            message = f"must be one of {err.get('ctx', {}).get('expected', '')}"
        else:
            message = err["msg"]
        if not isinstance(entry, dict) and kind != "pack":
            message, fld = f"each entry of '{kind}' must be a mapping", kind
        out.append(Issue(name, rid, fld, message, suggestion))
    return out


def _close(word: str, choices: Sequence[str]) -> str:
    import difflib  # only for a pack with a mistake in it: not on every load

    matches = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return " or ".join(f"'{m}'" for m in matches)


def _unknown_rule(name: str, rid: str, fld: str, layers: Mapping[str, object]) -> Issue:
    return Issue(name, rid, fld, "no earlier pack defines this rule", _close(rid, list(layers)))


def _add_recognizer(
    name: str, rec: RecognizerModel, out: dict[str, tuple[RecognizerSpec, str]], issues: list[Issue]
) -> None:
    if rec.name in out:
        issues.append(Issue(name, rec.name, "name", f"recognizer already defined in {out[rec.name][1]}"))
        return
    for i, pat in enumerate(rec.patterns):
        problem = pattern_problem(pat.regex, SPEC_FLAGS)
        if problem:
            issues.append(Issue(name, rec.name, f"patterns.{i}.regex", problem))
            return
    if rec.trigger is not None:
        problem = re2_compile_error(rec.trigger)
        if problem:
            issues.append(Issue(name, rec.name, "trigger", problem))
            return
    elif rec.max_len is not None:
        issues.append(Issue(name, rec.name, "max_len", "max_len only means something with a trigger"))
        return
    spec = RecognizerSpec(
        name=rec.name,
        entity=rec.entity,
        patterns=tuple((p.name, p.regex, p.score) for p in rec.patterns),
        context=tuple(rec.context),
        validator=rec.validator,
        min_entropy=rec.min_entropy,
        languages=tuple(rec.languages),
        trigger=rec.trigger,
        max_len=rec.max_len,
        filters=tuple(rec.filters),
        examples_match=tuple(rec.examples.match),
        examples_no_match=tuple(rec.examples.no_match),
    )
    out[rec.name] = (spec, name)


def _check_rule(name: str, rule: RuleModel, known: frozenset[str], issues: list[Issue]) -> None:
    for ent in rule.entities if rule.enabled else ():
        if ent in known:
            continue
        if ent in _OPTIONAL:
            if rule.examples_require == _OPTIONAL[ent]:  # the rule says so itself: nothing to warn about
                continue
            need = "a NER model" if _OPTIONAL[ent] == "ner-model" else "a protected-data index"
            msg = f"{ent} needs {need}; no recognizer produces it now"
            issues.append(Issue(name, rule.id, "entities", msg, level="warning"))
            continue
        listing = ", ".join(sorted(known))
        issues.append(
            Issue(
                name,
                rule.id,
                "entities",
                f"unknown entity '{ent}' (known: {listing})",
                _close(ent, sorted(known)),
            )
        )
    if rule.min_score > 1:
        issues.append(Issue(name, rule.id, "min_score", "above 1.0: no detection can ever reach it"))
    if rule.zones is not None and not rule.zones:
        issues.append(Issue(name, rule.id, "zones", "empty: the rule applies nowhere"))
    for zone in rule.severity_by_zone:
        if rule.zones is not None and zone not in rule.zones:
            issues.append(
                Issue(name, rule.id, "severity_by_zone", f"zone '{zone}' is not in zones", level="warning")
            )
    for i, pat in enumerate(rule.exceptions.value_patterns):
        problem = pattern_problem(pat)
        if problem:
            issues.append(Issue(name, rule.id, f"exceptions.value_patterns.{i}", problem))


def _lint_rule(name: str, rule: RuleModel, disabled_in: str | None, issues: list[Issue]) -> None:
    if disabled_in is not None or not rule.enabled:
        where = f" by {disabled_in}" if disabled_in else ""
        issues.append(
            Issue(name, rule.id, "enabled", f"rule is disabled{where}: it never applies", level="warning")
        )
        return
    for kind in ("match", "no_match"):
        n = len(getattr(rule.examples, kind))
        if n < 2:
            issues.append(
                Issue(name, rule.id, f"examples.{kind}", f"{n} example(s); every rule needs at least 2")
            )
    if (
        rule.context
        and rule.not_context
        and set(map(normalise_text, rule.context)) & set(map(normalise_text, rule.not_context))
    ):
        issues.append(Issue(name, rule.id, "not_context", "a word is both required and vetoed"))


def _compile_rule(
    model: RuleModel,
    pack: str,
    name: str,
    issues: list[Issue],
    digest: hashlib._Hash,
    sources: Sources | None = None,
) -> Rule | None:
    allow = {normalise_value(v) for v in model.exceptions.values}
    for i, rel in enumerate(model.exceptions.value_sets):
        path = Path(rel)
        try:
            lines = _read_source(path, sources).decode("utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            issues.append(
                Issue(name, model.id, f"exceptions.value_sets.{i}", f"cannot read {path}: {reason}")
            )
            return None
        values = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        digest.update("\n".join(sorted(values)).encode())
        allow.update(normalise_value(v) for v in values)
    patterns = []
    for pat in model.exceptions.value_patterns:
        try:
            patterns.append(value_pattern(pat))
        except re.error:
            return None  # reported by _check_rule
    win = model.window
    nwin = model.not_context_window or win
    return Rule(
        id=model.id,
        pack=pack,
        file=name,
        desc=model.desc,
        severity=model.severity,
        severity_by_zone=tuple(sorted(model.severity_by_zone.items())),
        zones=frozenset(ZONE_ROLES if model.zones is None else model.zones),
        entities=frozenset(model.entities),
        min_score=model.min_score,
        min_count=model.min_count,
        context=tuple(model.context),
        window=("chars", win.chars) if win.chars else ("tokens", win.tokens or 0),
        not_context=tuple(model.not_context),
        not_context_window=("chars", nwin.chars) if nwin.chars else ("tokens", nwin.tokens or 0),
        attributes=tuple(
            sorted((k, frozenset(normalise_text(x).strip() for x in v)) for k, v in model.attributes.items())
        ),
        min_attributes=tuple(sorted(model.min_attributes.items())),
        path_globs=tuple(model.exceptions.paths),
        allow_values=frozenset(allow),
        allow_patterns=tuple(patterns),
        tags=tuple(model.tags),
        actions=tuple(model.actions),
        enabled=model.enabled,
        examples_match=tuple(model.examples.match),
        examples_no_match=tuple(model.examples.no_match),
        examples_require=model.examples_require,
    )
