"""Scan cost must be linear in text size: 1 MB vs 4 MB of the same kind of text, in one process.

Prints seconds per MB for each size and the ratio t(4 MB) / (4 x t(1 MB)); the target is <= 1.3.
Three kinds of text: business prose with planted values, a log, and a deeply nested JSON with no
whitespace at all (the input that keeps plain spaCy tokenisation busy for many minutes).

    python bench/linearity.py
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from bench.corpus import text_body  # noqa: E402


def nested_json(size: int, rng: random.Random) -> str:
    parts: list[str] = []
    total = 0
    depth = 0
    while total < size:
        if depth < 60 and rng.random() < 0.6:
            piece = f'{{"k{rng.randint(0, 999)}":[{rng.randint(0, 10**6)},'
            depth += 1
        else:
            piece = f'"v{rng.randint(0, 999)}"]}}' if depth else '"x",'
            depth = max(0, depth - 1)
        parts.append(piece)
        total += len(piece)
    return "".join(parts)


def main() -> int:
    from agent.models import FileRef, Limits
    from agent.pipeline import build_pipeline

    pipeline = build_pipeline(None, key=b"b" * 32, limits=Limits())
    rng = random.Random(11)
    kinds = {
        "prose": lambda n: text_body(rng, n, True, "txt")[0],
        "log": lambda n: text_body(rng, n, True, "log")[0],
        "nested-json": lambda n: nested_json(n, rng),
    }
    tmp = Path(tempfile.mkdtemp(prefix="dw-linear-"))
    pipeline.scan(FileRef(str(_write(tmp / "warm.txt", kinds["prose"](100_000)))))  # warm caches
    print(f"{'kind':<12} {'1 MB s':>8} {'4 MB s':>8} {'ratio':>6}")
    worst = 0.0
    for name, make in kinds.items():
        times = {}
        for mb in (1, 4):
            path = _write(tmp / f"{name}-{mb}.txt", make(mb * 1_000_000))
            best = min(_timed(pipeline, path) for _ in range(2))
            times[mb] = best
        ratio = times[4] / (4 * times[1])
        worst = max(worst, ratio)
        print(f"{name:<12} {times[1]:8.2f} {times[4]:8.2f} {ratio:6.2f}")
    print(f"worst ratio {worst:.2f} (target <= 1.3)")
    return 0 if worst <= 1.3 else 1


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _timed(pipeline, path: Path) -> float:
    from agent.models import FileRef

    t0 = time.perf_counter()
    pipeline.scan(FileRef(str(path)))
    return time.perf_counter() - t0


if __name__ == "__main__":
    raise SystemExit(main())
