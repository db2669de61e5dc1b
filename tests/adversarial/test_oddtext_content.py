"""Content a hostile writer shapes so that it reads as something else: a UTF-16 byte-order mark put
before UTF-8 text. Read as UTF-16 the text is CJK and its card is gone, with no error: a silent
"clean". It must be read as the UTF-8 it is, while real UTF-16 (with ASCII or with another script
only) still reads as UTF-16."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from agent.extract.text import detect_encoding
from agent.models import FileRef
from agent.pipeline import Pipeline, build_pipeline
from tests.adversarial.conftest import BODY_CARD


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(None, b"k" * 32)


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF16_LE + f"Please charge card {BODY_CARD} today.\n".encode(),
        codecs.BOM_UTF16_BE + f"Kunde: Bitte Karte {BODY_CARD} belasten. Grüße\n".encode(),
        codecs.BOM_UTF16_LE + f"Please charge card {BODY_CARD} today.\n".encode("utf-16-le"),
        codecs.BOM_UTF16_BE + f"Please charge card {BODY_CARD} today.\n".encode("utf-16-be"),
    ],
    ids=["le-bom-on-utf8", "be-bom-on-utf8", "real-utf16-le", "real-utf16-be"],
)
def test_the_card_is_found_whatever_bom_leads(pipeline: Pipeline, tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "statement.txt"
    f.write_bytes(data)
    verdict = pipeline.scan(FileRef(str(f), role="contractor-drop", root=str(tmp_path)))
    assert [x.entity for x in verdict.findings] == ["CREDIT_CARD"], verdict


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_of_another_script_stays_utf16(codec: str) -> None:
    bom = codecs.BOM_UTF16_LE if codec.endswith("le") else codecs.BOM_UTF16_BE
    # without a space or line break (no NUL), Cyrillic and Greek in UTF-16 are valid UTF-8 bytes too
    for text in ("客户名单与账户记录", "Список клиентов банка", "КонфиденциальноКлиенты", "ΑπόρρητοΠελάτες"):
        assert detect_encoding(bom + text.encode(codec)) == (codec, 2)
