"""What each top-level dependency of Dropwarden pulls in, and how much disk it costs, measured in the
running venv: `python bench/deps.py` prints the Markdown table kept in deploy/dependencies.md."""

from __future__ import annotations

import contextlib
import importlib.metadata as md
import re


def requirements(dist: str) -> list[str]:
    """The names ``dist`` requires unconditionally (no extras, no environment markers that exclude it)."""
    out = []
    for req in md.distribution(dist).requires or []:
        if "extra ==" in req:
            continue
        out.append(re.split(r"[ <>=!~;\[(]", req)[0].lower().replace("_", "-"))
    return out


def closure(name: str, seen: set[str]) -> set[str]:
    for dep in requirements(name):
        if dep not in seen:
            seen.add(dep)
            with contextlib.suppress(md.PackageNotFoundError):
                closure(dep, seen)
    return seen


def size_mb(names: set[str]) -> float:
    total = 0
    for n in names:
        with contextlib.suppress(md.PackageNotFoundError):
            total += sum(f.size or 0 for f in md.distribution(n).files or [])
    return total / 1e6


def main() -> None:
    top = requirements("dropwarden")
    everything: set[str] = set()
    print("| dependency | pulls in (packages) | MB with what it pulls | what it pulls |")
    print("|---|---|---|---|")
    for t in top:
        deps = closure(t, set())
        everything |= deps | {t}
        print(f"| `{t}` | {len(deps)} | {size_mb(deps | {t}):.1f} | {', '.join(sorted(deps)) or '-'} |")
    print(
        f"\n{len(top)} top-level dependencies, {len(everything)} packages in all, {size_mb(everything):.0f} MB."
    )


if __name__ == "__main__":
    main()
