"""A 200 MB log is streamed: peak memory stays bounded by a few chunk sizes, not by the file size."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

_MEASURE = """
import json, sys, time
from agent.extract import Extractor
from agent.models import FileRef, Limits, TextChunk
def hwm():  # VmHWM: ru_maxrss would carry over exec the peak of the (large) pytest that spawned us
    status = open("/proc/self/status").read()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
before = hwm()
t0 = time.monotonic()
n = chars = 0
last = None
for item in Extractor(Limits(timeout_seconds=60)).extract(FileRef(sys.argv[1])):
    assert isinstance(item, TextChunk), item
    n += 1
    chars += len(item.text)
    last = item
after = hwm()
print(json.dumps({"chunks": n, "chars": chars, "last_offset": last.offset, "last_len": len(last.text),
                  "rss_before_kb": before, "rss_peak_kb": after, "seconds": time.monotonic() - t0}))
"""


@pytest.mark.slow
def test_200mb_log_streams_with_bounded_memory(tmp_path: Path) -> None:
    """Extracting a ~200 MB log grows peak RSS by far less than the file (bounded by chunk sizes)."""
    line = b"2026-11-27T15:50:00Z host=fs01 user=jdoe action=read path=/srv/share/q3/report.xlsx ok\n"
    block = line * (1024 * 1024 // len(line))
    p = tmp_path / "huge.log"
    with p.open("wb") as f:
        for _ in range(200):
            f.write(block)
    size = p.stat().st_size
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(p)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(REPO),
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert out.returncode == 0, out.stderr[-800:]
    m = json.loads(out.stdout.strip().splitlines()[-1])
    assert m["last_offset"] + m["last_len"] == size  # every character was seen, offsets exact
    growth_mb = (m["rss_peak_kb"] - m["rss_before_kb"]) / 1024
    print(f"200 MB log: {m['chunks']} chunks in {m['seconds']:.1f} s, peak RSS growth {growth_mb:.0f} MB")
    assert growth_mb < 40, f"peak RSS grew by {growth_mb:.0f} MB while streaming {size >> 20} MB"
