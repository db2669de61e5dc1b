"""`dropwarden run`: the watching daemon (from a config file, quick-start flags, or ``--demo``).

Configuration errors print one line, ``config error: <file>: <dotted.field>: <message>``, and exit 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from agent.daemon.settings import (
    DEFAULT_CONFIG,
    ConfigError,
    Settings,
    demo_settings,
    load_settings,
    parse_settings,
    parse_watch,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run",
        help="watch zones and alert on protected data (the agent daemon)",
        epilog="exit codes: 0 stopped by SIGTERM/SIGINT, 2 configuration or policy error",
    )
    p.add_argument("--config", "-c", help=f"agent config (YAML); default {DEFAULT_CONFIG} when no --watch")
    p.add_argument("--watch", action="append", metavar="PATH[:ROLE]", help="zone to watch (repeatable)")
    p.add_argument("--demo", action="store_true", help="watch ./var/drop with a built-in demo config")
    p.add_argument("--state-dir", help="journal, key and outbox directory")
    p.add_argument("--metrics-addr", metavar="HOST:PORT", help="Prometheus endpoint (default 127.0.0.1:9808)")
    p.add_argument("--alert-log", metavar="FILE", help="append alerts as JSON lines here")
    p.add_argument("--webhook-url", help="POST alerts here")
    p.add_argument(
        "--webhook-format",
        choices=("generic", "alertmanager", "ecs"),
        default="generic",
        help="payload: generic JSON, Alertmanager v2, or an array of ECS events (default generic)",
    )
    p.add_argument("--policies", action="append", metavar="DIR", help="policy pack dir (repeatable)")
    p.add_argument("--workers", type=int, help="scanning processes (default: number of cores)")
    p.add_argument(
        "--settle", type=float, help="seconds without events before a file still open is scanned (default 1)"
    )
    p.add_argument(
        "--close-settle", type=float, help="seconds after a writer's close before a file is scanned (0.25)"
    )
    p.add_argument(
        "--allow-insecure-metrics",
        action="store_true",
        help="allow --metrics-addr on a non-loopback address without TLS or basic auth",
    )
    p.add_argument("--file-timeout", type=float, help="seconds per file before its worker is replaced")
    p.add_argument("--reconcile-interval", type=float, help="seconds between full crawls (default 3600)")
    p.add_argument("--log-format", choices=("json", "console", "auto"), help="log rendering")
    p.add_argument("--log-level", choices=("debug", "info", "warning", "error"), help="log level")
    p.set_defaults(func=run_agent)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    o: dict[str, Any] = {}
    if args.state_dir:
        o["state_dir"] = os.path.abspath(args.state_dir)
    if args.metrics_addr:
        o["metrics"] = {"address": args.metrics_addr}
        if args.allow_insecure_metrics:
            o["metrics"]["allow_insecure_metrics"] = True
    if args.policies:
        o["policies"] = [os.path.abspath(p) for p in args.policies]
    for flag, field in (
        ("workers", "workers"),
        ("settle", "settle_seconds"),
        ("close_settle", "close_settle_seconds"),
        ("file_timeout", "file_timeout"),
        ("reconcile_interval", "reconcile_interval"),
        ("log_format", "log_format"),
        ("log_level", "log_level"),
    ):
        if getattr(args, flag) is not None:
            o[field] = getattr(args, flag)
    sinks: dict[str, Any] = {}
    if args.alert_log:
        sinks["jsonl"] = {"path": os.path.abspath(args.alert_log)}
    if args.webhook_url:
        sinks["webhooks"] = [{"name": "webhook", "url": args.webhook_url, "format": args.webhook_format}]
    if sinks:
        o["sinks"] = sinks
    return o


def settings_from_args(args: argparse.Namespace) -> tuple[Settings, str | None]:
    """Settings and the config path (None without a file); raises ConfigError."""
    overrides = _overrides(args)
    if args.demo:
        base = demo_settings().model_dump()
        base.update(overrides)
        return parse_settings(base, "--demo"), None
    if args.watch:
        data: dict[str, Any] = {"zones": [parse_watch(w, i) for i, w in enumerate(args.watch)]}
        data.setdefault("sinks", {"stdout": not args.alert_log})
        data.update(overrides)
        return parse_settings(data, "command line"), None
    path = args.config or DEFAULT_CONFIG
    settings = load_settings(path)
    if overrides:
        merged = settings.model_dump()
        for k, v in overrides.items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k] = {**merged[k], **v}
            else:
                merged[k] = v
        settings = parse_settings(merged, path)
    return settings, path


def run_agent(args: argparse.Namespace) -> int:
    try:
        settings, path = settings_from_args(args)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    from agent.log import configure_logging

    fmt = settings.log_format
    configure_logging(json=None if fmt == "auto" else fmt == "json", level=settings.log_level)
    from agent.daemon.app import Agent
    from agent.policy import PolicyError

    try:
        return Agent(settings, config_path=path).run()
    except PolicyError as e:
        print(f"policy error: {str(e).splitlines()[0]}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or type(e).__name__}: {e.filename or ''}", file=sys.stderr)
        return 2
