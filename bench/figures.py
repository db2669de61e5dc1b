"""Figures a benchmark hands to `make bench` (bench/all.py): ``--json FILE`` writes them as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_json_option(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--json", metavar="FILE", help="also write the figures here as JSON (bench/all.py)")


def write_json(path: str | None, figures: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(figures, indent=1), encoding="utf-8")
