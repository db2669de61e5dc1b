"""`dropwarden policy lint`: every problem of a set of packs, errors and warnings, one line each.

Errors (the pack is wrong or a rule can never fire): invalid YAML or schema, unknown field or entity,
duplicate rule id, override/disable of an unknown rule, min_score above 1, empty zones, a regex
that does not compile or can backtrack catastrophically, fewer than 2 match / no_match examples,
a word both required and vetoed, a recognizer whose prefilter trigger misses a match in some rule
example (the prefilter would skip that finding). Warnings (legal but probably not meant): a rule disabled by a
later pack, a rule fully shadowed by another one, an entity that needs a NER model, an entity whose
detections never score as high as the rule's min_score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from agent.policy.compiled import Issue, PolicySet, Rule, ScoreReach, phrases
from agent.policy.compiled import (
    format_issue as format_issue,
)  # lives by Issue: cached issues print without the loader
from agent.policy.loader import Sources, compile_policies
from agent.policy.regexcheck import SPEC_FLAGS, ExampleTexts, release_parse_trees, trigger_violations


def lint(
    paths: Sequence[str | Path],
    known_entities: frozenset[str],
    sources: Sources | None = None,
    reach: ScoreReach | None = None,
) -> list[Issue]:
    """Every issue of the packs of ``paths`` (``sources``: their files, already read; see the loader).
    ``reach``: how high built-in entities score (without it no rule is checked against it)."""
    policies, issues = compile_policies(paths, known_entities, lint=True, sources=sources)
    if policies is not None:
        issues.extend(shadowed(policies))
        if reach is not None:
            issues.extend(unreachable_scores(policies, known_entities, reach))
        issues.extend(trigger_issues(policies))
    release_parse_trees()
    return issues


def unreachable_scores(policies: PolicySet, built_in: frozenset[str], reach: ScoreReach) -> list[Issue]:
    """Rule entities whose detections never score as high as the rule's min_score: they never add a
    finding of that rule (and when none of its entities can, the rule never fires)."""
    ceiling: dict[str, float] = {e: reach.ceilings.get(e, 1.0) for e in built_in}
    for spec in policies.recognizers:
        ceiling[spec.entity] = max(ceiling.get(spec.entity, 0.0), reach.of_spec(spec))
    out = []
    for rule in policies.rules:
        scored = sorted(e for e in rule.entities if e in ceiling)  # the others: NER, unknown (reported)
        low = [e for e in scored if ceiling[e] < rule.min_score]
        if not rule.enabled or not low:
            continue
        tops = ", ".join(f"{e} (at most {ceiling[e]:g})" for e in low)
        verb = "never reaches" if len(low) == 1 else "never reach"
        if low == sorted(rule.entities):
            what = "the rule never fires"
        else:
            what = f"{'it never adds' if len(low) == 1 else 'they never add'} a finding of this rule"
        message = f"{tops} {verb} min_score {rule.min_score:g}: {what}"
        out.append(Issue(rule.file, rule.id, "min_score", message, level="warning"))
    return out


def trigger_issues(policies: PolicySet) -> list[Issue]:
    """Pack recognizers whose declared trigger or max_len a match in any rule example breaks."""
    texts = [t for r in policies.rules for t in (*r.examples_match, *r.examples_no_match)]
    texts += [t for s in policies.recognizers for t in (*s.examples_match, *s.examples_no_match)]
    corpus = ExampleTexts.of(texts)
    out = []
    for spec in policies.recognizers:
        if spec.trigger is None:
            continue
        patterns = [regex for _, regex, _ in spec.patterns]
        problems = trigger_violations(patterns, spec.trigger, spec.max_len, corpus, SPEC_FLAGS)
        for problem in sorted(set(problems)):
            out.append(Issue("(recognizers)", spec.name, "trigger", problem))
    return out


def shadowed(policies: PolicySet) -> list[Issue]:
    """Rules whose every finding another, unconditional rule already reports at least as severely."""
    out = []
    active = [r for r in policies.rules if r.enabled]
    unconditional = [b for b in active if _unconditional(b)]
    for a in active:
        for b in unconditional:
            if a is not b and _covers(b, a):
                out.append(
                    Issue(
                        a.file,
                        a.id,
                        "entities",
                        f"fully shadowed by rule '{b.id}' ({b.file})",
                        level="warning",
                    )
                )
                break
    return out


def _unconditional(b: Rule) -> bool:
    """Whether every detection of b's entities that reaches its min_score is a finding of b wherever b
    applies (context phrases read without compiling them: lint never evaluates)."""
    return not (
        phrases(b.context) or phrases(b.not_context) or b.attributes or b.min_attributes or b.path_globs
    ) and not (b.allow_values or b.allow_patterns)


def _covers(b: Rule, a: Rule) -> bool:
    """Whether unconditional rule b reports every finding of a, at least as severely."""
    return (
        b.min_count == 1
        and b.min_score <= a.min_score
        and a.entities <= b.entities
        and a.zones <= b.zones
        and all(_rank(b.severity_for(z)) >= _rank(a.severity_for(z)) for z in a.zones)
    )


def _rank(severity: str) -> int:
    return ("low", "medium", "high", "critical").index(severity)
