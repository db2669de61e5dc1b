"""`dropwarden ack add|list|expire`: manage the acknowledgement file the daemon reads.

The file, the state directory (audit log) and the agent key come from the agent config
(``--config``, default /etc/dropwarden/agent.yaml). Every change is appended to the agent's audit
chain before the command returns; reload the agent (`systemctl reload dropwarden`) to apply it.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import Any

from agent.daemon.settings import DEFAULT_CONFIG, ConfigError, Settings, load_settings
from agent.policy.acks import AckError, AckSet, ack_id, load_acks, save_acks

EXIT_CODES = "exit codes: 0 done, 1 no such entry, 2 usage, config or audit error"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ack", help="acknowledge findings without editing policy", epilog=EXIT_CODES)
    asub = p.add_subparsers(dest="ack_command", metavar="ACTION", required=True)
    add = asub.add_parser("add", help="acknowledge a rule + fingerprint (+ path glob)", epilog=EXIT_CODES)
    add.add_argument("--rule", required=True, help="rule id, as in the alert")
    add.add_argument("--fingerprint", required=True, help="keyed fingerprint, as in the alert")
    add.add_argument("--path", metavar="GLOB", help="only on top-level paths matching this glob")
    add.add_argument("--reason", required=True, help="why this is not a leak (ticket, legal basis)")
    add.add_argument("--author", required=True, help="who acknowledges it")
    add.add_argument(
        "--expires",
        required=True,
        metavar="DATE",
        help="YYYY-MM-DD (valid through that day, UTC) or ISO time",
    )
    lst = asub.add_parser("list", help="show the entries (active ones unless --all)", epilog=EXIT_CODES)
    lst.add_argument("--all", action="store_true", help="expired entries too")
    exp = asub.add_parser("expire", help="end an entry now (its findings alert again)", epilog=EXIT_CODES)
    exp.add_argument("id", metavar="ID", help="entry id (from `ack list`)")
    exp.add_argument("--author", required=True, help="who ends it")
    for q in (add, lst, exp):
        q.add_argument(
            "--config", "-c", default=DEFAULT_CONFIG, help=f"agent config (default {DEFAULT_CONFIG})"
        )
    add.set_defaults(func=_guard(cmd_add))
    lst.set_defaults(func=_guard(cmd_list))
    exp.set_defaults(func=_guard(cmd_expire))


def _guard(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        from agent.log import configure_logging
        from agent.security.audit import AuditError

        configure_logging(json=True, level="warning", stream=sys.stderr)
        try:
            return int(fn(args))
        except (ConfigError, AckError, AuditError, ValueError) as exc:
            print(f"dropwarden ack: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            print(f"dropwarden ack: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
            return 2

    return run


def _audit(settings: Settings) -> Any:
    """The agent's audit chain, key checked before anything is changed."""
    from agent.security.audit import AuditLog, audit_path

    try:
        key: bytes | None = settings.key_path.read_bytes()
    except FileNotFoundError:
        key = None
    log = AuditLog(audit_path(settings.state_dir), key=key)
    log.check_key()
    return log


def _expires(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--expires {text!r}: not YYYY-MM-DD or an ISO timestamp") from None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).isoformat()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def cmd_add(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    audit = _audit(settings)
    current = load_acks(settings.acknowledged)
    new_id = ack_id(args.rule, args.fingerprint, args.path)
    entry: dict[str, Any] = {"id": new_id, "rule": args.rule, "fingerprint": args.fingerprint}
    if args.path:
        entry["path"] = args.path
    entry |= {
        "reason": args.reason,
        "author": args.author,
        "expires": _expires(args.expires),
        "added": _now(),
    }
    entries = [a.raw for a in current.entries if a.id != new_id] + [entry]
    save_acks(settings.acknowledged, entries)
    audit.append(
        "ack_added", id=new_id, rule=args.rule, fingerprint=args.fingerprint, path=args.path,
        reason=args.reason, author=args.author, expires=entry["expires"], file=settings.acknowledged,
    )  # fmt: skip
    print(f"acknowledged {new_id} until {entry['expires']}; reload the agent to apply it")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    acks: AckSet = load_acks(load_settings(args.config).acknowledged)
    now = datetime.now(UTC)
    shown = [a for a in acks.entries if args.all or a.active(now)]
    if not shown:
        print("no acknowledged findings")
        return 0
    print(f"{'ID':12} {'STATE':7} {'EXPIRES':25} {'RULE':30} {'AUTHOR':12} FINGERPRINT / PATH / REASON")
    for a in shown:
        state = "active" if a.active(now) else "expired"
        print(
            f"{a.id:12} {state:7} {a.expires.isoformat():25} {a.rule:30} {a.author:12} "
            f"{a.fingerprint} {a.path or '*'}  {a.reason}"
        )
    return 0


def cmd_expire(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    audit = _audit(settings)
    current = load_acks(settings.acknowledged)
    if not any(a.id == args.id for a in current.entries):
        print(f"dropwarden ack: no entry {args.id}", file=sys.stderr)
        return 1
    now = _now()
    entries = [a.raw | {"expires": now} if a.id == args.id else a.raw for a in current.entries]
    save_acks(settings.acknowledged, entries)
    audit.append("ack_expired", id=args.id, author=args.author, at=now, file=settings.acknowledged)
    print(f"expired {args.id}; reload the agent to apply it")
    return 0
