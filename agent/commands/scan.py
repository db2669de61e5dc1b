"""`dropwarden scan PATH...`: the one-shot scanner for audits and CI (gitleaks-style contract).

The pipeline is built once in the parent and the worker processes are forked from it, so the
Presidio engine and any exact-data-match index are loaded once and shared copy-on-write. ``--jobs N``
is N scanning workers; the parent only schedules them and kills one whose file overruns the per-file
timeout (see :mod:`agent.scanpool`), so no file can hang the scan.

Nor can a name: the parent never classifies one. A worker masks each path (values in the name) before
it reads the file and tells the parent; a file whose worker died before that has its name withheld
(as the daemon's alerts do, agent.daemon.outcome.withheld_path). The paths of what the walk could not
read (unlistable folders, link loops, FIFOs) are masked by workers too, under the same budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence

from agent.commands.config import add_config_option, tool_key, tool_pipeline, tool_settings, zone_of
from agent.daemon.errors import ConfigError
from agent.models import (
    SEVERITIES,
    SEVERITY_RANK,
    UNSCANNED_ENTITY,
    ZONE_ROLES,
    ExtractError,
    FileRef,
    Limits,
    Verdict,
)
from agent.policy.names import redact_finding
from agent.report import make_reporter
from agent.report.baseline import Baseline
from agent.scanpool import Naming, kill_after, scan_named, set_memory_ceiling

_PIPELINE = None  # set before the workers are forked; read by _scan_one in the parent and the workers


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "scan",
        help="scan files and folders once and report findings",
        epilog="exit codes: 0 no (new) finding at or above --fail-on, 1 such findings, 2 usage/config error",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files and folders to scan")
    p.add_argument(
        "--format",
        choices=("jsonl", "text", "sarif", "html"),
        default="text",
        help="report format (default text)",
    )
    p.add_argument("--output", "-o", help="write the report here instead of stdout")
    p.add_argument(
        "--policies",
        action="append",
        metavar="DIR",
        help="policy pack dir or file, or 'builtin' (repeatable; with --config: layered on the daemon's); "
        "the shipped unscanned-content rule is layered under custom packs that have none",
    )
    add_config_option(p)
    p.add_argument(
        "--baseline",
        metavar="PREVIOUS.jsonl",
        help="previous --format jsonl report: its findings (same rule, fingerprint, path, member) are old",
    )
    p.add_argument(
        "--fail-on", choices=SEVERITIES, default="medium", help="exit 1 at or above (default medium)"
    )
    p.add_argument(
        "--no-fail-on-unscanned",
        action="store_true",
        help="files not read completely (UNSCANNED_CONTENT) do not count toward --fail-on",
    )
    p.add_argument(
        "--excerpts",
        choices=("masked", "none"),
        default="masked",
        help="masked: context with values masked; none: rule, location and fingerprint only",
    )
    p.add_argument(
        "--zone-role",
        choices=ZONE_ROLES,
        help="role the files are in (default: their zone's with --config, else contractor-drop)",
    )
    p.add_argument("--protect-data", metavar="CSV", help="protected customer table (exact data match)")
    p.add_argument("--protect-columns", metavar="COLS", help="comma-separated columns of --protect-data")
    p.add_argument("--protect-docs", metavar="DIR", help="protected confidential documents (fingerprints)")
    p.add_argument("--key-file", help="secret key for fingerprints (default: created under ~/.local/state)")
    p.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1, help="scanning worker processes")
    p.add_argument("--follow-symlinks", action="store_true", help="follow symlinks inside the scanned tree")
    p.add_argument("--max-depth", type=int, help=f"archive nesting depth (default {Limits.max_depth})")
    p.add_argument("--max-text", type=int, help=f"text chars per file (default {Limits.max_text_chars})")
    p.add_argument(
        "--max-memory",
        type=int,
        default=Limits.max_memory_bytes,
        metavar="BYTES",
        help="address space of each scanning process; past it a file is reported limit_memory (0: none)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        help=f"seconds per file (default {Limits.timeout_seconds}); a file still running after a grace "
        "(half as long, 1-30 s) has its worker killed and is reported timeout",
    )
    p.add_argument("--ner-model", help="installed spaCy package to use for PERSON/LOCATION (optional)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument(
        "--inventory",
        action="store_true",
        help="jsonl: one record per file and member (format, characters of text, read/unscanned)",
    )
    p.set_defaults(func=run_scan)


def _scan_one(ref: FileRef) -> Verdict:
    """A worker's scan of one file; an exception costs that file only (agent.scanpool.guarded)."""
    if _PIPELINE is None:
        raise RuntimeError("scan worker used before its pipeline was built")
    return _PIPELINE.scan(ref)


