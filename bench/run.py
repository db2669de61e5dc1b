"""Dropwarden vs plain Presidio vs a single re2 pass, on the same files, in one run (bench/all.py's (a)).

1. Generates (or reuses) a deterministic corpus under bench/corpus/: by default ``--prose-mb`` (64) MB of
   business prose as ~0.25 MB .txt files, ~1 % of the lines planted cards, IBANs and SSNs with their
   customer context (bench/corpus.py generate_prose); ``--parts plain,office`` the older 200 MB mix.
2. `dropwarden scan --jobs 2` over each whole part, each launch one process tree (the parent and its
   workers) with its start-up, ``--repeat`` launches (median reported, each printed with its CPU
   seconds): MB/s, files/s, peak RSS of the tree. Then the floor on the same files: one combined re2
   pass over their extracted text in its own launch, timed on analysis only (best of three passes).
3. A deterministic subset of each part (every k-th file, ``--subset-mb``): plain Presidio (AnalyzerEngine
   on a blank spaCy English model, default recognizers, stock context enhancer, its own process
   launch), timed on analysis only: it is too slow to run on the whole part.
4. Recall: every CREDIT_CARD / IBAN_CODE / US_SSN value plain Presidio reports with score >= 0.5 on the
   subset must be among the findings of the scan's pipeline on the same text, compared by keyed
   fingerprint (never by value), before the report groups a file's findings per rule.

MB/s always divides the on-disk bytes of the files scanned, so the figures share a denominator.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.bench_daemon import tree, tree_pss, tree_rss  # noqa: E402
from bench.corpus import generate, generate_prose  # noqa: E402
from bench.figures import add_json_option, write_json  # noqa: E402

RECALL_ENTITIES = ("CREDIT_CARD", "IBAN_CODE", "US_SSN")
FLOOR_PASSES = 3


#: Peak PSS of the process tree of the last _measure() call, in bytes (see tree_pss), and the CPU
#: seconds (user + sys) of that launch and every process it waited for (its workers).
LAST_PEAK_PSS = [0]
LAST_CPU = [0.0]
#: RSS is sampled every SAMPLE seconds, PSS every PSS_EVERY samples: reading smaps_rollup of every
#: process 20 times a second took ~5 % of a core from the 2-core machine the scan runs on.
SAMPLE = 0.05
PSS_EVERY = 5


def _measure(cmd: list[str]) -> tuple[float, int, str, int]:
    """Run one process launch; return wall seconds, peak RSS of its process tree, stderr, exit code."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    peak = peak_pss = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, peak_pss
        n = 0
        while not stop.is_set():
            pids = tree(proc.pid)
            peak = max(peak, tree_rss(pids))
            if n % PSS_EVERY == 0:
                peak_pss = max(peak_pss, tree_pss(pids))
            n += 1
            time.sleep(SAMPLE)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    err = proc.stderr.read() if proc.stderr is not None else ""
    _, status, usage = os.wait4(proc.pid, 0)  # the launch's own CPU time plus its reaped workers'
    proc.returncode = os.waitstatus_to_exitcode(status)
    stop.set()
    t.join()
    LAST_PEAK_PSS[0] = peak_pss
    LAST_CPU[0] = usage.ru_utime + usage.ru_stime
    return time.monotonic() - started, peak, err, proc.returncode


def run_scan(paths: list[str], key_file: str, jobs: int, out: str, extra: tuple[str, ...] = ()) -> dict:
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
        "--timeout",
        "3600",
        *extra,
    ]
    seconds, peak, err, rc = _measure(cmd)
    if rc not in (0, 1):
        raise SystemExit(f"dropwarden scan failed ({rc}): {err[-2000:]}")
    with open(out, encoding="utf-8") as f:
        records = [json.loads(line) for line in f]
    errors = [r for r in records if r.get("kind") == "error"]
    if errors:
        print(f"   note: {len(errors)} error records, e.g. {errors[0].get('reason')}")
    return {
        "seconds": seconds, "cpu": LAST_CPU[0], "peak_rss": peak, "peak_pss": LAST_PEAK_PSS[0], "records": records
    }  # fmt: skip


