"""Deterministic benchmark corpus: mostly benign business text and office files, ~1% with planted values.

`python bench/corpus.py OUT --size-mb 200` writes the same bytes for the same seed and size on any
machine. Plain-text formats (txt, csv, log, md, json) make up about 85% of the bytes; DOCX, XLSX and
PDF the rest. Planted values (Luhn-valid non-test cards, checksum-valid IBANs with customer context,
US SSNs with context, PEM private keys) are generated on the spot; a manifest lists, per file, how many
of each were planted.
"""

from __future__ import annotations

import argparse
import json
import random
import zlib
from pathlib import Path

from agent.demo import group4, iban, luhn_complete

WORDS = [
    "quarterly",
    "report",
    "revenue",
    "forecast",
    "meeting",
    "agenda",
    "project",
    "milestone",
    "delivery",
    "client",
    "review",
    "budget",
    "invoice",
    "supplier",
    "contract",
    "schedule",
    "update",
    "team",
    "workshop",
    "roadmap",
    "release",
    "feature",
    "customer",
    "support",
    "ticket",
    "migration",
    "server",
    "storage",
    "backup",
    "network",
    "policy",
    "compliance",
    "audit",
    "training",
    "onboarding",
    "office",
    "travel",
    "expense",
    "approval",
    "deadline",
    "risk",
    "assessment",
    "vendor",
    "procurement",
    "marketing",
    "campaign",
    "analysis",
    "dashboard",
    "metrics",
    "performance",
    "capacity",
    "planning",
    "infrastructure",
    "deployment",
    "testing",
    "documentation",
]
FIRST = ("Anna", "Luca", "Sofia", "Felix", "Marie", "Paul", "Giulia", "Hugo", "Nina", "Emil")
LAST = ("Weber", "Bianchi", "Girard", "Schmid", "Ricci", "Lambert", "Fischer", "Moretti", "Roux", "Koch")


def sentence(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(6, 16))
    extra = rng.random()
    if extra < 0.08:
        words.append(f"INV-{rng.randint(100000, 999999)}")
    elif extra < 0.14:
        words.append(f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.20{rng.randint(10, 29)}")
    elif extra < 0.18:
        words.append(f"+41 44 {rng.randint(100, 999)} {rng.randint(10, 99)} {rng.randint(10, 99)}")
    elif extra < 0.21:
        words.append(f"{rng.choice(FIRST).lower()}.{rng.choice(LAST).lower()}@example.com")
    elif extra < 0.23:
        words.append(f"https://intranet.example.com/{rng.choice(WORDS)}/{rng.randint(1, 999)}")
    elif extra < 0.26:
        words.append(str(rng.randint(10**9, 10**12)))
    text = " ".join(words)
    return text[0].upper() + text[1:] + "."


def planted(rng: random.Random, kind: str) -> str:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    if kind == "card":
        return f"Customer {name} card number {group4(luhn_complete(rng.choice(['45', '51', '53']), 16, rng))}"
    if kind == "iban":
        bban = "".join(rng.choice("0123456789") for _ in range(18))
        return f"Account holder {name}, IBAN {group4(iban('DE', bban))}, balance EUR {rng.randint(1, 99)} 000"
    if kind == "ssn":
        return f"Employee {name} SSN {rng.randint(100, 665):03d}-{rng.randint(10, 99):02d}-{rng.randint(1000, 9999)}"
    raise ValueError(kind)


KINDS = ("card", "iban", "ssn")


def text_body(rng: random.Random, size: int, plant: bool, fmt: str) -> tuple[str, dict[str, int]]:
    lines: list[str] = []
    counts = {k: 0 for k in KINDS}
    total = 0
    n = 0
    while total < size:
        n += 1
        if plant and rng.random() < 0.01:
            kind = rng.choice(KINDS)
            counts[kind] += 1
            line = planted(rng, kind)
        else:
            line = sentence(rng)
        if fmt == "csv":
            line = f'{n},{rng.choice(FIRST)},{rng.choice(LAST)},{rng.randint(1, 9999)}.{rng.randint(0, 99):02d},"{line}"'
        elif fmt == "log":
            line = f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z INFO app[{rng.randint(100, 9999)}]: {line}"
        elif fmt == "json":
            line = json.dumps({"id": n, "status": rng.choice(WORDS), "note": line}) + ","
        lines.append(line)
        total += len(line) + 1
    body = "\n".join(lines) + "\n"
    if fmt == "json":
        body = "[\n" + body.rstrip(",\n") + "\n]\n"
    return body, counts


def write_pdf(path: Path, text: str) -> None:
    """A minimal valid PDF with one text line per row, Helvetica, several pages."""
    rows = [r.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for r in text.splitlines()]
    pages = [rows[i : i + 50] for i in range(0, len(rows), 50)] or [[]]
    objects: list[bytes] = []
    kids = []
    font_id = 3
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(b"")  # pages, filled below
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for page in pages:
        ops = (
            ["BT /F1 9 Tf 40 800 Td 11 TL"]
            + [f"({r.encode('latin-1', 'replace').decode('latin-1')}) '" for r in page]
            + ["ET"]
        )
        stream = zlib.compress("\n".join(ops).encode("latin-1", "replace"))
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream + b"\nendstream"
        )
        content_id = len(objects)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents %d 0 R "
            b"/Resources << /Font << /F1 %d 0 R >> >> >>" % (content_id, font_id)
        )
        kids.append(len(objects))
    objects[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))


