"""CPU seconds of each prefiltered recognizer on the plain-text files of a folder, and the classifier's MB
per CPU s, in one process: the per-recognizer split of bench/classify_cpu.py's figure.

`python bench/recognizer_cpu.py DIR [--raw OUT.jsonl]`, e.g. over 8 MB of business prose made by
``python -c "from pathlib import Path; from bench.corpus import generate_prose; generate_prose(Path('/tmp/prose8'), 8)"``.
The classifier runs as a scan runs it (prefilter regions, then each recognizer's ``analyze_regions``); the
time inside each recognizer's ``analyze_regions`` is summed per pass, best of three passes, CPU seconds
(``time.process_time``). ``--raw`` writes every recognizer result of the first pass (entity, start, end,
score before context words, attributes), one per line with a line per file: compare two runs with
``cmp`` to check a change keeps results identical.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.classify.recognizers.base import ATTRIBUTES_KEY
from agent.classify.results import Result
from agent.models import TextChunk
from agent.pipeline import build_pipeline, default_policy_dirs

PLAIN = {".txt", ".csv", ".log", ".md", ".json"}
PASSES = 3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--raw", type=Path, help="write the first pass's recognizer results here (JSON lines)")
    a = ap.parse_args()
    files = sorted(p for p in a.folder.rglob("*") if p.suffix in PLAIN)
    texts = [p.read_text(errors="replace") for p in files]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    classifier = build_pipeline(default_policy_dirs(), key=b"classify-cpu-bench-key-012345678").classifier
    spent: dict[str, float] = {}
    raw: list[list[object]] = []
    for key, rec in classifier._fast.items():  # the prefiltered recognizers, by prefilter group
        rec.analyze_regions = _timed(key, rec.analyze_regions, spent, raw)  # type: ignore[method-assign]
    best: dict[str, float] = {}
    whole = float("inf")
    for i in range(PASSES):
        spent.clear()
        started = time.process_time()
        for path, text in zip(files, texts, strict=True):
            if i == 0:
                raw.append(["FILE", path.name])
            classifier.detect(TextChunk(path=str(path), member=None, text=text))
        whole = min(whole, time.process_time() - started)
        for key, seconds in spent.items():
            best[key] = min(best.get(key, seconds), seconds)
        if i == 0 and a.raw:
            a.raw.write_text("".join(json.dumps(r) + "\n" for r in raw))
        raw.clear()
    for key, seconds in sorted(best.items(), key=lambda kv: -kv[1])[:12]:
        print(f"{key:32s} {seconds:.3f} CPU s")
    print(f"{mb:.1f} MB in {len(files)} files: classifier {whole:.2f} CPU s, {mb / whole:.2f} MB per CPU s")


def _timed(
    key: str,
    analyze: Callable[[str, Iterable[tuple[int, int]]], list[Result]],
    spent: dict[str, float],
    raw: list[list[object]],
) -> Callable[[str, Iterable[tuple[int, int]]], list[Result]]:
    def timed(text: str, regions: Iterable[tuple[int, int]]) -> list[Result]:
        started = time.process_time()
        found = analyze(text, regions)
        spent[key] = spent.get(key, 0.0) + time.process_time() - started
        attrs = ATTRIBUTES_KEY
        raw.extend(
            [r.entity_type, r.start, r.end, r.score, repr(r.recognition_metadata.get(attrs))] for r in found
        )
        return found

    return timed


if __name__ == "__main__":
    main()
