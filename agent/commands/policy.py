"""`dropwarden policy test|lint` and `dropwarden explain`: tools for people who write policies.

`policy test` semantics: a ``match`` example passes when the evaluation of its text (as a file in a
zone of the rule's first applicable role, contractor-drop when it applies) yields a finding of that
rule id (its severity is then the rule's severity for that role by construction); a ``no_match``
example passes when no finding of that rule id appears, at any severity. Rules marked
``examples_require`` (protected-index, ner-model) or whose entities no recognizer can produce are
reported as SKIP, never as passed. Example texts are never printed (they may hold sample secrets).
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.commands.config import add_config_option, tool_pipeline, tool_settings, zone_role_of
from agent.models import UNSCANNED_ENTITY, ZONE_ROLES, ExtractError, FileRef
from agent.policy import INDEX_ENTITIES, PolicyError
from agent.policy.shipped import default_policy_dirs, expand_policy_paths

if TYPE_CHECKING:  # read only with --config: `policy lint` of packs never loads the settings models
    from agent.daemon.settings import Settings
    from agent.policy.compiled import ScoreReach


def register(sub: Any) -> None:
    policy = sub.add_parser("policy", help="test and lint policy packs")
    psub = policy.add_subparsers(dest="policy_command", metavar="SUBCOMMAND")
    psub.required = True
    test = psub.add_parser(
        "test", help="run every rule's examples through the real pipeline", epilog=TEST_EXIT_CODES
    )
    test.add_argument("paths", nargs="*", metavar="PATH", help=PATHS_HELP)
    test.add_argument("-v", "--verbose", action="store_true", help="list passing examples too")
    add_config_option(test)
    test.set_defaults(func=cmd_test)
    lnt = psub.add_parser("lint", help="schema and semantic checks of policy packs", epilog=LINT_EXIT_CODES)
    lnt.add_argument("paths", nargs="*", metavar="PATH", help=PATHS_HELP)
    add_config_option(lnt)
    lnt.set_defaults(func=cmd_lint)
    exp = sub.add_parser(
        "explain", help="show every candidate in a file and what each rule decided", epilog=EXPLAIN_EXIT_CODES
    )
    exp.add_argument("file", metavar="FILE", help="the file to explain (archives and mail: every member)")
    exp.add_argument(
        "--policies", action="append", metavar="DIR", help="pack file or dir, or 'builtin' (repeatable)"
    )
    exp.add_argument(
        "--zone-role",
        choices=ZONE_ROLES,
        help="role of the zone the file is in (default: its zone's with --config, else contractor-drop)",
    )
    add_config_option(exp)
    exp.set_defaults(func=cmd_explain)


PATHS_HELP = (
    "pack files or dirs, 'builtin' for the shipped packs (default: shipped packs; "
    "with --config: layered on top of the daemon's packs)"
)
LINT_EXIT_CODES = "exit codes: 0 no error (warnings allowed), 1 errors found, 2 usage or config error"
TEST_EXIT_CODES = "exit codes: 0 every example passed, 1 an example failed, 2 policy or config error"
EXPLAIN_EXIT_CODES = "exit codes: 0 explained, 2 no such file, policy or config error"


def _quiet_logs() -> None:
    """Library log events go to stderr (warnings and worse): stdout is the tool's report alone. Called
    before anything that logs is loaded (agent.cli leaves structlog to this command)."""
    from agent.cli import import_structlog_without_rich

    import_structlog_without_rich()
    from agent.log import configure_logging

    configure_logging(json=True, level="warning", stream=sys.stderr)


def _settings(args: argparse.Namespace, extra: list[str] | None) -> Settings | None:
    return tool_settings(args.config, extra) if args.config else None


def _pipeline(args: argparse.Namespace, extra: list[str] | None) -> Any:
    """The daemon's pipeline with --config, else one from the given packs; raises PolicyError/ConfigError."""
    settings = _settings(args, extra)
    if settings is not None:
        return tool_pipeline(settings)
    from agent.pipeline import build_pipeline

    return build_pipeline(_paths(extra), key=secrets.token_bytes(32))