def run_worker(kind: str, files: list[Path], key_file: str, out: str) -> dict:
    """Plain Presidio or the re2 floor in its own process launch: analysis seconds, peak RSS, values."""
    cmd = [sys.executable, __file__, "--worker", kind, "--key-file", key_file, "--out", out]
    cmd += [str(f) for f in files]
    seconds, peak, err, rc = _measure(cmd)
    if rc != 0:
        raise SystemExit(f"{kind} worker failed ({rc}): {err[-2000:]}")
    with open(out, encoding="utf-8") as f:
        result = json.load(f)
    result.update(wall=seconds, peak_rss=peak)
    return result


def worker(kind: str, files: list[str], key_file: str, out: str) -> int:
    """Body of a worker launch: extract (not timed), then time the analysis of the same text."""
    from agent.redact import Redactor, load_or_create_key

    texts = extracted_texts([Path(f) for f in files])
    result: dict = {"chars": sum(len(t) for _, t in texts)}
    if kind == "presidio":
        redactor = Redactor(load_or_create_key(key_file))
        analyzer = plain_presidio()
        analyzer.analyze(text="warm up 4111 1111 1111 1111", language="en")
        t0, c0 = time.monotonic(), time.process_time()
        expected: dict[str, tuple[str, int, int]] = {}
        for path, text in texts:
            for r in analyzer.analyze(text=text, language="en"):
                if r.entity_type in RECALL_ENTITIES and r.score >= 0.5:
                    fp = redactor.fingerprint(r.entity_type, text[r.start : r.end])
                    expected.setdefault(fp, (str(path), r.start, r.end))
        result["seconds"] = time.monotonic() - t0
        result["cpu"] = time.process_time() - c0
        result["expected"] = expected
    elif kind == "ours":  # every finding of the scan's pipeline on the same text, before grouping
        from agent.models import FileRef
        from agent.pipeline import build_pipeline

        pipeline = build_pipeline(None, load_or_create_key(key_file))
        found: dict[str, list] = {}
        for path, text in texts:
            for f in pipeline.evaluate_text(text, FileRef(path=str(path), role="contractor-drop")).findings:
                found.setdefault(f.fingerprint, []).append((str(path), f.start, f.end))
        result["found"] = found
    else:  # the floor: its best of FLOOR_PASSES passes (the fastest a single pass has been)
        floor = floor_pattern()
        best = best_cpu = float("inf")
        for _ in range(FLOOR_PASSES):
            t0, c0 = time.monotonic(), time.process_time()
            hits = sum(len(floor.findall(text)) for _, text in texts)
            best, best_cpu = min(best, time.monotonic() - t0), min(best_cpu, time.process_time() - c0)
        result["seconds"] = best
        result["cpu"] = best_cpu
        result["hits"] = hits
    with open(out, "w", encoding="utf-8") as f:
        json.dump(result, f)
    return 0


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
    except Exception:  # noqa: S110 - an older tldextract: the baseline runs with its defaults
        pass
    model_dir = Path(tempfile.mkdtemp(prefix="blank-en-"))
    spacy.blank("en").to_disk(model_dir)
    engine = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(model_dir)}])
    engine.load()
    engine.nlp["en"].max_length = 10**8  # a blank model has no parser or NER: long texts are safe
    return AnalyzerEngine(nlp_engine=engine, supported_languages=["en"])