def write_docx(path: Path, text: str) -> None:
    import docx

    doc = docx.Document()
    for para in text.splitlines():
        doc.add_paragraph(para)
    doc.save(str(path))


def write_xlsx(path: Path, text: str) -> None:
    import openpyxl

    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Data")
    for i, line in enumerate(text.splitlines()):
        ws.append([i, line])  # one cell per line: a value split across cells is no longer one value
    wb.save(str(path))


PLAIN = (("txt", 400_000), ("csv", 600_000), ("log", 1_000_000), ("md", 150_000), ("json", 300_000))
OFFICE = (("docx", 120_000), ("xlsx", 150_000), ("pdf", 120_000))


def generate(out: Path, size_mb: float, seed: int = 20261127, office_share: float = 0.15) -> dict:
    """Write the corpus under out/{plain,office}; return the manifest (also written as manifest.json)."""
    rng = random.Random(seed)
    manifest: dict[str, dict] = {"files": {}}
    budget = {"plain": size_mb * 1e6 * (1 - office_share), "office": size_mb * 1e6 * office_share}
    for part, kinds in (("plain", PLAIN), ("office", OFFICE)):
        folder = out / part
        folder.mkdir(parents=True, exist_ok=True)
        written = 0.0
        i = 0
        while written < budget[part]:
            fmt, target = kinds[i % len(kinds)]
            i += 1
            size = int(target * rng.uniform(0.5, 1.5))
            plant = rng.random() < 0.35
            body, counts = text_body(rng, size, plant, fmt if part == "plain" else "txt")
            path = folder / f"{part}_{i:05d}.{fmt}"
            if fmt == "docx":
                write_docx(path, body)
            elif fmt == "xlsx":
                write_xlsx(path, body)
            elif fmt == "pdf":
                write_pdf(path, body)
            else:
                path.write_text(body, encoding="utf-8")
            written += path.stat().st_size
            manifest["files"][str(path.relative_to(out))] = {"bytes": path.stat().st_size, "planted": counts}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def generate_prose(out: Path, size_mb: float, seed: int = 20261204, file_mb: float = 0.25) -> dict:
    """Business prose only (issue 19's 100x figure): .txt files of ~``file_mb`` MB, ~1 % of the lines
    planted cards, IBANs and SSNs with their customer context; the manifest as ``generate``'s."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict] = {"files": {}}
    written, i = 0, 0
    while written < size_mb * 1e6:
        i += 1
        body, counts = text_body(rng, int(file_mb * 1e6 * rng.uniform(0.5, 1.5)), True, "txt")
        path = out / f"prose_{i:04d}.txt"
        path.write_text(body, encoding="utf-8")
        written += path.stat().st_size
        manifest["files"][path.name] = {"bytes": path.stat().st_size, "planted": counts}
    (out.parent / f"{out.name}.manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out")
    ap.add_argument("--size-mb", type=float, default=200)
    ap.add_argument("--seed", type=int, default=20261127)
    a = ap.parse_args()
    m = generate(Path(a.out), a.size_mb, a.seed)
    print(f"{len(m['files'])} files written to {a.out}")


if __name__ == "__main__":
    main()