def _paths(given: list[str] | None) -> list[Path]:
    return expand_policy_paths(given) if given else default_policy_dirs()


def known_entities() -> frozenset[str]:
    """What the classifier can produce, plus the index-backed detectors (they load without an index).

    A constant kept equal to the engine's registry by a test: `policy lint` loads no engine."""
    from agent.classify.entities import KNOWN_ENTITIES

    return KNOWN_ENTITIES | INDEX_ENTITIES


def score_reach() -> ScoreReach:
    """How high the built-in entities score, for lint's min_score check: constants the recognizers'
    declarations are checked against by a test, so `policy lint` imports no recognizer."""
    from agent.classify.entities import CONTEXT_BOOST, CONTEXT_FLOOR, SCORE_CEILINGS
    from agent.policy.compiled import ScoreReach

    return ScoreReach(SCORE_CEILINGS, CONTEXT_BOOST, CONTEXT_FLOOR)


def _config_policy_dirs(args: argparse.Namespace) -> list[Path] | None:
    """The daemon's packs (given paths layered on top) from --config; None after a config error line."""
    from agent.daemon.settings import ConfigError

    try:
        settings = tool_settings(args.config, args.paths)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return None
    return settings.policy_dirs(default_policy_dirs())


def cmd_lint(args: argparse.Namespace) -> int:
    from agent.policy.checkcache import checked, user_state_dir
    from agent.policy.compiled import format_issue

    paths = _config_policy_dirs(args) if args.config else _paths(args.paths)
    if paths is None:
        return 2
    known, reach = known_entities(), score_reach()
    issues = checked(
        "lint",
        paths,
        known,
        lambda sources: _lint(paths, known, sources, reach),
        user_state_dir(),
        inputs=reach.as_key(),
    )
    for issue in issues:
        print(format_issue(issue))
    errors = sum(i.level == "error" for i in issues)
    warnings = len(issues) - errors
    print(f"{errors} error(s), {warnings} warning(s)", file=sys.stderr)
    return 1 if errors else 0


def _lint(paths: list[Path], known: frozenset[str], sources: Any, reach: ScoreReach) -> list[Any]:
    """The real lint (on a cache miss). Nothing it loads logs (the loader, the schema, the regex
    checks), so it sets up no logging: structlog alone costs ~0.05 s."""
    from agent.policy.lint import lint

    return lint(paths, known, sources, reach)