def extracted_texts(files: list[Path]) -> list[tuple[Path, str]]:
    """The text `dropwarden scan` classifies, per file: chunks re-joined by offset (overlaps once)."""
    from agent.extract import Extractor
    from agent.models import ExtractError, FileRef, Limits

    ex = Extractor(Limits())
    out = []
    for f in files:
        members: dict[str | None, list[str]] = {}
        ends: dict[str | None, int] = {}
        for c in ex.extract(FileRef(str(f))):
            if isinstance(c, ExtractError):
                continue
            end = ends.get(c.member, 0)
            skip = max(0, end - c.offset)
            members.setdefault(c.member, []).append(c.text[skip:])
            ends[c.member] = max(end, c.offset + len(c.text))
        out.append((f, "\n".join("".join(parts) for parts in members.values())))
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
    ap.add_argument(
        "--parts",
        default="prose",
        help="comma-separated: prose (issue 19: --prose-mb of business prose), plain, office (--size-mb corpus)",
    )
    ap.add_argument("--prose-mb", type=float, default=64)
    ap.add_argument("--size-mb", type=float, default=200, help="size of the plain+office corpus")
    ap.add_argument("--subset-mb", type=float, default=1.5, help="subset size per part for plain Presidio")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="launches of each whole-part scan (median)")
    ap.add_argument("--corpus", default=str(HERE / "corpus"))
    add_json_option(ap)
    ap.add_argument("--worker", choices=("presidio", "re2", "ours"), help=argparse.SUPPRESS)
    ap.add_argument("--key-file", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("files", nargs="*", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return worker(a.worker, a.files, a.key_file, a.out)
    work = Path(tempfile.mkdtemp(prefix="dw-bench-"))
    key_file = str(work / "bench.key")
    figures = {}
    for part, files in corpus_parts(Path(a.corpus), a.parts.split(","), a.prose_mb, a.size_mb).items():
        figures[part] = bench_part(part, files, a, work, key_file)
    print("\nMB/s divides on-disk bytes; scans include extraction and start-up, Presidio and re2 time only")
    print("analysis of the same extracted text. Whole-part scans: median of the launches. Presidio runs on")
    print("a subset only (it is slow); same files, one process.")
    ok = all(f["recall_missed"] == 0 for f in figures.values())
    print("recall check:", "OK" if ok else "MISSED VALUES")
    write_json(a.json, figures)
    return 0 if ok else 1


def corpus_parts(corpus: Path, names: list[str], prose_mb: float, size_mb: float) -> dict[str, list[Path]]:
    """The files of each part, generated once (a marker file names the size they were made for)."""
    parts: dict[str, list[Path]] = {}
    if "prose" in names:
        folder = corpus / f"prose-{prose_mb:g}"
        if not (corpus / f".prose-{prose_mb:g}").exists():
            print(f"generating {prose_mb:g} MB of business prose in {folder} ...", flush=True)
            subprocess.run(["rm", "-rf", str(folder)], check=True)
            generate_prose(folder, prose_mb)
            (corpus / f".prose-{prose_mb:g}").touch()
        parts["prose"] = sorted(folder.iterdir())
    legacy = [n for n in names if n in ("plain", "office")]
    if legacy:
        marker = corpus / f".size-{size_mb:g}"
        if not marker.exists():
            print(f"generating {size_mb:g} MB corpus in {corpus} ...", flush=True)
            for n in ("plain", "office"):
                subprocess.run(["rm", "-rf", str(corpus / n)], check=True)
            generate(corpus, size_mb)
            marker.touch()
        parts.update({n: sorted((corpus / n).iterdir()) for n in legacy})
    return parts


def bench_part(part: str, files: list[Path], a: argparse.Namespace, work: Path, key_file: str) -> dict:
    """Whole-part scans, the re2 floor, then the subset against plain Presidio and the recall check."""
    nbytes = sum(f.stat().st_size for f in files)
    print(f"\n== {part}: whole part, {len(files)} files, {nbytes / 1e6:.1f} MB", flush=True)
    launches = []
    for i in range(a.repeat):
        launches.append(run_scan([str(f) for f in files], key_file, a.jobs, str(work / f"{part}-all.jsonl")))
        w = launches[-1]
        print(
            f"   launch {i + 1}: {fmt_rate(nbytes, w['seconds']):.3f} MB/s wall ({w['seconds']:.2f} s), "
            f"{w['cpu']:.2f} CPU s",
            flush=True,
        )
    seconds = statistics.median(w["seconds"] for w in launches)
    cpu = statistics.median(w["cpu"] for w in launches)
    peak_rss = max(w["peak_rss"] for w in launches)
    _print_row((part, f"dropwarden scan, all files ({a.jobs} jobs)", fmt_rate(nbytes, seconds),
                len(files) / seconds, peak_rss))  # fmt: skip
    peak_pss = max(w["peak_pss"] for w in launches)
    print(f"   {'':<7}{'  (same launches: peak PSS, shared pages split)':<42}{peak_pss / 1e6:>44.0f} MB")
    whole_floor = run_worker("re2", files, key_file, str(work / f"{part}-re2-all.json"))
    floor_rate = fmt_rate(nbytes, whole_floor["seconds"])
    _print_row((part, f"single re2 pass, all files (best of {FLOOR_PASSES})", floor_rate,
                len(files) / whole_floor["seconds"], whole_floor["peak_rss"]))  # fmt: skip
    scan_rate = fmt_rate(nbytes, seconds)
    floor_cpu_rate = fmt_rate(nbytes, whole_floor["cpu"])
    print(
        f"   ratio: all-files scan / re2 floor {scan_rate / floor_rate:.3f} (wall); CPU view "
        f"{fmt_rate(nbytes, cpu / a.jobs) / floor_cpu_rate:.3f} (floor {floor_cpu_rate:.1f} MB per CPU s)",
        flush=True,
    )

    chosen = subset(files, a.subset_mb)
    sbytes = sum(f.stat().st_size for f in chosen)
    print(f"== {part}: subset every k-th file, {len(chosen)} files, {sbytes / 1e6:.2f} MB", flush=True)
    paths = [str(f) for f in chosen]
    ours = run_scan(paths, key_file, a.jobs, str(work / f"{part}.jsonl"))
    presidio = run_worker("presidio", chosen, key_file, str(work / f"{part}-presidio.json"))
    p_rate = fmt_rate(sbytes, presidio["seconds"])
    _print_row((part, f"dropwarden scan, subset ({a.jobs} jobs)", fmt_rate(sbytes, ours["seconds"]),
                len(chosen) / ours["seconds"], ours["peak_rss"]))  # fmt: skip
    _print_row((part, "plain Presidio, subset (analysis only)", p_rate, len(chosen) / presidio["seconds"],
                presidio["peak_rss"]))  # fmt: skip
    print(f"   ratio: all-files scan (whole process) / plain Presidio x{scan_rate / p_rate:.1f} (wall)")
    # CPU view: what an otherwise idle machine would give (a loaded one stretches wall time, not CPU time)
    scan_cpu_rate = fmt_rate(nbytes, cpu / a.jobs)
    p_cpu_rate = fmt_rate(sbytes, presidio["cpu"])
    print(
        f"   CPU view: scan {nbytes / 1e6 / cpu:.2f} MB per CPU s (x{a.jobs} jobs = {scan_cpu_rate:.2f} MB/s), "
        f"Presidio {p_cpu_rate:.3f} MB per CPU s: x{scan_cpu_rate / p_cpu_rate:.1f}"
    )
    # The scan's report groups a file's findings per rule (one incident per file): recall is checked
    # on the same pipeline's findings before grouping, on the very text Presidio analysed.
    found = run_worker("ours", chosen, key_file, str(work / f"{part}-ours.json"))["found"]
    expected = presidio["expected"]
    missed = set(expected) - set(found)
    # Presidio reads e.g. 16 Luhn-valid digits inside an IBAN as a card: we report the IBAN instead.
    spans = [tuple(w) for where in found.values() for w in where]
    inside = {fp for fp in missed if _covered(expected[fp], spans)}
    print(
        f"   recall vs Presidio: {len(expected) - len(missed)}/{len(expected)} high-severity values found as "
        f"such, {len(inside)} inside a larger finding of another entity, {len(missed - inside)} missed"
    )
    return {
        "mb": nbytes / 1e6, "files": len(files), "jobs": a.jobs,
        "scan_mbs": scan_rate, "launches_mbs": [fmt_rate(nbytes, w["seconds"]) for w in launches],
        "launches_cpu_s": [w["cpu"] for w in launches], "scan_cpu_mbs": scan_cpu_rate,
        "presidio_cpu_mbs": p_cpu_rate, "presidio_cpu_ratio": scan_cpu_rate / p_cpu_rate,
        "peak_rss_mb": peak_rss / 1e6, "peak_pss_mb": peak_pss / 1e6,
        "floor_mbs": floor_rate, "floor_ratio": scan_rate / floor_rate,
        "floor_cpu_ratio": scan_cpu_rate / floor_cpu_rate,
        "subset_mb": sbytes / 1e6, "presidio_mbs": p_rate, "presidio_ratio": scan_rate / p_rate,
        "recall_expected": len(expected), "recall_found": len(expected) - len(missed),
        "recall_inside": len(inside), "recall_missed": len(missed - inside),
    }  # fmt: skip


def _covered(where: list, spans: list[tuple]) -> bool:
    """Whether a finding in the same text spans the value."""
    path, start, end = where
    return any(p == path and s <= start and end <= e for p, s, e in spans)


def _print_row(row: tuple[str, str, float, float, int]) -> None:
    part, what, mbs, fps, rss = row
    print(
        f"   {part:<7}{what:<42}{mbs:9.3f} MB/s {fps:9.2f} files/s  peak RSS {rss / 1e6:6.0f} MB", flush=True
    )


if __name__ == "__main__":
    raise SystemExit(main())
