"""`dropwarden protect data|docs`: build keyed exact-data-match and document-fingerprint indexes.

Also the wiring that `scan --protect-data/--protect-docs` uses to build the same indexes in memory.
Document text comes from the extraction stage, so a protected DOCX or PDF is read like any scanned file.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from agent.models import ExtractError, Limits

EXIT_CODES = "exit codes: 0 index written, 2 usage error (missing input, bad columns)"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("protect", help="build indexes of protected data (exact data match, fingerprints)")
    psub = p.add_subparsers(dest="protect_command", metavar="KIND")
    psub.required = True
    d = psub.add_parser("data", help="index a protected table (CSV) as keyed hashes", epilog=EXIT_CODES)
    d.add_argument("table", metavar="TABLE.csv", help="the protected table (header row names the columns)")
    d.add_argument("--out", required=True, metavar="INDEX", help="index file to write")
    d.add_argument("--columns", help="comma-separated columns to index (default: all)")
    d.add_argument("--key", dest="key_file", help="secret key file (created 0600 if absent)")
    d.set_defaults(func=_protect_data)
    f = psub.add_parser(
        "docs", help="fingerprint protected documents (winnowed keyed word k-grams)", epilog=EXIT_CODES
    )
    f.add_argument("directory", metavar="DIR", help="folder of protected documents (any readable format)")
    f.add_argument("--out", required=True, metavar="INDEX", help="index file to write")
    f.add_argument("--key", dest="key_file", help="secret key file (created 0600 if absent)")
    f.set_defaults(func=_protect_docs)


def document_texts(directory: str, limits: Limits | None = None) -> Iterator[tuple[str, str]]:
    """(doc_id, text) for every readable document under directory; doc_id is the file name stem."""
    from agent.extract import Extractor
    from agent.sources.walk import walk

    extractor = Extractor(limits or Limits())
    for ref in walk([directory]):
        if isinstance(ref, ExtractError):
            print(f"protect docs: skipped {ref.path}: {ref.reason}", file=sys.stderr)
            continue
        parts = [c.text for c in extractor.extract(ref) if not isinstance(c, ExtractError)]
        if parts:
            yield Path(ref.path).stem, "\n".join(parts)


def detectors_for_scan(
    table: str | None,
    columns: Sequence[str] | None,
    docs_dir: str | None,
    key: bytes,
    limits: Limits | None = None,
) -> list[object]:
    """In-memory EDM and fingerprint detectors for an ad hoc scan (nothing written to disk)."""
    if not table and not docs_dir:
        return []
    from agent.classify.indexes.protect import (
        EdmDetector,
        FingerprintDetector,
        build_edm_index,
        build_fingerprint_index,
    )

    detectors: list[object] = []
    if table:
        if not os.path.isfile(table):
            raise ValueError(f"--protect-data: no such file: {table}")
        detectors.append(EdmDetector(build_edm_index(table, columns, key)))
    if docs_dir:
        if not os.path.isdir(docs_dir):
            raise ValueError(f"--protect-docs: no such directory: {docs_dir}")
        detectors.append(FingerprintDetector(build_fingerprint_index(document_texts(docs_dir, limits), key)))
    return detectors


def _key(args: argparse.Namespace) -> bytes:
    from agent.redact import default_key_path, load_or_create_key

    return load_or_create_key(args.key_file or default_key_path())


def _protect_data(args: argparse.Namespace) -> int:
    from agent.classify.indexes.protect import build_edm_index

    if not os.path.isfile(args.table):
        print(f"protect data: no such file: {args.table}", file=sys.stderr)
        return 2
    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    try:
        index = build_edm_index(args.table, columns, _key(args))
    except ValueError as exc:
        print(f"protect data: {exc}", file=sys.stderr)
        return 2
    index.save(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _protect_docs(args: argparse.Namespace) -> int:
    from agent.classify.indexes.protect import build_fingerprint_index

    if not os.path.isdir(args.directory):
        print(f"protect docs: no such directory: {args.directory}", file=sys.stderr)
        return 2
    index = build_fingerprint_index(document_texts(args.directory), _key(args))
    index.save(args.out)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0
