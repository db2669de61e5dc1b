"""Classifier CPU per stage on the plain-text files of a folder: which stage a prose scan spends on.

`python bench/classify_stages.py DIR [--passes 5]` (make DIR with bench/corpus.py's ``generate_prose``,
e.g. ``python -c "from pathlib import Path; from bench.corpus import generate_prose;
generate_prose(Path('/tmp/prose'), 8)"``). Each stage's CPU seconds (``time.process_time``) are summed
over the folder per pass, and the least of ``--passes`` passes is printed per stage: the prefilter,
each fast-path recognizer's ``analyze_regions`` (by class), the context enhancer, the de-duplication,
and the rest of ``Classifier.detect`` (the engine loop and building detections). Timing every call adds
a little to each stage; compare runs made the same way under the same load.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.classify import engine
from agent.models import TextChunk
from agent.pipeline import build_pipeline, default_policy_dirs

PLAIN = {".txt", ".csv", ".log", ".md", ".json"}


def _timed(owner: Any, name: str, label: str, spent: dict[str, float]) -> None:
    """Replace ``owner.name`` by a wrapper adding its CPU seconds to ``spent[label]``."""
    inner: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - started

    setattr(owner, name, wrapper)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder")
    ap.add_argument("--passes", type=int, default=5)
    a = ap.parse_args()
    files = sorted(p for p in Path(a.folder).rglob("*") if p.suffix in PLAIN)
    chunks = [TextChunk(path=str(p), member=None, text=p.read_text(errors="replace")) for p in files]
    mb = sum(len(c.text.encode()) for c in chunks) / 1e6
    classifier = build_pipeline(default_policy_dirs(), key=b"classify-cpu-bench-key-012345678").classifier
    spent: dict[str, float] = defaultdict(float)
    if classifier._prefilter is not None:
        _timed(classifier._prefilter, "spans", "prefilter", spent)
    for rec in classifier._fast.values():
        _timed(rec, "analyze_regions", f"recognizer {type(rec).__name__}", spent)
    _timed(classifier._enhancer, "enhance_using_context", "context enhancer", spent)
    _timed(engine, "remove_duplicates", "de-duplication", spent)
    _timed(engine, "disjoint", "de-duplication", spent)
    best: dict[str, float] = defaultdict(lambda: float("inf"))
    for _ in range(a.passes):
        spent.clear()
        started = time.process_time()
        for chunk in chunks:
            classifier.detect(chunk)
        total = time.process_time() - started
        spent["rest of detect (engine loop, detections)"] = total - sum(spent.values())
        spent["TOTAL"] = total
        for label, seconds in spent.items():
            best[label] = min(best[label], seconds)
    print(f"{mb:.1f} MB in {len(files)} files, CPU s per stage (least of {a.passes} passes):")
    for label, seconds in sorted(best.items(), key=lambda kv: (kv[0] == "TOTAL", -kv[1])):
        print(f"  {seconds:7.3f}  {label}")
    print(f"  classifier: {mb / best['TOTAL']:.2f} MB per CPU s")


if __name__ == "__main__":
    main()