def _read_nothing(ref: FileRef) -> Verdict:
    """The "scan" of what the walk could not read: its worker only says how its path is shown."""
    return Verdict(ref.path, ref.zone, (), (), 0, 0.0)


def _shown_name(ref: FileRef) -> str:
    """In a worker: the path as every output shows it (values in the name masked: it is classified)."""
    if _PIPELINE is None:
        raise RuntimeError("scan worker used before its pipeline was built")
    return _PIPELINE.shown_path(ref)


def _withheld(ref: FileRef) -> str:
    """The path shown for a file whose worker died before it masked the name: the daemon's placeholder
    (the scan root kept, below it a keyed digest of the path), computed without classifying anything."""
    from agent.daemon.outcome import withheld_path

    if _PIPELINE is None:
        raise RuntimeError("name withheld before the pipeline was built")
    return withheld_path(ref, _PIPELINE.redactor.key)


NAMING = Naming(shown=_shown_name, withheld=_withheld)


def _shown_arg(path: str) -> str:
    """A path from the command line on stderr (before any pipeline exists): the log scrubber masks
    card numbers, IBANs and tokens in it, control characters and undecodable bytes are escaped."""
    from agent.log import scrub_text
    from agent.redact import printable

    return printable(scrub_text(path))


def _limits(args: argparse.Namespace, base: Limits) -> Limits:
    """``base`` (the defaults, or the daemon's with --config) with the limits given on the command line."""
    given = {
        "max_depth": args.max_depth, "max_text_chars": args.max_text, "timeout_seconds": args.timeout,
        "max_memory_bytes": args.max_memory,
    }  # fmt: skip
    return dataclasses.replace(
        base, **{k: v for k, v in given.items() if v is not None}, follow_symlinks=args.follow_symlinks
    )


def _build(args: argparse.Namespace):
    from agent.commands.protect import detectors_for_scan
    from agent.pipeline import build_pipeline
    from agent.policy.checkcache import user_state_dir
    from agent.policy.shipped import expand_policy_paths, with_unscanned_rule
    from agent.redact import default_key_path, load_or_create_key

    if args.config:
        return _build_from_config(args)
    key = load_or_create_key(args.key_file or default_key_path())
    limits = _limits(args, Limits())
    columns = [c.strip() for c in args.protect_columns.split(",")] if args.protect_columns else None
    extra = detectors_for_scan(args.protect_data, columns, args.protect_docs, key, limits)
    packs = with_unscanned_rule(expand_policy_paths(args.policies)) if args.policies else None
    cache = user_state_dir()  # the compiled packs are remembered there (agent.policy.setcache)
    return build_pipeline(
        packs, key, limits, extra_detectors=extra, ner_model=args.ner_model, warm_up=False, policy_cache=cache
    )


def _build_from_config(args: argparse.Namespace):
    """The daemon's pipeline (policy layering, indexes, limits, NER setting), scan flags on top."""
    from agent.redact import load_or_create_key

    settings = tool_settings(args.config, args.policies)
    limits = _limits(args, dataclasses.replace(settings.limits_obj(), timeout_seconds=settings.timeout))
    settings = settings.model_copy(
        update={"limits": settings.limits.model_copy(update=_limit_fields(limits)), "file_timeout": None}
    )
    if args.ner_model:
        settings = settings.model_copy(update={"ner_model": args.ner_model})
    key = load_or_create_key(args.key_file) if args.key_file else tool_key(settings)
    if args.protect_data or args.protect_docs:
        raise ValueError("--protect-data/--protect-docs: with --config, the config's indexes are used")
    return tool_pipeline(settings, key)


