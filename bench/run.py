"""`make bench`: Dropwarden vs plain Presidio vs a single re2 pass, on the same files, in one run.

1. Generates (or reuses) the deterministic corpus of bench/corpus.py under bench/corpus/ (default 200 MB).
2. `dropwarden scan` over the whole corpus in one process launch (its worker pool included): MB/s,
   files/s, peak RSS of the whole process tree.
3. A deterministic subset of each part (plain text; office/PDF): `dropwarden scan` on just those files,
   plain Presidio (AnalyzerEngine on a blank spaCy English model, default recognizers, stock context
   enhancer, one process) on the same files' extracted text, and one combined re2 pass (the floor).
   Presidio is timed on analysis only; extraction is not charged to it.
4. Recall: every CREDIT_CARD / IBAN_CODE / US_SSN value plain Presidio reports with score >= 0.5 must be
   among Dropwarden's findings (compared by keyed fingerprint, never by value).

MB/s always divides the on-disk bytes of the files scanned, so the three figures share a denominator.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.corpus import generate  # noqa: E402

RECALL_ENTITIES = ("CREDIT_CARD", "IBAN_CODE", "US_SSN")


def tree_rss(pid: int) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    pids = [pid]
    seen = set()
    while pids:
        p = pids.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{p}/task/{p}/children") as f:
                pids.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


def run_scan(paths: list[str], key_file: str, jobs: int, out: str) -> dict:
    """One `dropwarden scan` launch; returns wall seconds, peak tree RSS and the findings."""
    cmd = [
        sys.executable,
        "-m",
        "agent",
        "scan",
        *paths,
        "--format",
        "jsonl",
        "--output",
        out,
        "--key-file",
        key_file,
        "--jobs",
        str(jobs),
        "--no-progress",
        "--fail-on",
        "critical",
    ]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, tree_rss(proc.pid))
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    _, err = proc.communicate()
    stop.set()
    t.join()
    seconds = time.monotonic() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"dropwarden scan failed ({proc.returncode}): {err[-2000:]}")
    with open(out, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    return {"seconds": seconds, "peak_rss": peak, "records": records}


def plain_presidio():
    """Presidio as a newcomer would run it offline: a blank spaCy model saved to disk, defaults elsewhere."""
    import logging

    import spacy
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    logging.getLogger("presidio-analyzer").setLevel(logging.ERROR)
    try:  # no network here: make tldextract use its bundled suffix list, as our engine does
        import tldextract

        tldextract.tldextract.TLD_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    except Exception:
        pass
    model_dir = Path(tempfile.mkdtemp(prefix="blank-en-"))
    spacy.blank("en").to_disk(model_dir)
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(model_dir)}])
    engine.load()
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])


def extracted_texts(files: list[Path]) -> list[tuple[Path, str]]:
    from agent.extract import Extractor
    from agent.models import ExtractError, FileRef, Limits

    ex = Extractor(Limits())
    out = []
    for f in files:
        parts = [c.text for c in ex.extract(FileRef(str(f))) if not isinstance(c, ExtractError)]
        out.append((f, "\n".join(parts)))
    return out


def floor_pattern():
    import re2

    pats = [
        r"\b(?:\d[ -]?){12,18}\d\b",  # card-like
        r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b",  # IBAN-like
        r"\b\d{3}-\d{2}-\d{4}\b",  # SSN-like
        r"[\w.+-]+@[\w-]+\.[\w.-]+",  # e-mail
        r"\+?\d[\d ()-]{7,}\d",  # phone
        r"https?://\S+",  # URL
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    ]
    return re2.compile("|".join(f"(?:{p})" for p in pats))


def subset(files: list[Path], mb: float) -> list[Path]:
    """Every k-th file (sorted) until `mb` megabytes: deterministic and spread over all formats."""
    total = sum(f.stat().st_size for f in files)
    step = max(1, int(total / (mb * 1e6)))
    chosen, size = [], 0
    for f in files[::step]:
        chosen.append(f)
        size += f.stat().st_size
        if size >= mb * 1e6:
            break
    return chosen


def fmt_rate(nbytes: int, seconds: float) -> float:
    return nbytes / 1e6 / seconds if seconds > 0 else float("inf")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=200)
    ap.add_argument("--presidio-mb", type=float, default=4, help="subset size per part for plain Presidio")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--corpus", default=str(HERE / "corpus"))
    a = ap.parse_args()

    corpus = Path(a.corpus)
    marker = corpus / f".size-{a.size_mb:g}"
    if not marker.exists():
        print(f"generating {a.size_mb:g} MB corpus in {corpus} ...", flush=True)
        subprocess.run(["rm", "-rf", str(corpus)], check=True)
        generate(corpus, a.size_mb)
        marker.touch()
    work = Path(tempfile.mkdtemp(prefix="dw-bench-"))
    key_file = str(work / "bench.key")
    parts = {p: sorted((corpus / p).iterdir()) for p in ("plain", "office")}
    all_files = parts["plain"] + parts["office"]
    total_bytes = sum(f.stat().st_size for f in all_files)

    print(
        f"\n== dropwarden scan, whole corpus: {len(all_files)} files, {total_bytes / 1e6:.1f} MB, {a.jobs} jobs"
    )
    whole = run_scan(
        [str(corpus / "plain"), str(corpus / "office")], key_file, a.jobs, str(work / "all.jsonl")
    )
    print(
        f"   {fmt_rate(total_bytes, whole['seconds']):8.2f} MB/s  {len(all_files) / whole['seconds']:8.1f} files/s"
        f"  peak RSS {whole['peak_rss'] / 1e6:.0f} MB  ({whole['seconds']:.1f} s)"
    )

    from agent.redact import Redactor, load_or_create_key

    redactor = Redactor(load_or_create_key(key_file))
    analyzer = plain_presidio()
    floor = floor_pattern()
    ok = True
    for part, files in parts.items():
        chosen = subset(files, a.presidio_mb)
        nbytes = sum(f.stat().st_size for f in chosen)
        ours = run_scan([str(f) for f in chosen], key_file, a.jobs, str(work / f"{part}.jsonl"))
        ours_1 = run_scan([str(f) for f in chosen], key_file, 1, str(work / f"{part}-1.jsonl"))
        texts = extracted_texts(chosen)
        t0 = time.monotonic()
        expected: set[str] = set()
        for _, text in texts:
            for r in analyzer.analyze(text=text, language="en"):
                if r.entity_type in RECALL_ENTITIES and r.score >= 0.5:
                    expected.add(redactor.fingerprint(r.entity_type, text[r.start : r.end]))
        presidio_s = time.monotonic() - t0
        t0 = time.monotonic()
        for _, text in texts:
            floor.findall(text)
        floor_s = time.monotonic() - t0
        found = {r["fingerprint"] for r in ours["records"] if r.get("kind") == "finding"}
        missed = expected - found
        ok &= not missed
        p_rate = fmt_rate(nbytes, presidio_s)
        print(f"\n== {part} subset: {len(chosen)} files, {nbytes / 1e6:.1f} MB")
        print(
            f"   dropwarden scan ({a.jobs} jobs) {fmt_rate(nbytes, ours['seconds']):8.2f} MB/s   "
            f"x{fmt_rate(nbytes, ours['seconds']) / p_rate:7.1f} vs Presidio   peak RSS {ours['peak_rss'] / 1e6:.0f} MB"
        )
        print(
            f"   dropwarden scan (1 job)  {fmt_rate(nbytes, ours_1['seconds']):8.2f} MB/s   "
            f"x{fmt_rate(nbytes, ours_1['seconds']) / p_rate:7.1f} vs Presidio"
        )
        print(f"   plain Presidio (1 proc)  {p_rate:8.2f} MB/s   ({presidio_s:.1f} s)")
        print(
            f"   single re2 pass          {fmt_rate(nbytes, floor_s):8.2f} MB/s   "
            f"(dropwarden at {fmt_rate(nbytes, ours['seconds']) / fmt_rate(nbytes, floor_s):.2f} of it)"
        )
        print(
            f"   recall vs Presidio: {len(expected) - len(missed)}/{len(expected)} high-severity values found"
        )
    print("\nrecall check:", "OK" if ok else "MISSED VALUES")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
