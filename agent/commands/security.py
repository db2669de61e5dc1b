"""Security sub-commands: keys, quarantine vault, signatures, audit log, sealed evidence.

Exit codes: 0 success, 1 a verification failed (tampered, unsigned, broken chain), 2 usage or
configuration error (missing key, wrong passphrase, unknown incident). Expected errors print one
line on stderr, never a traceback.

`keys generate` writes both pairs by default (`--kind` narrows it): quarantine.key/.pub (X25519,
vault and evidence) and signing.key/.pub (Ed25519, policy packs and indexes). Only the .pub files go
to the agent hosts; the .key files stay with the security team.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from agent.actions.quarantine import QuarantineError, QuarantineStore
from agent.log import configure_logging
from agent.redact import printable
from agent.security.audit import AuditError, AuditLog, audit_path, verify_chain
from agent.security.evidence import EvidenceStore, SealError
from agent.security.keys import (
    KEY_KINDS,
    KeyFileError,
    load_quarantine_private,
    load_signing_private,
    load_signing_public,
    read_passphrase_file,
    write_keypair,
)
from agent.security.signing import SignatureRejected, sign_file, verify

Handler = Callable[[argparse.Namespace], int]


class _UsageError(Exception):
    """Bad arguments or configuration: exit 2."""


def _fail(message: str) -> None:
    print(f"dropwarden: {message}", file=sys.stderr)


def _guarded(fn: Handler) -> Handler:
    """Turn expected errors into one stderr line and exit 2 (verification failures return 1 themselves)."""

    @functools.wraps(fn)
    def wrapper(args: argparse.Namespace) -> int:
        if not structlog.is_configured():  # library events (file_restored, ...) go to stderr, not stdout
            configure_logging(level="warning", stream=sys.stderr)
        try:
            return fn(args)
        except (_UsageError, KeyFileError, AuditError) as exc:
            _fail(str(exc))
            return 2
        except QuarantineError as exc:
            _fail(str(exc))
            return 1 if exc.reason in ("tampered", "hash_mismatch") else 2
        except OSError as exc:
            _fail(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
            return 2

    return wrapper


#: The agent key's default place (settings.key_path), used when --agent-key is not given.
DEFAULT_AGENT_KEY = "agent.key"


def _agent_key(args: argparse.Namespace, state: Path | None = None) -> bytes | None:
    path = getattr(args, "agent_key", None)
    if path is None and state is not None and (state / DEFAULT_AGENT_KEY).is_file():
        path = state / DEFAULT_AGENT_KEY
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _UsageError(f"cannot read agent key {path}: {exc.strerror}") from None
    if len(data) < 16:
        raise _UsageError(f"agent key {path} is too short")
    return data


def _state_dir(args: argparse.Namespace) -> Path:
    p = Path(args.state_dir)
    if not p.is_dir():
        raise _UsageError(f"state directory {p} does not exist")
    return p


# -- handlers -----------------------------------------------------------------------------------
@_guarded
def cmd_keys_generate(args: argparse.Namespace) -> int:
    passphrase = read_passphrase_file(args.passphrase_file)
    kinds = KEY_KINDS if args.kind == "all" else (args.kind,)
    audit = None
    if args.state_dir is not None:  # record the key change in that agent's audit chain
        state = _state_dir(args)
        audit = AuditLog(audit_path(state), key=_agent_key(args, state))
        audit.check_key()
    for kind in kinds:
        files = write_keypair(args.out, kind, passphrase=passphrase, overwrite=args.force)
        print(f"{kind}: {files.private} (keep with the security team)  {files.public}  key-id {files.key_id}")
        if audit is not None:
            audit.append(
                "keys_generated",
                kind=kind,
                key_id=files.key_id,
                public=str(files.public),
                overwrite=args.force,
            )
    return 0


@_guarded
def cmd_quarantine_list(args: argparse.Namespace) -> int:
    records = QuarantineStore(_state_dir(args)).list()
    if args.json:
        for r in records:
            print(r.to_json().decode().replace("\n", ""))
        return 0
    if not records:
        print("vault is empty")
        return 0
    print(f"{'INCIDENT':30} {'STATE':8} {'SIZE':>10} {'ZONE':12} {'RULE':24} PATH")
    for r in records:
        state = "restored" if r.restored else r.state
        zone, rule, path = (printable(x) for x in (r.zone or "-", r.rule, r.original_path))
        print(f"{r.incident_id:30} {state:8} {r.size:>10} {zone:12} {rule:24} {path}")
    return 0


@_guarded
def cmd_quarantine_restore(args: argparse.Namespace) -> int:
    state = _state_dir(args)
    agent_key = _agent_key(args, state)
    private = load_quarantine_private(args.key, read_passphrase_file(args.passphrase_file))
    audit = AuditLog(audit_path(state), key=agent_key)
    audit.check_key()  # fail before restoring, not after
    store = QuarantineStore(state, hash_key=agent_key, audit=audit)
    target = store.restore(args.incident_id, private, to=args.to, force=args.force, in_place=args.in_place)
    print(f"restored {args.incident_id} to {printable(str(target))}")
    return 0


@_guarded
def cmd_sign(args: argparse.Namespace) -> int:
    key = load_signing_private(args.key, read_passphrase_file(args.passphrase_file))
    for f in args.files:
        if not Path(f).is_file():
            raise _UsageError(f"{f} is not a file")
        print(f"signed {f} -> {sign_file(f, key)}")
    return 0


@_guarded
def cmd_manifest(args: argparse.Namespace) -> int:
    from agent.security.manifest import write_manifest

    key = load_signing_private(args.key, read_passphrase_file(args.passphrase_file))
    if not Path(args.dir).is_dir():
        raise _UsageError(f"{args.dir} is not a directory")
    out = write_manifest(args.dir, key, args.version, args.name)
    print(f"signed manifest {out} (version {args.version})")
    return 0


@_guarded
def cmd_verify(args: argparse.Namespace) -> int:
    keys = [load_signing_public(p) for p in args.pub]
    status = 0
    for f in args.files:
        try:
            kid = verify(f, keys)
        except SignatureRejected as exc:
            _fail(str(exc))
            status = 1
        else:
            print(f"{f}: good signature by key {kid}")
    return status


@_guarded
def cmd_audit_verify(args: argparse.Namespace) -> int:
    if (args.state_dir is None) == (args.file is None):
        raise _UsageError("give exactly one of --state-dir or --file")
    state = _state_dir(args) if args.state_dir else None
    path = Path(args.file) if args.file else audit_path(_state_dir(args))
    report = verify_chain(path, key=_agent_key(args, state))
    if report.ok:
        print(f"{path}: chain intact, {report.lines} lines")
        return 0
    where = f" at line {report.line}" if report.line else ""
    _fail(f"{path}: {report.reason}{where}: {report.detail}")
    return 2 if report.reason in ("missing", "key_required") else 1


@_guarded
def cmd_evidence_show(args: argparse.Namespace) -> int:
    private = load_quarantine_private(args.key, read_passphrase_file(args.passphrase_file))
    store = EvidenceStore(_state_dir(args))
    try:
        data = store.get(args.evidence_id, private)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    except FileNotFoundError:
        raise _UsageError(f"no evidence {args.evidence_id}") from None
    except SealError as exc:
        _fail(f"evidence {args.evidence_id} failed verification: {exc}")
        return 1
    sys.stdout.write(data.decode("utf-8", errors="replace"))
    return 0


# -- parser -------------------------------------------------------------------------------------
#: Shown in every security sub-command's --help (see the module docstring).
EXIT_CODES = "exit codes: 0 success, 1 a verification failed (tampered, unsigned), 2 usage or config error"
STATE_DIR_HELP = "the agent's state directory (vault, audit log, evidence), e.g. /var/lib/dropwarden"


def _add(sub: Any, name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_, epilog=EXIT_CODES)
    p.set_defaults(func=handler)
    return p


def _passphrase(p: argparse.ArgumentParser) -> None:
    p.add_argument("--passphrase-file", metavar="F", help="file holding the private key's passphrase")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add keys, quarantine, sign, verify, audit and evidence sub-commands to the main parser."""
    keys = subparsers.add_parser("keys", help="manage the security team's key pairs")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    p = _add(
        keys_sub, "generate", cmd_keys_generate, "generate quarantine (X25519) and signing (Ed25519) pairs"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="directory for <kind>.key and <kind>.pub")
    p.add_argument("--kind", choices=(*KEY_KINDS, "all"), default="all", help="which pair (default: all)")
    p.add_argument("--force", action="store_true", help="overwrite existing key files")
    p.add_argument("--state-dir", metavar="DIR", help="also record the new key ids in this agent's audit log")
    p.add_argument(
        "--agent-key", metavar="F", help="the agent key (default: <state-dir>/agent.key if present)"
    )
    _passphrase(p)

    q = subparsers.add_parser("quarantine", help="inspect and restore the quarantine vault")
    q_sub = q.add_subparsers(dest="quarantine_command", metavar="ACTION", required=True)
    p = _add(q_sub, "list", cmd_quarantine_list, "list vault items (metadata only)")
    p.add_argument("--state-dir", required=True, metavar="DIR", help=STATE_DIR_HELP)
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p = _add(q_sub, "restore", cmd_quarantine_restore, "decrypt a vault item beside its tombstone")
    p.add_argument("incident_id", metavar="ID", help="incident id (from the alert or `quarantine list`)")
    p.add_argument("--key", required=True, metavar="PRIVATE_KEY", help="quarantine.key of the security team")
    p.add_argument("--to", metavar="PATH", help="restore here instead of beside the tombstone")
    p.add_argument(
        "--in-place",
        action="store_true",
        help="replace the tombstone at the original path (default: a new name)",
    )
    p.add_argument("--state-dir", required=True, metavar="DIR", help=STATE_DIR_HELP)
    p.add_argument("--force", action="store_true", help="overwrite a file that is not the tombstone")
    p.add_argument(
        "--agent-key", metavar="F", help="the agent key (default: <state-dir>/agent.key if present)"
    )
    _passphrase(p)

    p = _add(subparsers, "sign", cmd_sign, "write FILE.sig (Ed25519) for policy packs and indexes")
    p.add_argument("files", nargs="+", metavar="FILE", help="policy packs, value sets or indexes to sign")
    p.add_argument("--key", required=True, metavar="SIGNING_KEY", help="signing.key of the security team")
    _passphrase(p)

    p = _add(subparsers, "manifest", cmd_manifest, "sign the manifest of a whole policy directory")
    p.add_argument("dir", metavar="DIR", help="the policy directory whose every file the manifest lists")
    p.add_argument("--key", required=True, metavar="SIGNING_KEY", help="Ed25519 signing key (PEM)")
    p.add_argument("--version", required=True, type=int, help="must grow with each release of the set")
    p.add_argument("--name", help="set name (default: the directory's name); rollback is checked per name")
    _passphrase(p)

    p = _add(subparsers, "verify", cmd_verify, "check FILE.sig against trusted signing keys")
    p.add_argument("files", nargs="+", metavar="FILE", help="signed files (FILE.sig next to each)")
    p.add_argument("--pub", required=True, action="append", metavar="SIGNING_PUB", help="repeatable")

    a = subparsers.add_parser("audit", help="the tamper-evident audit log")
    a_sub = a.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    p = _add(a_sub, "verify", cmd_audit_verify, "check the audit hash chain; exit 1 on tampering")
    p.add_argument("--state-dir", metavar="DIR", help=STATE_DIR_HELP)
    p.add_argument("--file", metavar="FILE", help="an audit.jsonl outside a state directory")
    p.add_argument(
        "--agent-key", metavar="F", help="the agent key (default: <state-dir>/agent.key if present)"
    )

    e = subparsers.add_parser("evidence", help="sealed match context")
    e_sub = e.add_subparsers(dest="evidence_command", metavar="ACTION", required=True)
    p = _add(e_sub, "show", cmd_evidence_show, "decrypt and print one evidence blob")
    p.add_argument("evidence_id", metavar="ID", help="evidence id (from the alert)")
    p.add_argument("--key", required=True, metavar="PRIVATE_KEY", help="quarantine.key of the security team")
    p.add_argument("--state-dir", required=True, metavar="DIR", help=STATE_DIR_HELP)
    _passphrase(p)