def _limit_fields(limits: Limits) -> dict[str, object]:
    return {k: v for k, v in dataclasses.asdict(limits).items() if k != "follow_symlinks"}


def _walk(args: argparse.Namespace) -> tuple[list[FileRef], list[tuple[FileRef, ExtractError]]]:
    """The files found, in walk order, and the walk errors (unlistable folder, link loop, vanished
    entry) each with the ref its path is shown by: without a root, the whole path is masked."""
    from agent.sources.walk import walk

    settings = tool_settings(args.config) if args.config else None
    refs: list[FileRef] = []
    errors: list[tuple[FileRef, ExtractError]] = []
    for item in walk(args.paths, follow_symlinks=args.follow_symlinks):
        zone = zone_of(settings, item.path)
        role = args.zone_role or (zone.role if zone else "contractor-drop")
        root = item.root if isinstance(item, FileRef) else None
        ref = FileRef(item.path, zone=zone.name if zone else None, role=role, root=root)
        if isinstance(item, ExtractError):
            errors.append((ref, item))
        else:
            refs.append(ref)
    return refs, errors


def _shown_errors(
    errors: list[tuple[FileRef, ExtractError]], jobs: int, roots: Sequence[str]
) -> Iterator[ExtractError]:
    """The walk errors in order, each under its path as every output shows file paths (a value in a
    folder's name masked), masked in workers like the files' paths: withheld if that was killed, below
    the scan root (``roots``: the paths given) it was found under, as a file's would be."""

    def withheld(ref: FileRef) -> str:
        under = [r for r in roots if ref.path.startswith(r.rstrip("/") + "/")]
        return _withheld(dataclasses.replace(ref, root=max(under, key=len, default=None)))

    refs = [ref for ref, _ in errors]
    named = scan_named(refs, jobs, _read_nothing, _budget(), Naming(_shown_name, withheld))
    for (_, error), (_, shown) in zip(errors, named, strict=True):
        yield dataclasses.replace(error, path=shown)


def _setup(args: argparse.Namespace) -> tuple[Baseline | None, int]:
    """Load the baseline and build the pipeline: (baseline, 0), or (None, 2) after one stderr line."""
    global _PIPELINE
    from agent.policy import PolicyError

    try:
        baseline = Baseline.load(args.baseline) if args.baseline else None
        _PIPELINE = _build(args)
    except PolicyError as exc:
        print(f"policy error: {exc}", file=sys.stderr)
        return None, 2
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return None, 2
    except (OSError, ValueError) as exc:
        print(f"dropwarden scan: {exc}", file=sys.stderr)
        return None, 2
    return baseline, 0


