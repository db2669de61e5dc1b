"""Lone surrogates (what a file name that is not UTF-8, a tar member name or a raw 8-bit mail header
become once decoded with surrogateescape) in the text every pack recognizer reads. google-re2 raises
UnicodeEncodeError on such a str: a recognizer compiled to RE2 that met one failed the whole chunk
(content: UNSCANNED_CONTENT instead of its findings; a name: its values no finding). Every pack
recognizer's own match examples, with lone surrogates around them, must give what they give alone."""

from __future__ import annotations

import pytest

from agent.models import Detection, FileRef, TextChunk
from agent.pipeline import Pipeline, build_pipeline

#: U+DCFF/U+DCFE: bytes 0xFF 0xFE; U+DCED U+DCA0 U+DC80: a UTF-8-encoded surrogate (0xED 0xA0 0x80).
SURROGATES = "\udcff\udcfe \udced\udca0\udc80"


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(None, b"k" * 32)


def _found(pipeline: Pipeline, text: str, shift: int, name: str) -> set[tuple[str, int]]:
    """What the recognizer ``name`` found (value, offset in the example)."""
    found: list[Detection] = pipeline.classifier.detect(TextChunk(path="<example>", member=None, text=text))
    return {(d.value, d.start - shift) for d in found if d.recognizer == name and d.score >= 0.5}


def _examples(pipeline: Pipeline) -> list[tuple[str, str]]:
    return [(spec.name, text) for spec in pipeline.policies.recognizers for text in spec.examples_match]


def test_the_family_holds_recognizers_compiled_to_re2(pipeline: Pipeline) -> None:
    """The attack needs RE2-compiled pack recognizers: the test below must not pass for want of them."""
    names = {n for n, _ in _examples(pipeline)}
    engines = {r.name: {type(rx).__module__ for _, rx in getattr(r, "_compiled", ())}
               for r in pipeline.classifier._ours}  # fmt: skip
    assert any("re2" in engines.get(n, ()) for n in names)


def test_every_pack_recognizer_reads_text_holding_lone_surrogates(pipeline: Pipeline) -> None:
    lead = SURROGATES + "\n"
    for name, text in _examples(pipeline):
        plain = _found(pipeline, text, 0, name)
        assert plain, name  # the example itself matches
        for variant in (lead + text + "\n" + SURROGATES, text + " " + SURROGATES):
            shift = len(lead) if variant.startswith(lead) else 0
            assert _found(pipeline, variant, shift, name) == plain, (name, text)


def test_a_name_holding_a_credential_and_undecodable_bytes_is_a_finding(pipeline: Pipeline) -> None:
    """The name's own value is found and masked (not merely every digit and token scrubbed)."""
    ref = FileRef("/zone/curl -u admin:Xy7s3cretQ9 \udcff.txt", role="contractor-drop", root="/zone")
    shown = pipeline.shown_path(ref)
    found = pipeline.evaluate_text("curl -u admin:Xy7s3cretQ9 \udcff", ref).findings
    assert found and "Xy7s3cretQ9" not in shown and "curl -u admin:" in shown
