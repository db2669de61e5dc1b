"""A per-process memory ceiling: a mail bomb (a 54 MB EML whose parse takes some 300 MB) meets RLIMIT_AS,
the file is reported limit_memory and alerted as unscanned, and the scan goes on with the next file.
The real `dropwarden scan`; nothing mocked."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import pytest

from agent.demo import group4, luhn_complete
from agent.scanpool import set_memory_ceiling

REPO = Path(__file__).resolve().parents[3]


def test_a_ceiling_above_the_hard_limit_or_zero_is_left_alone() -> None:
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    assert set_memory_ceiling(0) is False
    assert resource.getrlimit(resource.RLIMIT_AS) == before


@pytest.mark.slow
def test_mail_bomb_meets_the_ceiling_and_the_scan_goes_on(tmp_path: Path) -> None:
    m = EmailMessage()
    m["Subject"], m["From"], m["To"] = "report", "a@example.com", "b@example.com"
    m.set_content("see attached")
    # 100 MB of text: past a 450 MB ceiling whatever the scan's own footprint (40 MB stopped fitting
    # once the prefilter dropped numpy: the scan then read it whole, in ~350 MB)
    m.add_attachment(("word " * 20_000_000).encode(), maintype="text", subtype="plain", filename="big.txt")
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a-bomb.eml").write_bytes(bytes(m))
    card = group4(luhn_complete("45", 16, random.Random(3)))
    (drop / "b-card.txt").write_text(f"Card number {card}\n")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "home")}
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "scan", str(drop), "--format", "jsonl", "-j", "1",
         "--max-memory", str(450 * 1024**2)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-2000:]
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    bomb = [r for r in records if r.get("path", "").endswith("a-bomb.eml")]
    assert {"kind": "error", "reason": "limit_memory"}.items() <= next(
        r for r in bomb if r["kind"] == "error"
    ).items()
    assert any(r.get("entity") == "UNSCANNED_CONTENT" for r in bomb)
    assert any(r.get("rule") == "payment-card-number" and r["path"].endswith("b-card.txt") for r in records)
    assert records[-1]["kind"] == "summary" and records[-1]["files"] == 2