def run_scan(args: argparse.Namespace) -> int:
    from agent.log import configure_logging, no_color

    configure_logging(json=True, level="warning", stream=sys.stderr)
    for p in args.paths:
        if not os.path.lexists(p):
            print(f"dropwarden scan: no such file or directory: {_shown_arg(p)}", file=sys.stderr)
            return 2
    baseline, failed = _setup(args)
    if failed:
        return failed
    # The engine, the packs and any index live as long as the scan: keep the collector off them, so
    # forked workers do not copy the pages it would touch (and its full passes stay short).
    gc.freeze()
    gc.enable()  # off while starting up (agent.cli): on for the files, which may leave cycles behind
    set_memory_ceiling(args.max_memory)  # the workers forked from here inherit it

    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    root = args.paths[0] if len(args.paths) == 1 and os.path.isdir(args.paths[0]) else None
    color = out.isatty() and not no_color()
    reporter = make_reporter(args.format, out, color=color, root=root, inventory=args.inventory)
    started = time.monotonic()
    stats = {"files": 0, "bytes": 0, "errors": 0, "baselined": 0}
    by_sev: Counter[str] = Counter()
    worst = 0
    progress = _Progress(enabled=sys.stderr.isatty() and not args.no_progress)

    refs, walk_errors = _walk(args)
    _warm_up(len(refs) + len(walk_errors), args.jobs)
    for error in _shown_errors(walk_errors, args.jobs, [os.path.abspath(p) for p in args.paths]):
        stats["errors"] += 1
        reporter.error(error)

    for ref, (scanned, shown) in zip(refs, _verdicts(refs, args.jobs), strict=True):
        verdict = _with_unscanned(scanned, ref, shown)
        if args.excerpts == "none":
            blank = tuple(dataclasses.replace(f, excerpt="", excerpts=()) for f in verdict.findings)
            verdict = dataclasses.replace(verdict, findings=blank)
        if baseline is not None:
            verdict, known = baseline.new_only(verdict)
            stats["baselined"] += known
        stats["files"] += 1
        stats["bytes"] += verdict.bytes
        stats["errors"] += len(verdict.errors)
        for f in verdict.findings:
            by_sev[f.severity] += 1
            if not (args.no_fail_on_unscanned and f.entity == UNSCANNED_ENTITY):
                worst = max(worst, SEVERITY_RANK[f.severity])
        reporter.verdict(_shown_path(verdict))
        progress.tick(stats["files"], len(refs))
    progress.done()

    summary = {
        "files": stats["files"],
        "bytes": stats["bytes"],
        "findings": {s: by_sev.get(s, 0) for s in SEVERITIES},
        "errors": stats["errors"],
        "seconds": round(time.monotonic() - started, 3),
        **({"baselined": stats["baselined"]} if baseline is not None else {}),
    }
    reporter.close(summary)
    if out is not sys.stdout:
        out.close()
    return 1 if worst >= SEVERITY_RANK[args.fail_on] else 0


def _with_unscanned(verdict: Verdict, ref: FileRef, shown: str) -> Verdict:
    """A verdict made without the pipeline (a worker killed or dead, a crash) still reports its errors
    as UNSCANNED_CONTENT findings, unscanned is never clean, under the path its worker said (``shown``,
    which its errors carry already) or withheld. No recognizer runs here: the policies judge the error
    reasons only (agent.policy.unscanned)."""
    if not verdict.errors or _PIPELINE is None or any(f.entity == UNSCANNED_ENTITY for f in verdict.findings):
        return verdict
    extra = tuple(redact_finding(f, shown, {}) for f in _PIPELINE.unscanned(ref, verdict.errors))
    return dataclasses.replace(verdict, findings=verdict.findings + extra) if extra else verdict


def _shown_path(verdict: Verdict) -> Verdict:
    """The verdict under the path its findings and errors show (a value in the file's name masked), for
    reporters that group by file. One with neither has no value in its name: names are classified."""
    paths = [f.path for f in verdict.findings[:1]] + [e.path for e in verdict.errors[:1]]
    shown = paths[0] if paths else verdict.path
    return dataclasses.replace(verdict, path=shown) if shown != verdict.path else verdict


def _warm_up(n: int, jobs: int) -> None:
    """Several workers: load the pipeline's lazy tables once, before they are forked."""
    if _PIPELINE is None:
        raise RuntimeError("scan started before its pipeline was built")
    if min(jobs, n) > 1:
        _PIPELINE.warm_up()
        gc.freeze()


def _budget() -> float:
    """The hard per-file budget (agent.scanpool.kill_after of the per-file timeout)."""
    if _PIPELINE is None:
        raise RuntimeError("scan started before its pipeline was built")
    return kill_after(_PIPELINE.extractor.limits.timeout_seconds)


def _verdicts(refs: list[FileRef], jobs: int) -> Iterator[tuple[Verdict, str]]:
    """Scan in input order in ``jobs`` forked workers, each file killed past its hard time budget:
    each verdict with the path outputs show for its file (see agent.scanpool.scan_named)."""
    return scan_named(refs, jobs, _scan_one, _budget(), NAMING)


class _Progress:
    """A one-line counter on stderr for large trees on a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = 0.0

    def tick(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.enabled and total >= 50 and now - self.last > 0.2:
            self.last = now
            width = 30
            filled = int(width * done / total)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.last:
            sys.stderr.write("\n")
