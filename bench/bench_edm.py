"""Benchmark EDM and document-fingerprint indexes at the sizes the security team asked for.

    .venv/bin/python bench/bench_edm.py                 # 1,000,000 x 6 table, 10,000 documents
    .venv/bin/python bench/bench_edm.py --rows 100000 --docs 1000   # a quick run

Each phase (build, load, match) runs in its own subprocess so its peak RSS is measured alone.
All data is generated: invented names, random checksum-valid IBANs, random numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = b"bench-key-not-a-secret-0123456789"
_SYL = ["an", "bel", "cor", "da", "el", "fen", "gi", "ha", "is", "jo", "ka", "lu", "mar", "no", "ot", "pe"]
_SYL += ["qui", "ra", "sol", "ti", "ul", "vin", "wen", "xa", "yo", "zu"]


def _names(rng: random.Random, n: int) -> list[str]:
    return sorted({(rng.choice(_SYL) + rng.choice(_SYL) + rng.choice(_SYL)).capitalize() for _ in range(n)})


def _iban(rng: random.Random) -> str:
    bban = f"{rng.randrange(10**16, 10**17)}"
    return f"CH{98 - int(bban + '121700') % 97:02d}{bban}"


def make_table(path: Path, rows: int) -> None:
    rng = random.Random(1)
    first, last = _names(rng, 3000), _names(rng, 20000)
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["customer_id", "full_name", "date_of_birth", "iban", "account_number", "email"])
        for i in range(rows):
            f, s = rng.choice(first), rng.choice(last)
            w.writerow(
                [
                    f"C{10**8 + i}",
                    f"{f} {s}",
                    f"{rng.randrange(1930, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
                    _iban(rng),
                    str(rng.randrange(10**9, 10**10)),
                    f"{f.lower()}.{s.lower()}{i}@example.org",
                ]
            )


def make_text(table: Path, n_bytes: int) -> str:
    """Fake business prose with a protected record (name + account number) every ~20 kB."""
    rng = random.Random(2)
    with table.open(encoding="utf-8") as fh:
        sample = [r for _, r in zip(range(2000), csv.reader(fh), strict=False)][1:]
    words = ["the", "report", "quarter", "client", "meeting", "review", "loan", "risk", "Zurich", "team"]
    words += ["approved", "pending", "call", "on", "2024-03-01", "CHF", "12'500.00", "ref", "42", "Geneva"]
    out: list[str] = []
    size = 0
    while size < n_bytes:
        line = " ".join(rng.choice(words) for _ in range(rng.randrange(8, 20))) + ".\n"
        if rng.random() < 0.005:
            r = rng.choice(sample)
            line = f"Customer {r[1]} (account {r[4]}) asked for a callback.\n"
        out.append(line)
        size += len(line)
    return "".join(out)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def phase(name: str, args: list[str]) -> dict[str, float]:
    """Run one phase in a fresh interpreter; it prints a JSON line with its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--phase", name, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_phase(name: str, work: Path) -> dict[str, float]:
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))
    from agent.models import TextChunk
    from agent.protect import (
        EdmDetector,
        EdmIndex,
        FingerprintDetector,
        FingerprintIndex,
        build_edm_index,
        build_fingerprint_index,
    )

    t0 = time.perf_counter()
    if name == "edm-build":
        idx = build_edm_index(work / "table.csv", None, KEY)
        build = time.perf_counter() - t0
        idx.save(work / "table.edm")
        return {
            "build_s": build,
            "entries": idx.hashes.size,
            "file_mb": (work / "table.edm").stat().st_size / 2**20,
        }
    if name == "edm-load":
        idx = EdmIndex.load(work / "table.edm", KEY)
        return {"load_s": time.perf_counter() - t0, "entries": idx.hashes.size}
    if name == "edm-match":
        det = EdmDetector(EdmIndex.load(work / "table.edm", KEY))
        text = (work / "text.txt").read_text(encoding="utf-8")
        t0 = time.perf_counter()
        found = 0
        step = 65536
        for i in range(0, len(text), step):
            found += len(det.detect(TextChunk("bench", None, text[i : i + step], offset=i)))
        secs = time.perf_counter() - t0
        return {"match_mb_s": len(text) / 2**20 / secs, "text_mb": len(text) / 2**20, "detections": found}
    if name == "fp-build":
        rng = random.Random(3)
        vocab = _names(rng, 5000)

        def docs():  # 10,000 documents of 600-1,400 words, generated on the fly
            for i in range(int((work / "ndocs").read_text())):
                n = rng.randrange(600, 1400)
                yield f"doc{i:05d}", " ".join(rng.choice(vocab).lower() for _ in range(n))

        idx = build_fingerprint_index(docs(), KEY)
        build = time.perf_counter() - t0
        idx.save(work / "docs.fp")
        return {
            "build_s": build,
            "fingerprints": idx.hashes.size,
            "file_mb": (work / "docs.fp").stat().st_size / 2**20,
        }
    if name == "fp-load":
        idx = FingerprintIndex.load(work / "docs.fp", KEY)
        return {"load_s": time.perf_counter() - t0}
    if name == "fp-match":
        det = FingerprintDetector(FingerprintIndex.load(work / "docs.fp", KEY))
        text = (work / "text.txt").read_text(encoding="utf-8")
        t0 = time.perf_counter()
        for i in range(0, len(text), 65536):
            det.detect(TextChunk("bench", None, text[i : i + 65536], offset=i))
        return {"match_mb_s": len(text) / 2**20 / (time.perf_counter() - t0)}
    raise SystemExit(f"unknown phase {name}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--text-mb", type=float, default=4.0)
    ap.add_argument("--phase")
    ap.add_argument("--work")
    args = ap.parse_args()
    if args.phase:
        import agent.protect  # noqa: F401 - imports (Presidio via agent.classify) are the baseline

        base = _current_rss_mb()
        figures = run_phase(args.phase, Path(args.work))
        peak = _rss_mb()
        print(
            json.dumps(
                {**figures, "peak_rss_mb": round(peak, 1), "peak_over_imports_mb": round(peak - base, 1)}
            )
        )
        return
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        work = Path(tmp)
        t0 = time.perf_counter()
        make_table(work / "table.csv", args.rows)
        (work / "text.txt").write_text(
            make_text(work / "table.csv", int(args.text_mb * 2**20)), encoding="utf-8"
        )
        (work / "ndocs").write_text(str(args.docs))
        print(
            f"generated {args.rows} x 6 table and {args.text_mb} MB text in {time.perf_counter() - t0:.1f} s"
        )
        for name in ("edm-build", "edm-load", "edm-match", "fp-build", "fp-load", "fp-match"):
            figures = phase(name, ["--work", str(work)])
            print(
                f"{name:10s} "
                + "  ".join(
                    f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
                )
            )


if __name__ == "__main__":
    main()
