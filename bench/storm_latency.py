"""Close->alert of a carded file while a writer renames folders in a loop in the same zone (issue 14).

A real `dropwarden run` on real inotify: 20 folders of 5 files each in zone/busy are renamed away and
back as fast as one process can, for ``--seconds``; after 3 s, ``--files`` carded files are dropped
one by one into zone/other and each is timed from its close to its alert (120 s at most each).

    .venv/bin/python -m bench.storm_latency                 # 30 s storm, 3 files
    .venv/bin/python -m bench.storm_latency --seconds 60 --files 5
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers import CARD_POLICY, AgentProc, fake_card, wait_for

_STORM = r"""
import os, sys, time
root, end, n = sys.argv[1], time.time() + float(sys.argv[2]), 0
while time.time() < end:
    for i in range(20):
        a, b = os.path.join(root, f"d{i}"), os.path.join(root, f"e{i}")
        os.rename(a, b)
        os.rename(b, a)
        n += 2
print(n)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=30.0, help="how long the storm lasts")
    ap.add_argument("--files", type=int, default=3, help="carded files dropped during the storm")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="dropwarden-storm-"))
    pol = base / "policies"
    pol.mkdir()
    (pol / "cards.yaml").write_text(CARD_POLICY)
    agent = AgentProc(base, pol)
    (agent.zone / "other").mkdir()
    for i in range(20):
        (agent.zone / "busy" / f"d{i}").mkdir(parents=True)
        for j in range(5):
            (agent.zone / "busy" / f"d{i}" / f"f{j}.txt").write_text("minutes of a meeting\n")
    agent.start()
    storm = subprocess.Popen(
        [sys.executable, "-c", _STORM, str(agent.zone / "busy"), str(args.seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    latencies: list[float | None] = []
    try:
        time.sleep(3)
        for k in range(args.files):
            f = agent.zone / "other" / f"refund-{k}.txt"
            t0 = time.monotonic()
            f.write_text(f"Card {fake_card()}\n")
            ok = wait_for(lambda f=f: agent.alerts_for(f), 120, 0.05)
            latencies.append(round(time.monotonic() - t0, 2) if ok else None)
        renames, _ = storm.communicate()
    finally:
        storm.kill()
        agent.kill()
    shown = ", ".join("> 120 s" if x is None else f"{x} s" for x in latencies)
    print(f"storm: {renames.strip() or '?'} renames in {args.seconds:.0f} s; close->alert: {shown}")
    return 0 if all(x is not None for x in latencies) else 1


if __name__ == "__main__":
    sys.exit(main())
