"""`make bench`: every figure of issue 19, each with its target, its ratio and the launches behind it.

Runs the benchmarks below one after the other (each its own process; their own output is shown as
it comes), then prints one table: the figure before this work (the closing notes of stops 11 and 20),
the figure now, the target, and whether it is met.

  (a) bench/run.py        `dropwarden scan --jobs 2` over --prose-mb of business prose (~1 % planted
                          cards, IBANs, SSNs) as whole processes, start-up included, against plain
                          Presidio on a sample of the same files; the recall check; the re2 floor;
                          peak RSS of the scan's process tree
  (b) bench/startup.py    --help, --version, config check, policy lint, scan of one small file
  (c) bench/bench_pdf.py  DOCX, XLSX, PDF text throughput against the same words as .txt
  (d) bench/bench_daemon.py --parts ocr,idle: close->alert p99 of text files at 50 files/s while a
                          20-page scan is OCRed; idle CPU watching 10,000 folders.
      bench/bench_ocr.py  OCR pages/s of one worker
  (e) bench/bigfile.py    one 1 GB log: peak RSS

The machine is shared: wall-clock figures stretch with its load, CPU seconds much less, so both are
printed where they differ. The whole run takes about 15-25 minutes; ``--quick`` runs every part on
smaller inputs (a few minutes) and says so in the table.

    python bench/all.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

#: Figures before this work, as the closing notes of stops 11 and 20 and the start of this one give them.
BEFORE = {
    "scan_mbs": "29-34 MB/s",
    "presidio_mbs": "0.49-0.51 MB/s",
    "presidio_ratio": "x57-67",
    "--help": "0.61 s wall, 0.44 CPU s",
    "--version": "0.04 s wall, 0.04 CPU s",
    "config check": "1.38 s wall, 1.11 CPU s",
    "config check, not cached": "1.38 s wall, 1.11 CPU s",
    "policy lint": "2.05 s wall, 1.73 CPU s",
    "policy lint, not cached": "2.05 s wall, 1.73 CPU s",
    "scan (1 small file)": "1.87 s wall, 1.78 CPU s",
    "scan (1 small file), not cached": "1.87 s wall, 1.78 CPU s",
    "docx_ratio": "0.71",
    "xlsx_ratio": "0.47",
    "pdf_ratio": "0.26",
    "ocr_p99": "0.81 / 1.20 s",
    "ocr_pages": "0.6 pages/CPU s",
    "floor_ratio": "0.42",
    "peak_rss_mb": "258 MB",
    "bigfile_rss": "149 MB",
    "idle_cpu": "0.23 %",
}


def run(label: str, argv: list[str], out: Path) -> Any:
    """One benchmark as its own process, its output passed through; its --json figures (None if it failed)."""
    print(f"\n######## {label}: {' '.join(argv)}", flush=True)
    started = time.monotonic()
    proc = subprocess.run([sys.executable, *argv, "--json", str(out)], cwd=HERE.parent, check=False)
    print(f"######## {label}: exit {proc.returncode}, {time.monotonic() - started:.0f} s", flush=True)
    if not out.exists():
        return None
    return json.loads(out.read_text(encoding="utf-8"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every part on smaller inputs (minutes, not 20)")
    ap.add_argument("--only", help="comma-separated parts to run: a,b,c,d,e (default all)")
    a = ap.parse_args()
    q = a.quick
    parts = set((a.only or "a,b,c,d,e").split(","))
    tmp = Path(tempfile.mkdtemp(prefix="dw-bench-all-"))
    plans: dict[str, tuple[str, list[str]]] = {
        "a": ("throughput", ["bench/run.py", "--parts", "prose,plain", "--prose-mb", "16" if q else "64",
                             "--size-mb", "10" if q else "30", "--repeat", "3" if q else "5",
                             "--subset-mb", "0.5" if q else "1"]),
        "b": ("start-up", ["bench/startup.py", "--repeat", "5" if q else "9"]),
        "c": ("formats", ["bench/bench_pdf.py", "--mb", "1" if q else "4", "--repeat", "3"]),
        "d": ("daemon", ["bench/bench_daemon.py", "--parts", "ocr,idle", "--ocr-pages", "20",
                         *(["--quick"] if q else ["--seconds", "60"])]),
        "ocr": ("ocr", ["bench/bench_ocr.py", "--pages", "4" if q else "12"]),
        "e": ("bigfile", ["bench/bigfile.py", "--size-mb", "256" if q else "1024"]),
    }  # fmt: skip
    got: dict[str, Any] = {}
    for key, (label, argv) in plans.items():
        if key in parts or (key == "ocr" and "d" in parts):
            got[key] = run(label, argv, tmp / f"{key}.json")
    table(got, q)
    return 0


Row = tuple[str, str, str, str, str]  # figure, before, now, target, verdict


def _check(ok: bool | None) -> str:
    return "-" if ok is None else ("ok" if ok else "MISSED")


def rows_throughput(f: dict[str, Any]) -> list[Row]:
    p = f["prose"]
    launches = ", ".join(f"{m:.1f}" for m in p["launches_mbs"])
    cpus = ", ".join(f"{c:.1f}" for c in p["launches_cpu_s"])
    size = f"{p['mb']:.0f} MB"
    recall = f"{p['recall_found']}/{p['recall_expected']} (+{p['recall_inside']} inside), {p['recall_missed']} missed"
    return [
        (f"(a) scan --jobs 2, {size} prose, whole process, median wall", BEFORE["scan_mbs"],
         f"{p['scan_mbs']:.1f} MB/s (launches {launches})", "-", "-"),
        ("    same launches, CPU seconds", "-", cpus, "-", "-"),
        (f"    plain Presidio, {p['subset_mb']:.1f} MB sample (slow: a sample only)", BEFORE["presidio_mbs"],
         f"{p['presidio_mbs']:.3f} MB/s wall, {p['presidio_cpu_mbs']:.3f} per CPU s", "-", "-"),
        ("    scan / Presidio, wall", BEFORE["presidio_ratio"], f"x{p['presidio_ratio']:.0f}", ">= x100",
         _check(p["presidio_ratio"] >= 100)),
        ("    scan / Presidio, CPU view (idle machine)", "-", f"x{p['presidio_cpu_ratio']:.0f}", ">= x100",
         _check(p["presidio_cpu_ratio"] >= 100)),
        ("    recall vs Presidio on the sample", "OK", recall, "none missed", _check(p["recall_missed"] == 0)),
        ("(e) scan / single re2 pass, same prose files, wall", "0.18 (stop 11 README)", f"{p['floor_ratio']:.2f}",
         ">= 0.33", _check(p["floor_ratio"] >= 1 / 3)),
        ("    the same, CPU view (idle machine)", "-", f"{p.get('floor_cpu_ratio', float('nan')):.2f}", ">= 0.33",
         _check(p.get("floor_cpu_ratio", 0) >= 1 / 3)),
        ("(e) peak RSS of the scan tree, 2 jobs", BEFORE["peak_rss_mb"], f"{p['peak_rss_mb']:.0f} MB", "<= 400 MB",
         _check(p["peak_rss_mb"] <= 400)),
        *rows_plain(f.get("plain")),
    ]  # fmt: skip


def rows_plain(p: dict[str, Any] | None) -> list[Row]:
    """The re2 floor on the plain part (logs, CSV, code, prose mixed: the part stop 11's 0.42 was measured on)."""
    if not p:
        return []
    return [
        (f"(e) scan / single re2 pass, {p['mb']:.0f} MB plain mix, wall", BEFORE["floor_ratio"],
         f"{p['floor_ratio']:.2f}", ">= 0.33", _check(p["floor_ratio"] >= 1 / 3)),
        ("    the same, CPU view (idle machine)", "-", f"{p.get('floor_cpu_ratio', float('nan')):.2f}", ">= 0.33",
         _check(p.get("floor_cpu_ratio", 0) >= 1 / 3)),
    ]  # fmt: skip


def rows_startup(f: dict[str, Any]) -> list[Row]:
    out = []
    for label, r in f.items():
        wall, cpu = statistics.median(r["wall"]), statistics.median(r["cpu"])
        launches = " ".join(f"{w:.2f}" for w in r["wall"])
        out.append(
            (f"(b) {label}, median of {len(r['wall'])}", BEFORE.get(label, "-"),
             f"{wall:.2f} s wall, {cpu:.2f} CPU s ({launches})", f"<= {r['target']:g} s",
             _check(wall <= r["target"]) if wall <= r["target"] or cpu > r["target"] else "ok in CPU s (load)")
        )  # fmt: skip
    return out


def rows_formats(f: dict[str, Any]) -> list[Row]:
    rows: list[Row] = [
        (f"(c) {fmt.upper()} / txt text throughput", BEFORE[f"{fmt}_ratio"],
         f"{f[f'{fmt}_ratio']:.2f} ({f[f'{fmt}_mbs']:.1f} vs {f['txt_mbs']:.1f} MB per CPU s)", ">= 0.3",
         _check(f[f"{fmt}_ratio"] >= 0.3))
        for fmt in ("docx", "xlsx", "pdf") if f"{fmt}_ratio" in f
    ]  # fmt: skip
    if "pdf_ceiling_ratio" in f:  # the most any PDFium-based reader leaves (bench/bench_pdf.py)
        rows.append(
            ("(c) PDF / txt if extraction cost only PDFium's own calls", "-",
             f"{f['pdf_ceiling_ratio']:.2f} (PDFium alone {f['pdf_pdfium_mbs']:.1f} MB/s of text)", "report", "-")
        )  # fmt: skip
    return rows


def rows_daemon(f: dict[str, Any], ocr: dict[str, Any] | None) -> list[Row]:
    out: list[Row] = []
    if (o := f.get("ocr")) is not None:
        out.append(
            ("(d) close->alert p99, text at 50/s, 20-page scan OCRed", BEFORE["ocr_p99"],
             f"{o['p99']:.2f} s (p50 {o['p50']:.2f}; {o['alerted']}/{o['files']} alerted)", "<= 1 s",
             _check(o["p99"] <= 1.0))
        )  # fmt: skip
    if ocr is not None:
        out.append(
            ("(d) OCR pages/s of one worker", BEFORE["ocr_pages"],
             f"{ocr['pages_per_s_wall']:.2f} wall, {ocr['pages_per_cpu_s']:.2f} per CPU s", "report", "-")
        )  # fmt: skip
    if (i := f.get("idle")) is not None:
        out.append(
            (f"(e) idle CPU watching {i['dirs']} folders", BEFORE["idle_cpu"], f"{i['cpu_pct']:.2f} %", "~0 (< 1 %)",
             _check(i["cpu_pct"] < 1.0))
        )  # fmt: skip
    return out


def rows_bigfile(f: dict[str, Any]) -> list[Row]:
    return [
        (f"(e) one {f['mb']:.0f} MB log: peak RSS", BEFORE["bigfile_rss"],
         f"{f['peak_rss_mb']:.0f} MB ({f['mbs']:.1f} MB/s, {f['errors']} errors)", "<= 400 MB",
         _check(f["peak_rss_mb"] <= 400 and not f["errors"]))
    ]  # fmt: skip


def table(got: dict[str, Any], quick: bool) -> None:
    builders: list[tuple[str, Callable[[Any], list[Row]]]] = [
        ("a", rows_throughput),
        ("b", rows_startup),
        ("c", rows_formats),
        ("d", lambda f: rows_daemon(f, got.get("ocr"))),
        ("e", rows_bigfile),
    ]
    rows: list[Row] = []
    for key, build in builders:
        if key in got:
            rows += (
                build(got[key])
                if got[key] is not None
                else [(f"({key}) FAILED: see its output above",) + ("",) * 4]
            )
    print(f"\n== Issue 19 figures{' (--quick: smaller inputs)' if quick else ''}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    header = ("figure", "before", "now", "target", "")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    raise SystemExit(main())
