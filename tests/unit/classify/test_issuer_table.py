"""issuer() looks prefixes up in tables built from BIN_RANGES: the same scheme as scanning the ranges."""

from __future__ import annotations

import random

from agent.classify.recognizers.credit_card import BIN_RANGES, issuer


def _scan(digits: str) -> str | None:
    """The reference: the longest range holding the prefix at its length, first in table order."""
    n = len(digits)
    for width in sorted({len(lo) for _, lo, _, _ in BIN_RANGES}, reverse=True):
        for scheme, lo, hi, lengths in BIN_RANGES:
            if len(lo) == width and lo <= digits[:width] <= hi and n in lengths:
                return scheme
    return None


def test_issuer_matches_a_scan_of_the_ranges() -> None:
    rng = random.Random(19)
    heads = [lo for _, lo, _, _ in BIN_RANGES] + [hi for _, _, hi, _ in BIN_RANGES]

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    numbers = [h + digits(n - len(h)) for h in heads for n in range(12, 20)]
    numbers += [digits(rng.randint(1, 20)) for _ in range(20_000)]
    found = {issuer(d) for d in numbers}
    assert all(issuer(d) == _scan(d) for d in numbers)
    assert found >= {None, *(scheme for scheme, _, _, _ in BIN_RANGES)}  # every scheme was reached
