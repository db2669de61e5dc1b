"""OCR: pages/s of one worker and recall on rendered statement pages (issue 15 item 5, issue 19 item 4).

Each test page is a generated customer statement (a STRICTLY CONFIDENTIAL marking, a Luhn-valid
card, an IBAN with its holder, ~20 lines of business prose), rendered with Pillow in one of several
DejaVu fonts at 150, 200 or 300 dpi, some rotated by up to 1.5 degrees (a sheet fed slightly askew)
and some saved as JPEG at quality 50-70 (compression artefacts); the rest as PNG. Every page is
scanned by one pipeline in this one process (as one daemon worker would), sequentially:

- pages/s: pages / wall time of the scans (OCR dominates: extraction + classification of a page's
  text is a few ms);
- recall per entity: pages with a finding of that entity, over all pages (each page holds exactly
  one marking, one card and one IBAN, and nothing else of those entities).

    .venv/bin/python bench/bench_ocr.py              # 24 pages
    .venv/bin/python bench/bench_ocr.py --pages 8    # quicker
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agent.demo import group4, iban, luhn_complete  # noqa: E402
from agent.models import FileRef  # noqa: E402
from agent.pipeline import build_pipeline  # noqa: E402
from bench.corpus import FIRST, LAST, sentence  # noqa: E402
from bench.figures import add_json_option, write_json  # noqa: E402
from tests.unit.extract.builders import render_text_image  # noqa: E402

FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSansCondensed.ttf")
DPIS = (150, 200, 300)
BBAN_DIGITS = (("DE", 18), ("AT", 16), ("ES", 20), ("CH", 17))  # all-digit BBANs of these countries
ENTITIES = ("CONFIDENTIAL_MARKING", "CREDIT_CARD", "IBAN_CODE")


def page(rng: random.Random) -> list[str]:
    """Lines of one statement page: one marking, one card, one IBAN with its holder."""
    holder = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    card = group4(luhn_complete(rng.choice(("4", "51", "53")), 16, rng))
    country, digits = rng.choice(BBAN_DIGITS)
    account = group4(iban(country, "".join(rng.choice("0123456789") for _ in range(digits))))
    lines = ["STRICTLY CONFIDENTIAL", f"Statement for {holder}", ""]
    lines += [sentence(rng)[:70] for _ in range(8)]
    lines += [f"Account holder: {holder}", f"IBAN: {account}", f"Card: {card}", ""]
    lines += [sentence(rng)[:70] for _ in range(10)]
    return lines


def write_page(rng: random.Random, lines: list[str], out: Path, i: int) -> tuple[Path, str]:
    font, dpi = FONTS[i % len(FONTS)], DPIS[i % len(DPIS)]
    skew = rng.choice((0.0, 0.0, 0.6, -0.9, 1.5))
    img = render_text_image(lines, dpi=dpi, font=font, points=11, skew=skew)
    if i % 3 == 2:
        quality = rng.randint(50, 70)
        path = out / f"page{i:03d}.jpg"
        img.save(path, quality=quality)
        kind = f"jpeg q{quality}"
    else:
        path = out / f"page{i:03d}.png"
        img.save(path)
        kind = "png"
    return path, f"{font[:-4]:<20} {dpi} dpi skew {skew:+.1f} {kind}"


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the Tesseract runs)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=24)
    add_json_option(ap)
    args = ap.parse_args()
    rng = random.Random(20261204)
    pipeline = build_pipeline(None, b"k" * 32)
    planted: Counter[str] = Counter()
    found: Counter[str] = Counter()
    misses: list[str] = []
    seconds = cpu = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as d:
        for i in range(args.pages):
            lines = page(rng)
            path, label = write_page(rng, lines, Path(d), i)
            started, cpu0 = time.perf_counter(), cpu_seconds()
            verdict = pipeline.scan(FileRef(str(path)))
            seconds += time.perf_counter() - started
            cpu += cpu_seconds() - cpu0
            entities = {f.entity for f in verdict.findings}
            for entity in ENTITIES:
                planted[entity] += 1
                if entity in entities:
                    found[entity] += 1
                else:
                    misses.append(f"{entity} on page {i} ({label})")
            if verdict.errors:
                misses.append(f"page {i}: errors {[e.reason for e in verdict.errors]}")
    print(
        f"{args.pages} pages, one worker: {args.pages / seconds:.2f} pages/s wall ({seconds / args.pages:.2f} s/page)"
    )
    print(
        f"  CPU (this process + Tesseract): {cpu / args.pages:.2f} s/page = {args.pages / cpu:.2f} pages/s per idle core"
    )
    for entity in ENTITIES:
        print(
            f"  recall {entity:<22} {found[entity]}/{planted[entity]} = {found[entity] / planted[entity]:.2f}"
        )
    total = sum(found.values()) / sum(planted.values())
    print(f"  recall overall {total:.2f}")
    for m in misses:
        print(f"  missed: {m}")
    write_json(args.json, {"pages": args.pages, "pages_per_s_wall": args.pages / seconds,
                           "pages_per_cpu_s": args.pages / cpu, "recall": total})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
