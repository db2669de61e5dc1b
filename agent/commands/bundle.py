"""`dropwarden bundle build|verify`: signed policy bundles for a fleet of agents (agent.security.bundle)."""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent.security.bundle import BundleRejected, build_bundle, unpack, verified
from agent.security.keys import KeyFileError, load_signing_private, load_signing_public, read_passphrase_file


def cmd_build(args: argparse.Namespace) -> int:
    for d in args.policies:
        if not Path(d).is_dir():
            print(f"dropwarden: {d} is not a directory", file=sys.stderr)
            return 2
    for f in args.index:
        if not Path(f).is_file():
            print(f"dropwarden: {f} is not a file", file=sys.stderr)
            return 2
    try:
        key = load_signing_private(args.key, read_passphrase_file(args.passphrase_file))
    except KeyFileError as exc:
        print(f"dropwarden: {exc}", file=sys.stderr)
        return 2
    out = build_bundle(args.policies, args.index, key, args.version, args.name, args.out)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"bundle {out} name={args.name} version={args.version} sha256={digest}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a bundle as an agent would (signature, exact file set), without installing it."""
    try:
        keys = [load_signing_public(p) for p in args.pub]
        data = Path(args.bundle).read_bytes()
    except (KeyFileError, OSError) as exc:
        print(f"dropwarden: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="dropwarden-bundle-") as tmp:
        try:
            unpack(data, Path(tmp) / "b", len(data) * 64 + 1024**2)
            manifest, files = verified(Path(tmp) / "b", keys)
        except BundleRejected as exc:
            print(f"{args.bundle}: {exc}", file=sys.stderr)
            return 1
    print(f"{args.bundle}: OK name={manifest.name} version={manifest.version} files={len(files)}")
    return 0


BUILD_EXIT_CODES = "exit codes: 0 bundle written, 2 usage or key error"
VERIFY_EXIT_CODES = "exit codes: 0 the bundle verifies, 1 refused (reason printed), 2 usage or key error"


def register(subparsers: Any) -> None:
    b = subparsers.add_parser("bundle", help="signed policy bundles for a fleet of agents")
    sub = b.add_subparsers(dest="bundle_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "build", help="pack policy directories and index files into a signed bundle", epilog=BUILD_EXIT_CODES
    )
    p.set_defaults(func=cmd_build)
    p.add_argument(
        "--policies", action="append", default=[], metavar="DIR", help="repeatable, in layer order"
    )
    p.add_argument(
        "--index", action="append", default=[], metavar="FILE", help="EDM (.edm) or fingerprint (.fp) index"
    )
    p.add_argument("--key", required=True, metavar="SIGNING_KEY", help="Ed25519 private key (PEM)")
    p.add_argument("--passphrase-file", metavar="F", help="file holding the signing key's passphrase")
    p.add_argument("--version", required=True, type=int, help="must grow with each release (rollback guard)")
    p.add_argument("--name", default="policies", help="set name; agents refuse an older version of it")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the bundle (.tar)")
    p = sub.add_parser(
        "verify", help="check a bundle's signature and file set as an agent would", epilog=VERIFY_EXIT_CODES
    )
    p.set_defaults(func=cmd_verify)
    p.add_argument("bundle", metavar="BUNDLE", help="the bundle file (.tar) to check")
    p.add_argument("--pub", required=True, action="append", metavar="SIGNING_PUB", help="repeatable")
