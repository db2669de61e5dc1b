"""Numbers written out of their layout: groups glued or split by OCR, cut by a line break anywhere,
digits misread as letters. Shared by the IBAN and card recognizers.

A *spread* candidate is a run of characters that may be separated by up to two spaces and at most one
line break at a time (Tesseract joins or splits groups; PDFs and scans wrap lines in the middle of a
group). :func:`take` reads the first ``n`` characters of such a run and says where they end, only when
they end at a separator (never in the middle of a longer run). :func:`ocr_digits` undoes Tesseract's
usual digit misreadings (``O``→``0``, ``l``/``I``/``|``→``1``, ``S``→``5``, ``B``→``8``, ``Z``→``2``),
only among digits, so a bank code such as ``NWBK`` or ``LOYD`` stays as written. The
caller keeps a corrected value only when its checksum validates (mod 97, Luhn).
"""

from __future__ import annotations

#: Between two characters of a spread run: up to two spaces or tabs, or one line break with indentation.
SPREAD_GAP = r"(?:[ \t]{1,2}|[ \t]{0,2}\r?\n[ \t]{0,3})?"
#: Characters OCR writes for a digit.
OCR_LOOKALIKES = "OoDQlI|iSsBZz"
_TO_DIGIT = str.maketrans("OoDQlI|iSsBZz", "0000111155822")


def take(text: str, start: int, end: int, n: int, chars: str) -> tuple[str, int] | None:
    """The first ``n`` characters of ``chars`` in ``text[start:end]`` (skipping separators) and the
    offset right after the last one; None if there are fewer, or if a character of ``chars`` follows
    directly (the run is longer than ``n``: not this number)."""
    out: list[str] = []
    pos = start
    while pos < end and len(out) < n:
        c = text[pos]
        if c in chars:
            out.append(c)
        pos += 1
    if len(out) < n or (pos < len(text) and text[pos] in chars):
        return None
    return "".join(out), pos


def ocr_digits(value: str, start: int = 0) -> str:
    """``value`` with OCR look-alikes from ``start`` on read as digits where they sit among digits:
    every neighbour a digit or another look-alike, at least one a digit ("2O11", "3OO7", "166S"), so
    the letters of a bank code ("LOYD3", "NWBK6") stay as written."""
    chars = list(value)
    changed = True
    while changed:  # "3OO7": each O has a digit on one side once the other O is read
        changed = False
        for i in range(start, len(chars)):
            if chars[i] not in OCR_LOOKALIKES:
                continue
            near = chars[max(0, i - 1) : i] + chars[i + 1 : i + 2]
            if any(c.isdigit() for c in near) and all(c.isdigit() or c in OCR_LOOKALIKES for c in near):
                chars[i] = chars[i].translate(_TO_DIGIT)
                changed = True
    return "".join(chars)


def to_digits(value: str) -> str:
    """Every OCR look-alike in ``value`` read as a digit (a field that holds digits only)."""
    return value.translate(_TO_DIGIT)


def digit_share(value: str) -> float:
    """The share of digits in ``value`` (a run of mostly letters is words, not a number)."""
    return sum(c.isdigit() for c in value) / len(value) if value else 0.0
