"""Memory bound on one huge file: `dropwarden scan` of a 1 GB log must stay under 400 MB peak RSS.

Writes a deterministic log (default 1024 MB) under bench/corpus/bigfile/ once: multi-line entries
(a timestamped header, then stack-trace and request lines), ~1 planted card per MB. Then one
`dropwarden scan --jobs 2` launch with the per-file timeout lifted; prints MB/s, peak RSS of the
process tree, and whether the whole file was read (no error record) and the planted cards were found.

    python bench/bigfile.py [--size-mb 1024] [--max-rss-mb 400]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from agent.demo import group4, luhn_complete  # noqa: E402
from bench.figures import add_json_option, write_json  # noqa: E402
from bench.run import run_scan  # noqa: E402

_TRACE = (
    '  File "/srv/app/{m}.py", line {n}, in {f}',
    "    return self.{f}(request, *args, **kwargs)",
    "    raise {e}('upstream closed the connection')",
    "INFO served path=/api/{m}/items user=svc-{m} status=ok cache=hit",
    "DEBUG pool checkout conn={m} idle=true waited=false",
)
_NAMES = ("orders", "billing", "search", "catalog", "users", "reports")
_FUNCS = ("dispatch", "handle", "get", "post", "render", "fetch")
_ERRORS = ("ConnectionError", "TimeoutError", "ValueError")


def write_log(path: Path, size_mb: float, seed: int = 7) -> int:
    """Write the log in 1 MB blocks; return the number of planted cards."""
    rng = random.Random(seed)
    target = int(size_mb * 1_000_000)
    written = cards = 0
    with path.open("w", encoding="utf-8") as f:
        while written < target:
            lines: list[str] = []
            size = 0
            planted = False
            while size < 1_000_000:
                if size == 0 or rng.random() < 0.02:
                    lines.append(
                        f"2026-11-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z "
                        f"ERROR worker crashed while handling a request"
                    )
                elif not planted and size > 500_000:
                    planted = True
                    card = group4(luhn_complete(rng.choice(["45", "51"]), 16, rng))
                    lines.append(f"DEBUG customer card number {card} echoed by the legacy client")
                else:
                    t = rng.choice(_TRACE)
                    lines.append(
                        t.format(m=rng.choice(_NAMES), n="", f=rng.choice(_FUNCS), e=rng.choice(_ERRORS))
                    )
                size += len(lines[-1]) + 1
            cards += planted
            block = "\n".join(lines) + "\n"
            f.write(block)
            written += len(block)
    return cards


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=float, default=1024)
    ap.add_argument("--max-rss-mb", type=float, default=400)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--dir", default=str(HERE / "corpus" / "bigfile"))
    add_json_option(ap)
    a = ap.parse_args()
    folder = Path(a.dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"big-{a.size_mb:g}MB.log"
    meta = folder / f"big-{a.size_mb:g}MB.json"
    if not meta.exists():
        print(f"writing {path} ...", flush=True)
        meta.write_text(json.dumps({"cards": write_log(path, a.size_mb)}))
    cards = json.loads(meta.read_text())["cards"]
    work = Path(tempfile.mkdtemp(prefix="dw-big-"))
    res = run_scan(
        [str(path)], str(work / "k.key"), a.jobs, str(work / "big.jsonl"), ("--max-text", str(4 * 1024**3))
    )
    nbytes = path.stat().st_size
    findings = [r for r in res["records"] if r.get("kind") == "finding" and r.get("entity") == "CREDIT_CARD"]
    errors = [r.get("reason") for r in res["records"] if r.get("kind") == "error"]
    rss_mb = res["peak_rss"] / 1e6
    print(
        f"1 file, {nbytes / 1e6:.0f} MB: {nbytes / 1e6 / res['seconds']:.2f} MB/s ({res['seconds']:.0f} s), "
        f"peak RSS {rss_mb:.0f} MB (limit {a.max_rss_mb:g}), errors {errors or 'none'}, "
        f"card findings {len(findings)} (payment-card rule reports each distinct value; {cards} planted)"
    )
    ok = rss_mb <= a.max_rss_mb and not errors
    print("bigfile check:", "OK" if ok else "FAILED")
    write_json(a.json, {"mb": nbytes / 1e6, "mbs": nbytes / 1e6 / res["seconds"], "peak_rss_mb": rss_mb,
                        "errors": len(errors), "card_findings": len(findings), "planted": cards})  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