def cmd_test(args: argparse.Namespace) -> int:
    from agent.daemon.settings import ConfigError

    _quiet_logs()
    try:
        pipeline = _pipeline(args, args.paths)
    except (PolicyError, ConfigError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    known = known_entities() | {UNSCANNED_ENTITY} | {spec.entity for spec in pipeline.policies.recognizers}
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for rule in pipeline.policies.rules:
        if not rule.enabled:
            continue
        skip = ""
        if rule.examples_require:
            skip = f"needs {rule.examples_require}"
        elif not rule.entities & known:
            skip = "no recognizer produces " + ", ".join(sorted(rule.entities))
        role = "contractor-drop" if "contractor-drop" in rule.zones else min(rule.zones)
        cases = [("match", i, t) for i, t in enumerate(rule.examples_match, 1)]
        cases += [("no_match", i, t) for i, t in enumerate(rule.examples_no_match, 1)]
        for kind, i, text in cases:
            label = f"{rule.id:<34} {kind:<8} #{i}"
            if skip:
                counts["SKIP"] += 1
                print(f"SKIP  {label}  ({skip})")
                continue
            hits = [f for f in _example_findings(pipeline, rule, text, role) if f.rule == rule.id]
            ok = bool(hits) if kind == "match" else not hits
            counts["PASS" if ok else "FAIL"] += 1
            if ok and not args.verbose:
                continue
            if ok:
                print(f"PASS  {label}")
            else:
                others = sorted({f.rule for f in _example_findings(pipeline, rule, text, role)}) or [
                    "nothing"
                ]
                what = (
                    "no finding of this rule" if kind == "match" else f"{len(hits)} finding(s) of this rule"
                )
                print(f"FAIL  {label}  ({what}; rules found: {', '.join(others)})")
    _test_recognizers(pipeline, counts, args.verbose)
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped")
    return 1 if counts["FAIL"] else 0


def _example_findings(pipeline: Any, rule: Any, text: str, role: str) -> tuple[Any, ...]:
    """Findings of one example. A rule on UNSCANNED_CONTENT alone reads its example as an error reason
    (its detections come from extraction errors, not from text)."""
    ref = FileRef(path="<example>", role=role)  # type: ignore[arg-type]
    if rule.entities == {UNSCANNED_ENTITY}:
        errors = [ExtractError(ref.path, None, text, "policy example")] if text else []
        return tuple(pipeline.unscanned(ref, errors))
    return pipeline.evaluate_text(text, ref).findings


def _test_recognizers(pipeline: Any, counts: dict[str, int], verbose: bool) -> None:
    """Pack recognizers' own examples: a match yields that recognizer's detection >= 0.5, a no_match none."""
    from agent.models import TextChunk

    for spec in pipeline.policies.recognizers:
        cases = [("match", i, t) for i, t in enumerate(spec.examples_match, 1)]
        cases += [("no_match", i, t) for i, t in enumerate(spec.examples_no_match, 1)]
        for kind, i, text in cases:
            found = pipeline.classifier.detect(TextChunk(path="<example>", member=None, text=text))
            hits = [d for d in found if d.recognizer == spec.name and d.score >= 0.5]
            ok = bool(hits) if kind == "match" else not hits
            counts["PASS" if ok else "FAIL"] += 1
            if ok and not verbose:
                continue
            label = f"recognizer {spec.name:<23} {kind:<8} #{i}"
            print(f"PASS  {label}" if ok else f"FAIL  {label}  ({len(hits)} detection(s) >= 0.5)")


def cmd_explain(args: argparse.Namespace) -> int:
    from agent.daemon.settings import ConfigError
    from agent.redact import printable as p  # names, members and excerpts escaped: one line each

    _quiet_logs()
    path = Path(args.file)
    if not path.exists():
        print(f"{p(str(path))}: no such file", file=sys.stderr)
        return 2
    try:
        pipeline = _pipeline(args, args.policies)
        role = args.zone_role or zone_role_of(_settings(args, None), str(path)) or "contractor-drop"
    except (PolicyError, ConfigError) as exc:
        print(str(exc), file=sys.stderr)
        return 2
    evaluations, errors = pipeline.explain(FileRef(path=str(path), role=role))  # type: ignore[arg-type]
    for err in errors:
        where = p(f"{err.path}{'!' + err.member if err.member else ''}")
        print(f"{where}: not fully read: {err.reason}: {p(err.detail)}")
    total = 0
    for ev in evaluations:
        where = p(f"{path}!{ev.member}" if ev.member else str(path))
        print(f"== {where}: {len(ev.findings)} finding(s)")
        for f in ev.findings:
            excerpt = p(f.excerpt)
            print(f"   FINDING {f.severity:<8} {f.rule} ({f.entity}) line {f.line} x{f.count}: {excerpt}")
        for d in sorted(ev.decisions, key=lambda d: (d.start, d.entity)):  # grouped by candidate
            total += 1
            verdict = "ACCEPT" if d.accepted else "reject"
            print(
                f"   line {d.line:>5}  {d.entity:<20} score {d.score:.2f}  {verdict:<6} "
                f"{d.rule or '-':<30} {d.reason}  {p(d.excerpt)}"
            )
    if not total:
        print(f"{p(str(path))}: no candidates found")
    return 0
