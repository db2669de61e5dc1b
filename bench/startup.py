"""Start-up of the `dropwarden` command line: median wall and CPU seconds over repeated launches.

Targets (#19): ``--help``, ``--version``, ``config check`` and ``policy lint`` <= 0.3 s (they never
import Presidio, spaCy or rich); ``scan`` of one small file <= 0.7 s. Each launch is its own process
(``python -m agent ...`` with this interpreter); wall time on a shared machine is noisy, so every
launch is printed and the CPU seconds (user + sys of the process and its children) beside it.

``config check`` and ``policy lint`` remember the packs they checked (agent/policy/checkcache.py),
and ``scan`` the compiled packs and their patterns' regex reach (agent/policy/setcache.py, sealed
with the scan key): the fixture's state dirs exist (0700, as systemd's StateDirectory= and the
daemon make them), so after the unmeasured warm-up launch they answer from the cache. The "not
cached" rows measure the same commands with no usable cache (a state dir that does not exist; a
user state dir open to others): the first run after a pack or code change, or `config check` run
by another user than the agent.

The agent package is byte-compiled first, as an installed one is (pip and the .deb compile it): a
checkout run with PYTHONDONTWRITEBYTECODE=1 would otherwise compile ~100 modules at every launch,
~0.1 CPU s that no installed agent pays.

    python bench/startup.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.figures import add_json_option, write_json

#: (label, arguments after ``dropwarden``, target seconds); {cfg}, {cold_cfg} and {file} are filled in.
COMMANDS: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("--help", ("--help",), 0.3),
    ("--version", ("--version",), 0.3),
    ("config check", ("config", "check", "--config", "{cfg}"), 0.3),
    ("config check, not cached", ("config", "check", "--config", "{cold_cfg}"), 0.3),
    ("policy lint", ("policy", "lint"), 0.3),
    ("policy lint, not cached", ("policy", "lint"), 0.3),
    ("scan (1 small file)", ("scan", "{file}"), 0.7),
    ("scan (1 small file), not cached", ("scan", "{file}"), 0.7),
)
#: Commands launched with a user state dir open to others, where no cache is kept.
NOT_CACHED = frozenset({"policy lint, not cached", "scan (1 small file), not cached"})
#: A small file with a planted card (a generated test number), so the scan does find something.
SMALL_FILE = "Invoice 2231 for ACME Ltd.\nCard on file: 4111 1111 1111 1111, exp 12/29.\n"


@dataclass
class Launches:
    """Wall and CPU seconds of each launch of one command."""

    label: str
    target: float
    wall: list[float]
    cpu: list[float]

    @property
    def median_wall(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def launch(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """One launch: (wall seconds, CPU seconds of the process and its children)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime


def fixtures(tmp: Path) -> dict[str, str]:
    """A usable agent config (one zone, a state dir), the same with no state dir yet, a small file."""
    zone = tmp / "zone"
    zone.mkdir()
    (tmp / "state").mkdir(mode=0o700)
    out = {}
    for name, state in (("cfg", "state"), ("cold_cfg", "no-state-yet")):
        cfg = tmp / f"{name}.yaml"
        cfg.write_text(
            f"zones:\n  - name: drop\n    path: {zone}\n    role: contractor-drop\nstate_dir: {tmp / state}\n",
            encoding="utf-8",
        )
        out[name] = str(cfg)
    (tmp / "open" / "dropwarden").mkdir(parents=True, mode=0o755)
    (tmp / "open" / "dropwarden").chmod(0o755)
    small = tmp / "invoice.txt"
    small.write_text(SMALL_FILE, encoding="utf-8")
    return {**out, "file": str(small)}


def measure(repeat: int, only: str | None = None) -> list[Launches]:
    """Every command of COMMANDS launched ``repeat`` times (after one unmeasured warm-up launch)."""
    out: list[Launches] = []
    compileall.compile_dir(Path(__file__).resolve().parents[1] / "agent", quiet=1)
    with tempfile.TemporaryDirectory(prefix="dw-startup-") as tmp:
        subs = fixtures(Path(tmp))
        env = {**os.environ, "XDG_STATE_HOME": str(Path(tmp) / "xdg"), "NO_COLOR": "1"}
        for label, args, target in COMMANDS:
            if only and only not in label:
                continue
            argv = [sys.executable, "-m", "agent", *(a.format(**subs) for a in args)]
            cmd_env = {**env, "XDG_STATE_HOME": str(Path(tmp) / "open")} if label in NOT_CACHED else env
            launch(argv, cmd_env)  # warm the page cache, the key file and the checked-packs cache
            runs = [launch(argv, cmd_env) for _ in range(repeat)]
            out.append(Launches(label, target, [w for w, _ in runs], [c for _, c in runs]))
    return out


def report(results: list[Launches]) -> None:
    print(f"{'command':<32} {'median wall':>11} {'median CPU':>10} {'target':>7}  launches (wall s)")
    for r in results:
        ok = "ok" if r.median_wall <= r.target else "MISSED"
        launches = " ".join(f"{w:.2f}" for w in r.wall)
        print(
            f"{r.label:<32} {r.median_wall:>10.2f}s {r.median_cpu:>9.2f}s {r.target:>6.1f}s  "
            f"{launches}  [{ok}]"
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=7, help="launches per command (median reported)")
    ap.add_argument("--only", help="only the commands whose label contains this")
    add_json_option(ap)
    args = ap.parse_args()
    results = measure(args.repeat, args.only)
    report(results)
    write_json(args.json, {r.label: {"wall": r.wall, "cpu": r.cpu, "target": r.target} for r in results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
