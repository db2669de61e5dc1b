"""Classifier CPU throughput on the plain-text files of a corpus, one process, best of three passes.

`python bench/classify_cpu.py bench/corpus [POLICY_DIR]` (generate the corpus first with
`python bench/corpus.py bench/corpus --size-mb 12`). CPU seconds (``time.process_time``) rather than
wall time, so a busy machine moves the figure less; still compare runs made under the same load.
Used to check that adding recognizers (the credential-formats pack) keeps the scan fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.models import TextChunk
from agent.pipeline import build_pipeline, default_policy_dirs

PLAIN = {".txt", ".csv", ".log", ".md", ".json"}


def main() -> None:
    root = Path(sys.argv[1])
    policies = [Path(sys.argv[2])] if len(sys.argv) > 2 else default_policy_dirs()
    files = sorted(p for p in root.rglob("*") if p.suffix in PLAIN)
    texts = [p.read_text(errors="replace") for p in files]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    classifier = build_pipeline(policies, key=b"classify-cpu-bench-key-012345678").classifier
    best, found = float("inf"), 0
    for _ in range(3):
        started, found = time.process_time(), 0
        for path, text in zip(files, texts, strict=True):
            found += len(classifier.detect(TextChunk(path=str(path), member=None, text=text)))
        best = min(best, time.process_time() - started)
    print(f"{mb:.1f} MB in {len(files)} files, {found} detections: {best:.2f} CPU s, {mb / best:.2f} MB/s")


if __name__ == "__main__":
    main()
