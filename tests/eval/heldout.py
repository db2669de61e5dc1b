"""Deterministic generator of a held-out-style evaluation set, and its scorer.

It stands in for the project's held-out corpus: other phrasings, six languages (en, de, fr, it, es, nl),
other containers (eml with attachments, pptx, odt/ods, tar.gz, nested zip, multi-sheet xlsx, pdf,
json/yaml/ini/.env, markdown, logs), hard negatives and positives. Values are generated fakes only.

    python -m tests.eval.heldout OUT_DIR          # writes OUT_DIR/files/* and OUT_DIR/labels.jsonl

Labels use the public corpus schema (``file``, ``expect_alert``, ``category``, ``note``) plus ``lang``,
so ``../shared/eval/score.py`` scores it as well.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from tests.eval.formats import RENDER, TABLE_ONLY, eml, tar_gz_bytes, write, zip_bytes
from tests.eval.heldout_account_roles import account_role_specs
from tests.eval.heldout_bank_documents import bank_document_specs
from tests.eval.heldout_credentials import credential_specs
from tests.eval.heldout_docs import Spec, card_specs, iban_specs, marking_specs
from tests.eval.heldout_exports import export_specs
from tests.eval.heldout_hidden_parts import hidden_part_specs
from tests.eval.heldout_negatives import negative_specs
from tests.eval.heldout_placements import placement_negative_specs, placement_positive_specs
from tests.eval.heldout_regional import regional_specs
from tests.eval.heldout_roles_hashes import roles_hashes_specs

SEED = 20250314
ALERT_SEVERITIES = frozenset({"medium", "high", "critical"})
#: Categories whose recall must be 1.0 (the acceptance criterion).
MUST_FIND = ("card", "iban_customer", "credential")
_SUBJECT = {
    "en": "Documents as requested",
    "de": "Unterlagen wie besprochen",
    "fr": "Documents demandés",
    "it": "Documenti richiesti",
    "es": "Documentos solicitados",
    "nl": "Gevraagde documenten",
}


def _render(spec: Spec, fmt: str) -> tuple[str, bytes]:
    if spec.blob is not None:
        return spec.blob
    if spec.raw is not None:
        return spec.raw[0], spec.raw[1].encode("utf-8")
    assert spec.doc is not None
    if fmt == "eml":
        return "eml", eml(spec.doc.title, spec.doc.text(), [], spec.lang)
    if fmt in TABLE_ONLY and not spec.doc.sheets:
        fmt = "txt"
    return fmt, RENDER[fmt](spec.doc)


def _wrap(rng: random.Random, stem: str, ext: str, data: bytes, lang: str, i: int) -> tuple[str, bytes]:
    """Every few files travel in a container: mail attachment, tar.gz, zip, zip in zip."""
    kind = i % 12
    inner = f"{stem}.{ext}"
    if kind == 1:
        return "eml", eml(_SUBJECT[lang], "Please find the file attached.\n", [(inner, data)], lang)
    if kind == 5:
        return "tar.gz", tar_gz_bytes(
            [("export/readme.txt", b"Export of the shared folder.\n"), (f"export/{inner}", data)]
        )
    if kind == 9:
        nested = zip_bytes([(f"docs/{inner}", data)])
        return "zip", zip_bytes([("notes.txt", b"Archive of last quarter.\n"), ("q1/batch.zip", nested)])
    if kind == 11 and ext not in ("env", "key"):
        return "zip", zip_bytes([(inner, data)])
    return ext, data


def specs(rng: random.Random, rounds: int = 2) -> list[tuple[str, Spec]]:
    """Every template with the set it belongs to. "base": the first phrasings per category (positives
    again in later rounds, every other one, with fresh values and, by position, another format) and the
    hard negatives; then each later set, written blind after the earlier ones were tuned. The order of
    the calls fixes the random stream: keep it."""
    out: list[Spec] = []
    for r in range(rounds):
        batch = card_specs(rng) + iban_specs(rng) + marking_specs(rng) + credential_specs(rng)
        out += batch if r == 0 else batch[1::2]  # ~250 files in all
    out += negative_specs(rng)
    placements = placement_positive_specs(rng) + placement_negative_specs(rng)
    exports, regional, bank_documents = export_specs(rng), regional_specs(rng), bank_document_specs(rng)
    return (
        [("base", s) for s in out]
        + [("placements", s) for s in placements]
        + [("exports", s) for s in exports]
        + [("regional", s) for s in regional]
        + [("bank_documents", s) for s in bank_documents]
        + [("account_roles", s) for s in account_role_specs(rng)]
        + [("hidden_parts", s) for s in hidden_part_specs(rng)]
        + [("roles_hashes", s) for s in roles_hashes_specs(rng)]
    )


def generate(out: Path, seed: int = SEED) -> list[dict[str, object]]:
    """Write the files under ``out/files`` and ``out/labels.jsonl``; return the label rows."""
    rng = random.Random(seed)
    labels = []
    for i, (subset, spec) in enumerate(specs(rng)):
        fmt = spec.formats[i % len(spec.formats)]
        ext, data = _render(spec, fmt)
        stem = f"{spec.category}_{spec.lang}_{i:03d}"
        if ext not in ("env",):
            ext, data = _wrap(rng, stem, ext, data, spec.lang, i)
        name = f"{stem}.{ext}" if ext != "env" else f"{stem}/.env"
        write(out / "files" / name, data)
        labels.append(
            {
                "file": name.split("/")[0] if ext == "env" else name,
                "expect_alert": spec.alert,
                "category": spec.category,
                "lang": spec.lang,
                "set": subset,
                "note": spec.note,
                **({"known_weak": spec.weak} if spec.weak else {}),
            }
        )
    (out / "labels.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in labels), "utf-8"
    )
    return labels


def alerted_files(findings: Iterable[dict[str, object]], root: Path) -> set[str]:
    """Top-level label keys (file or folder directly under ``root``) with a finding of medium or above."""
    base = os.path.realpath(root)
    hit = set()
    for f in findings:
        if (
            f.get("kind", "finding") != "finding"
            or str(f.get("severity", "")).lower() not in ALERT_SEVERITIES
        ):
            continue
        rel = os.path.relpath(os.path.realpath(str(f["path"])), base)
        hit.add(rel.split(os.sep, 1)[0])
    return hit


def score(labels: list[dict[str, object]], alerted: set[str]) -> dict[str, dict[str, float]]:
    """Per category and TOTAL: n, tp, fp, fn, precision, recall (file level, like score.py)."""
    table: dict[str, dict[str, float]] = defaultdict(lambda: {"n": 0, "tp": 0, "fp": 0, "fn": 0})
    for row in labels:
        pred, exp = row["file"] in alerted, bool(row["expect_alert"])
        for key in (str(row["category"]), "TOTAL"):
            t = table[key]
            t["n"] += 1
            t["tp"] += pred and exp
            t["fp"] += pred and not exp
            t["fn"] += exp and not pred
    for t in table.values():
        t["precision"] = t["tp"] / (t["tp"] + t["fp"]) if t["tp"] + t["fp"] else 1.0
        t["recall"] = t["tp"] / (t["tp"] + t["fn"]) if t["tp"] + t["fn"] else 1.0
    return dict(table)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0] if args else "var/heldout")
    rows = generate(out)
    print(f"{len(rows)} files in {out / 'files'}, labels in {out / 'labels.jsonl'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
