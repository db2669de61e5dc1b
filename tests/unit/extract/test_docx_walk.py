"""The DOCX block walk (office._block_nodes) selects exactly what the XPath union it replaced
selected, in the same order: on a body built to hold every case, and on real documents."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from agent.extract import office

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_RUN_CONTENT = (
    "w:t/node()[1][self::text()]",
    "w:delText/node()[1][self::text()]",
    "w:br",
    "w:cr",
    "w:noBreakHyphen",
    "w:ptab",
    "w:tab",
)
_PARAGRAPHS = ("w:p", "w:sdt/w:sdtContent/w:p")
#: The reference: the union the walk replaced (quadratic in libxml2's node-set merge).
REFERENCE = etree.XPath(
    " | ".join(
        [*_PARAGRAPHS, "w:tbl", "w:sdt/w:sdtContent/w:tbl"]
        + [f"{p}//w:p" for p in _PARAGRAPHS]
        + [f"{p}//w:r/{c}" for p in _PARAGRAPHS for c in _RUN_CONTENT]
    ),
    namespaces={"w": W},
    smart_strings=False,
)

#: Every shape the walk must handle: content controls at block and run level, a text box with a
#: nested paragraph and table, deleted text, breaks, tabs, a w:t starting with a comment (no first
#: text node), an empty w:t, runs directly in a table (not selected: tables are read as tables).
BODY = f"""<w:body xmlns:w="{W}">
  <w:p><w:r><w:t>one</w:t><w:tab/><w:t>two</w:t><w:br/><w:br w:type="page"/></w:r>
       <w:r><w:delText>gone</w:delText><w:cr/><w:noBreakHyphen/><w:ptab/></w:r>
       <w:sdt><w:sdtContent><w:r><w:t>in a run control</w:t></w:r></w:sdtContent></w:sdt>
       <w:r><w:pict><w:txbxContent>
         <w:p><w:r><w:t>text box</w:t></w:r></w:p>
         <w:tbl><w:tr><w:tc><w:p><w:r><w:t>box cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
       </w:txbxContent></w:pict></w:r>
       <w:r><w:t><!-- note -->after a comment</w:t><w:t></w:t></w:r></w:p>
  <w:tbl><w:tr><w:tc><w:p><w:r><w:t>cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
  <w:sdt><w:sdtContent>
    <w:p><w:r><w:t>in a block control</w:t></w:r></w:p>
    <w:tbl><w:tr><w:tc><w:p><w:r><w:t>control cell</w:t></w:r></w:p></w:tc></w:tr></w:tbl>
    <w:sdt><w:sdtContent><w:p><w:r><w:t>two levels down</w:t></w:r></w:p></w:sdtContent></w:sdt>
  </w:sdtContent></w:sdt>
  <w:p/>
  <w:sectPr/>
</w:body>"""


def _same(walk: list[Any], reference: list[Any]) -> bool:
    """Elements by identity, text by value, in order."""
    return len(walk) == len(reference) and all(
        (a is b) if not isinstance(a, str) else a == b for a, b in zip(walk, reference, strict=True)
    )


def _elements(body: Any) -> list[Any]:
    """The body and every cell and text box in it: each is walked on its own too."""
    return [body, *body.iter(f"{{{W}}}body", f"{{{W}}}tc", f"{{{W}}}txbxContent", f"{{{W}}}comment")]


def test_walk_equals_the_xpath_union_on_every_case() -> None:
    body = etree.fromstring(BODY)
    for element in _elements(body):
        assert _same(list(office._block_nodes(element)), REFERENCE(element))
    texts = [n for n in office._block_nodes(body) if isinstance(n, str)]
    assert "in a run control" in texts and "box cell" in texts and "after a comment" not in texts


def test_walk_equals_the_xpath_union_on_real_documents(shared_dir: Path) -> None:
    docs = sorted((shared_dir / "external" / "documents").glob("*.docx"))
    if not docs:
        pytest.skip("no .docx in the shared documents")
    for doc in docs:
        with zipfile.ZipFile(doc) as z:
            parts = [n for n in z.namelist() if n.startswith("word/") and n.endswith(".xml")]
            for name in parts:
                root = etree.fromstring(z.read(name))
                for element in _elements(root):
                    assert _same(list(office._block_nodes(element)), REFERENCE(element)), (doc.name, name)
