"""Benchmark EDM and document-fingerprint indexes at the sizes the security team asked for.

    .venv/bin/python bench/bench_edm.py                 # 1,000,000 x 6 table, 10,000 documents
    .venv/bin/python bench/bench_edm.py --rows 100000 --docs 1000   # a quick run
    .venv/bin/python bench/bench_edm.py --only corpus   # matching speed and scan overhead only

Each phase (build, load, match) runs in its own subprocess so its peak RSS is measured alone.
The corpus phases generate the benchmark corpus (bench/corpus.py), a 100,000-row table and 200
documents, then report EDM + fingerprint matching speed on the corpus text and the time that
``scan --protect-data/--protect-docs`` adds to a plain ``scan`` of the corpus (wall and CPU).
All data is generated: invented names, random checksum-valid IBANs, random numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
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
    from agent.classify.indexes.protect import (
        EdmDetector,
        EdmIndex,
        FingerprintDetector,
        FingerprintIndex,
        build_edm_index,
        build_fingerprint_index,
    )
    from agent.models import TextChunk

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
        t0, c0 = time.perf_counter(), time.process_time()
        found = 0
        step = 65536
        for i in range(0, len(text), step):
            found += len(det.detect(TextChunk("bench", None, text[i : i + step], offset=i)))
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
        mb = len(text) / 2**20
        return {"match_mb_s": mb / secs, "match_cpu_mb_s": mb / cpu, "text_mb": mb, "detections": found}
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
        t0, c0 = time.perf_counter(), time.process_time()
        for i in range(0, len(text), 65536):
            det.detect(TextChunk("bench", None, text[i : i + 65536], offset=i))
        mb = len(text) / 2**20
        return {
            "match_mb_s": mb / (time.perf_counter() - t0),
            "match_cpu_mb_s": mb / (time.process_time() - c0),
        }
    if name == "scan-build":
        build_edm_index(work / "scan-table.csv", None, KEY)
        build_fingerprint_index(work / "scan-docs", KEY)
        return {"build_s": time.perf_counter() - t0}
    if name == "corpus-match":
        return _corpus_match(work)
    raise SystemExit(f"unknown phase {name}")


def _scan_docs(work: Path, n: int) -> Path:
    """``n`` protected documents of 600-1,400 invented words, as text files."""
    folder = work / "scan-docs"
    folder.mkdir(exist_ok=True)
    rng = random.Random(4)
    vocab = _names(rng, 5000)
    for i in range(n):
        words = (rng.choice(vocab).lower() for _ in range(rng.randrange(600, 1400)))
        (folder / f"doc{i:04d}.txt").write_text(" ".join(words), encoding="utf-8")
    return folder


def _corpus_match(work: Path) -> dict[str, float]:
    """EDM and fingerprint matching speed on the text of the corpus's plain files (64 kB chunks)."""
    from agent.classify.indexes.protect import (
        EdmDetector,
        FingerprintDetector,
        build_edm_index,
        build_fingerprint_index,
    )
    from agent.models import TextChunk

    edm = EdmDetector(build_edm_index(work / "scan-table.csv", None, KEY))
    fp = FingerprintDetector(build_fingerprint_index(work / "scan-docs", KEY))
    chunks = []
    for p in sorted((work / "corpus" / "plain").iterdir()):
        text = p.read_text(encoding="utf-8")
        chunks += [TextChunk(str(p), None, text[i : i + 65536], offset=i) for i in range(0, len(text), 65536)]
    mb = sum(len(c.text) for c in chunks) / 2**20
    out: dict[str, float] = {"text_mb": round(mb, 1)}
    for label, dets in (("edm", [edm]), ("fp", [fp]), ("both", [edm, fp])):
        wall, cpu = time.perf_counter(), time.process_time()
        for c in chunks:
            for d in dets:
                d.detect(c)
        out[f"{label}_mb_s"] = round(mb / (time.perf_counter() - wall), 1)
        out[f"{label}_cpu_mb_s"] = round(mb / (time.process_time() - cpu), 1)
    return out


def _timed_scan(work: Path, protect: bool) -> tuple[float, float]:
    """Wall and CPU seconds of one ``dropwarden scan`` of the corpus (one worker: stable figures)."""
    cmd = [sys.executable, "-m", "agent", "scan", str(work / "corpus"), "--format", "jsonl", "-o", os.devnull]
    cmd += ["--no-progress", "--jobs", "1", "--key-file", str(work / "scan.key")]
    if protect:
        cmd += ["--protect-data", str(work / "scan-table.csv"), "--protect-docs", str(work / "scan-docs")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False)  # exit 1 = findings, expected
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def corpus_bench(work: Path, corpus_mb: float, rows: int, docs: int) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from corpus import generate

    generate(work / "corpus", corpus_mb)
    make_table(work / "scan-table.csv", rows)
    _scan_docs(work, docs)
    figures = phase("corpus-match", ["--work", str(work)])
    print("corpus-match " + "  ".join(f"{k}={v}" for k, v in figures.items()))
    plain = _timed_scan(work, protect=False)
    protected = _timed_scan(work, protect=True)
    build = phase("scan-build", ["--work", str(work)])["build_s"]
    over = [(p - b) / b * 100 for p, b in zip(protected, plain, strict=True)]
    print(
        f"scan {corpus_mb:g} MB: plain {plain[0]:.1f} s wall / {plain[1]:.1f} s CPU; with --protect-data "
        f"({rows} rows) --protect-docs ({docs} docs) {protected[0]:.1f} s / {protected[1]:.1f} s "
        f"(of which index build {build:.1f} s)"
    )
    print(
        f"scan overhead: {over[0]:+.0f}% wall, {over[1]:+.0f}% CPU; without the one-off index build "
        f"{(protected[0] - build - plain[0]) / plain[0] * 100:+.0f}% wall, "
        f"{(protected[1] - build - plain[1]) / plain[1] * 100:+.0f}% CPU"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--docs", type=int, default=10_000)
    ap.add_argument("--text-mb", type=float, default=4.0)
    ap.add_argument("--corpus-mb", type=float, default=50.0)
    ap.add_argument("--scan-rows", type=int, default=100_000)
    ap.add_argument("--scan-docs", type=int, default=200)
    ap.add_argument("--only", choices=("indexes", "corpus"), help="run one half of the benchmark")
    ap.add_argument("--phase")
    ap.add_argument("--work")
    args = ap.parse_args()
    if args.phase:
        import agent.classify.indexes.protect  # noqa: F401 - imports (Presidio via agent.classify) are the baseline

        base = _current_rss_mb()
        cpu = time.process_time()
        figures = run_phase(args.phase, Path(args.work))
        figures["cpu_s"] = round(time.process_time() - cpu, 2)  # the machine may be shared: CPU is steadier
        peak = _rss_mb()
        print(
            json.dumps(
                {**figures, "peak_rss_mb": round(peak, 1), "peak_over_imports_mb": round(peak - base, 1)}
            )
        )
        return
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        work = Path(tmp)
        if args.only != "indexes":
            corpus_bench(work, args.corpus_mb, args.scan_rows, args.scan_docs)
        if args.only == "corpus":
            return
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
