"""Where a line sits in a YAML document, read from indentation alone (bounded, never a full parse).

Kubernetes manifests are YAML, but the ones on a share are often Helm templates (``{{ ... }}``), cut
excerpts or several documents in one file: a YAML parser rejects many of them. So the structure is
read line by line, in one pass per document with a stack of open keys: a key's parent is the nearest
key above it indented less; keys at one indentation under one parent form a mapping, and a ``- ``
list item opens a new one (its first key sits after the dash). Everything stays within one document
(``---`` separators) and :data:`DOC_REACH` characters either side, and the pass over a document is
cached, so a file of many Secret entries costs one pass, not one per entry.
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache

#: How far from the line the document is read, either way.
DOC_REACH = 64 * 1024
_DOC_SEP = re.compile(r"^(?:---|\.\.\.)[ \t]*(?:#.*)?$", re.MULTILINE)
_KEY = re.compile(r"^(?P<indent>[ ]*)(?P<item>-[ ]+)?(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")
_DATA_KEYS = frozenset({"data", "stringData"})
_BLOCK = frozenset({"", "|", ">", "|-", ">-"})
_SECRET = re.compile(r"""^[ \t]*["']?Secret["']?[ \t]*(?:#.*)?$""")


#: The reach is measured from the start of ``pos``'s block, so the entries of one block share one
#: (cached) pass over their document: a long Secret costs a pass per block, not one per entry.
_BLOCK_CHARS = 16 * 1024


def _document(text: str, pos: int) -> tuple[int, int]:
    """Start and end of the YAML document holding ``pos`` (within about DOC_REACH of it)."""
    block = pos - pos % _BLOCK_CHARS
    lo = max(0, block - DOC_REACH)
    start = lo
    for sep in _DOC_SEP.finditer(text, lo, pos):
        start = sep.end()
    end = min(len(text), block + _BLOCK_CHARS + DOC_REACH)
    nxt = _DOC_SEP.search(text, pos, end)
    return start, nxt.start() if nxt else end


@lru_cache(maxsize=8)
def _secret_entries(text: str, lo: int, hi: int) -> tuple[list[int], frozenset[int]]:
    """Line start offsets of ``text[lo:hi]`` and the indices of the lines that are entries of a
    ``data``/``stringData`` mapping whose own mapping says ``kind: Secret``."""
    starts: list[int] = []
    offset = lo
    stack: list[tuple[int, int]] = []  # open keys: (key indent, line index)
    mapping_of: dict[int, tuple[int, int]] = {}  # line index -> its mapping (opener line, indent)
    item_at: dict[int, int] = {}  # key indent -> line of the last list item opened there
    secret_maps: set[tuple[int, int]] = set()
    data_lines: dict[int, tuple[int, int]] = {}  # a data: line -> its mapping
    parent_of: dict[int, int] = {}
    for i, line in enumerate(text[lo:hi].split("\n")):
        starts.append(offset)
        offset += len(line) + 1
        m = _KEY.match(line)
        if m is None or line.lstrip().startswith("#"):
            continue
        indent = len(m["indent"]) + (len(m["item"]) if m["item"] else 0)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1][1] if stack else -1
        if m["item"]:
            item_at[indent] = i
        opener = item_at.get(indent, -1)
        mapping = (opener, indent) if opener > parent else (parent, indent)
        mapping_of[i] = mapping
        parent_of[i] = parent
        if m["key"] == "kind" and _SECRET.match(m["rest"]):
            secret_maps.add(mapping)
        elif m["key"] in _DATA_KEYS and m["rest"].strip() in _BLOCK:
            data_lines[i] = mapping
        stack.append((indent, i))
    entries = frozenset(i for i, p in parent_of.items() if p in data_lines and data_lines[p] in secret_maps)
    return starts, entries


def in_secret_data(text: str, pos: int) -> bool:
    """Whether the key at ``pos`` is an entry of a ``data:``/``stringData:`` mapping of a mapping that
    says ``kind: Secret`` (a Secret manifest, alone or as an item of a ``List``)."""
    if text.find("Secret", max(0, pos - DOC_REACH), pos + DOC_REACH) < 0:
        return False  # the common case, at the speed of a substring search
    lo, hi = _document(text, pos)
    starts, entries = _secret_entries(text, lo, hi)
    return bisect.bisect_right(starts, pos) - 1 in entries
