"""google-re2 searches without its Python wrapper's work per call.

google-re2's ``search`` encodes a ``str``, converts ``pos`` to bytes and the span back, and builds a
``_Match``: about 2 us a call, more than the search itself on the short texts the classifier asks
about (the neighbourhood of an IBAN, a result's context). These call its C++ ``Match`` directly.
"""

from __future__ import annotations

from collections.abc import Callable

import re2


def first_at(pattern: str) -> Callable[[bytes, int], int]:
    """Where the re2 ``pattern`` first occurs in UTF-8 ``data`` from ``pos`` on (-1: nowhere), called as
    google-re2's ``search`` calls it without building a match object. Falls back to ``search`` if a
    future wrapper renames those internals."""
    rx = re2.compile(pattern)
    regexp, anchor, null = (
        getattr(rx, "_regexp", None),
        getattr(re2, "_Anchor", None),
        getattr(re2, "_NULL_SPAN", None),
    )
    if regexp is None or anchor is None or null is None:

        def wrapped(data: bytes, pos: int) -> int:
            m = rx.search(data, pos)
            return -1 if m is None else int(m.start())

        return wrapped
    match, unanchored = regexp.Match, anchor.UNANCHORED

    def direct(data: bytes, pos: int) -> int:
        span = match(unanchored, data, pos, len(data))[0]
        return -1 if span == null else int(span[0])

    return direct


def ascii_holds(pattern: str) -> Callable[[str], bool]:
    """Whether an ASCII ``text`` holds a match of the re2 ``pattern``: what ``re2.compile(pattern)
    .search(text) is not None`` says (an ASCII text's bytes are its characters)."""
    find = first_at(pattern)

    def holds(text: str) -> bool:
        return find(text.encode("ascii"), 0) >= 0

    return holds
