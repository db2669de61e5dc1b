"""The Classifier as a whole: offline operation, offsets, context words, linearity, NER, custom specs."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import logging
import random
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import spacy

from agent.classify import Classifier, ClassifierSettings, engine
from agent.classify.recognizers import email
from agent.classify.tokenizer import MAX_TOKEN, tokenize
from agent.models import Detection, RecognizerSpec, TextChunk
from tests.unit.classify import fakes
from tests.unit.classify.fakes import best, detect


def test_email_validation_is_offline_and_silent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Validating e-mail domains uses tldextract's bundled snapshot: no connection attempt, no warning."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled in test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(email.public_suffixes(), "_extractor", None)  # force the suffix list to load now
    email._registrable_domain.cache_clear()  # and ask it again for these domains
    caplog.set_level(logging.DEBUG)
    c = Classifier(ClassifierSettings(entities=frozenset({"EMAIL_ADDRESS"})))
    found = detect(c, "write to jane.doe@example.co.uk or bob@corp.example.com", "EMAIL_ADDRESS")
    assert {d.value for d in found} == {"jane.doe@example.co.uk", "bob@corp.example.com"}
    assert attempts == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


def test_offsets_lines_and_chunk_fields(classifier: Classifier) -> None:
    """Offsets are absolute (chunk.offset + local), lines count from chunk.line, chunk fields copied."""
    n = fakes.card(random.Random(9))
    text = f"line one\nline two\npay {n} now\n"
    chunk = TextChunk(path="/srv/a.zip", member="x/y.docx", text=text, offset=1000, line=40, part="footer")
    (d,) = [d for d in classifier.detect(chunk) if d.entity == "CREDIT_CARD"]
    local = text.index(n)
    assert (d.start, d.end, d.line) == (1000 + local, 1000 + local + len(n), 42)
    assert (d.path, d.member, d.part, d.value) == ("/srv/a.zip", "x/y.docx", "footer", n)
    assert d.context_start == 1000 and text[d.context_start - 1000 :].startswith(d.context)
    assert d.recognizer == "CreditCardRecognizer"


def test_context_words_are_whole_words(classifier: Classifier) -> None:
    """Context words count only as whole words: not "bic" inside "public" or "lic" inside "policy"."""
    assert best(classifier, "BIC DEUTDEFF500", "SWIFT_BIC") >= 0.5
    assert best(classifier, "public DEUTDEFF500", "SWIFT_BIC") < 0.5
    spec = RecognizerSpec(
        name="lic", entity="LICENSE_NO", patterns=(("lic", r"\bL-\d{6}\b", 0.2),), context=("lic",)
    )
    c = Classifier(ClassifierSettings(entities=frozenset({"LICENSE_NO"}), custom=(spec,)))
    assert best(c, "lic: L-123456", "LICENSE_NO") >= 0.5
    assert best(c, "policy L-123456", "LICENSE_NO") == pytest.approx(0.2)
    assert best(c, "aws_lic_id L-123456", "LICENSE_NO") >= 0.5  # identifiers split on "_"


def test_context_window_is_bounded(classifier: Classifier) -> None:
    """Context words beyond the window (5 words before, 3 after) do not count; after the value they do."""
    assert best(classifier, "swift one two three four five six DEUTDEFF500", "SWIFT_BIC") < 0.5
    assert best(classifier, "DEUTDEFF500 (our BIC)", "SWIFT_BIC") >= 0.5


def test_tokenizer_cuts_long_runs_at_absolute_offsets() -> None:
    """Long runs are cut at absolute multiples of MAX_TOKEN, whatever the window start."""
    run = "a" * 300
    words, starts = tokenize(run, base=0)
    assert all(len(w) <= MAX_TOKEN for w in words) and "".join(words) == run
    _, starts2 = tokenize(run[10:], base=10)
    assert [s + 10 for s in starts2][1:] == starts[1:]


def _mixed_text(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    words = [
        "the",
        "account",
        "report",
        "quarterly",
        "figures",
        "bank",
        "transfer",
        "customer",
        "invoice",
        "data",
        "policy",
    ]
    while sum(map(len, parts)) < size:
        parts.append(" ".join(rng.choice(words) for _ in range(12)))
        parts.append(fakes.card(rng) if rng.random() < 0.3 else fakes.iban(rng))
        parts.append(
            f"mail {fakes.token(rng, 6).lower()}@example.com tel +41 44 {rng.randrange(100, 999)} 12 34\n"
        )
    return " ".join(parts)


@pytest.mark.parametrize("prefilter", [True, False])
def test_analysis_time_is_linear(prefilter: bool) -> None:
    """Four times the text takes well under sixteen times as long (a ratio, not an absolute speed)."""
    c = Classifier(ClassifierSettings(), prefilter=prefilter)
    rng = random.Random(11)
    small, large = _mixed_text(rng, 25_000), _mixed_text(rng, 100_000)
    c.analyze_text(small)  # warm regex caches

    def timed(text: str) -> float:
        t = time.perf_counter()
        c.analyze_text(text)
        return time.perf_counter() - t

    # best of three each: a loaded machine (CI neighbours) only ever adds time, never removes it
    t_small = min(timed(small) for _ in range(3))
    t_large = min(timed(large) for _ in range(3))
    assert t_large / t_small < 10, (t_small, t_large)


def test_deeply_nested_json_without_whitespace_is_fast() -> None:
    """300 KB of nested JSON without whitespace is analysed in seconds (plain spaCy: minutes)."""
    rng = random.Random(2)
    depth = 4000
    doc = "".join(f'{{"k{i}":[{rng.randrange(10**6)},"v{fakes.token(rng, 8)}",' for i in range(depth))
    doc += '"' + fakes.card(rng) + '"' + "]}" * depth
    doc = (doc * (300_000 // len(doc) + 1))[:300_000]
    assert " " not in doc and "\n" not in doc
    no_phone = Classifier.known_entities() - {"PHONE_NUMBER"}  # phonenumbers is linear but slow on digits
    c = Classifier(ClassifierSettings(entities=no_phone), prefilter=False)
    t = time.perf_counter()
    results = c.analyze_text(doc)
    assert time.perf_counter() - t < 20
    assert any(r.entity_type == "CREDIT_CARD" for r in results)


def test_only_used_entities_are_registered() -> None:
    """Recognizers for entities no policy uses are not built; custom and extra entities are known."""
    c = Classifier(ClassifierSettings(entities=frozenset({"IBAN_CODE"})))
    assert c.entities() == frozenset({"IBAN_CODE"})
    assert detect(c, "card 4111111111111111 mail a@example.com") == []
    assert {
        "CREDIT_CARD",
        "IBAN_CODE",
        "PRIVATE_KEY",
        "CONFIDENTIAL_MARKING",
        "EMAIL_ADDRESS",
    } <= Classifier.known_entities()


def test_custom_specs_with_validators() -> None:
    """YAML-declared recognizers compile with a validator from the fixed set; invalid matches are dropped."""
    specs = (
        RecognizerSpec(
            name="emp", entity="EMPLOYEE_ID", patterns=(("emp", r"\bEMP-\d{10}\b", 0.6),), validator="mod11"
        ),
        RecognizerSpec(
            name="tok",
            entity="INTERNAL_TOKEN",
            patterns=(("t", r"\bitk_[A-Za-z0-9]{16}\b", 0.7),),
            validator="entropy",
            min_entropy=3.5,
        ),
    )
    c = Classifier(ClassifierSettings(entities=frozenset({"EMPLOYEE_ID", "INTERNAL_TOKEN"}), custom=specs))
    assert best(c, "id EMP-0306406152", "EMPLOYEE_ID") == pytest.approx(0.6)
    assert best(c, "id EMP-0306406153", "EMPLOYEE_ID") == 0.0
    assert best(c, "itk_Qw8rT2zLp5Xm9Vb3", "INTERNAL_TOKEN") == pytest.approx(0.7)
    assert best(c, "itk_aaaaaaaaaaaaaaaa", "INTERNAL_TOKEN") == 0.0
    with pytest.raises(ValueError, match="nope"):
        Classifier(
            ClassifierSettings(custom=(RecognizerSpec(name="x", entity="X", patterns=(), validator="nope"),))
        )


class _FakeEdm:
    """A stand-in ChunkDetector (the real EDM detector is another module)."""

    entities = frozenset({"EDM_MATCH"})

    def detect(self, chunk: TextChunk) -> list[Detection]:
        return [
            Detection(
                "EDM_MATCH", chunk.offset, chunk.offset + 1, 1.0, "edm", chunk.path, chunk.member, chunk.line
            )
        ]


def test_extra_detectors_and_min_score() -> None:
    """Extra ChunkDetectors' detections are appended; results below min_score are dropped."""
    c = Classifier(ClassifierSettings(entities=frozenset({"SWIFT_BIC"}), min_score=0.5), extra=[_FakeEdm()])
    found = detect(c, "ref DEUTDEFF500")
    assert [d.entity for d in found] == ["EDM_MATCH"] and "EDM_MATCH" in c.entities()
    only_extra = Classifier(ClassifierSettings(entities=frozenset({"EDM_MATCH"})), extra=[_FakeEdm()])
    assert [d.entity for d in detect(only_extra, "card 4111111111111111")] == ["EDM_MATCH"]


def test_missing_ner_model_is_not_downloaded(caplog: pytest.LogCaptureFixture) -> None:
    """A NER model that is not installed is reported once and the classifier works without NER."""
    c = Classifier(
        ClassifierSettings(entities=frozenset({"PERSON", "IBAN_CODE"}), ner_model="xx_not_installed_sm")
    )
    assert "PERSON" not in c.entities()
    assert detect(c, "Jane Doe") == []


def test_ner_model_from_a_local_pipeline(tmp_path: Path) -> None:
    """A local spaCy pipeline (here: an entity ruler) supplies PERSON spans mapped to our offsets."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns([{"label": "PERSON", "pattern": [{"LOWER": "jane"}, {"LOWER": "doe"}]}])  # type: ignore[attr-defined]
    nlp.to_disk(tmp_path / "ner")
    c = Classifier(ClassifierSettings(entities=frozenset({"PERSON"}), ner_model=str(tmp_path / "ner")))
    text = "Report  by\n\nJane   Doe, analyst"
    (d,) = detect(c, text, "PERSON")
    assert d.value == "Jane   Doe" and text[d.start : d.end] == "Jane   Doe"


def test_detection_never_logs_values(classifier: Classifier, capsys: pytest.CaptureFixture[str]) -> None:
    """Nothing of a matched value reaches the log output."""
    n = fakes.card(random.Random(4))
    detect(classifier, f"card {n}")
    captured = capsys.readouterr()
    assert n not in captured.out + captured.err and json.dumps(n) not in captured.err


def test_long_base64_run_is_linear(classifier: Classifier) -> None:
    """200 KB of base64 on one line is analysed in seconds (Presidio's stock e-mail regex: 60 s timeout)."""
    blob = base64.b64encode(random.Random(8).randbytes(150_000)).decode()
    t = time.perf_counter()
    found = detect(classifier, f"x {blob} mail jane@example.com", "EMAIL_ADDRESS")
    assert time.perf_counter() - t < 20
    assert [d.value for d in found] == ["jane@example.com"]


def test_detections_built_without_init_equal_the_dataclasss() -> None:
    """The engine builds its detections without the frozen dataclass's ``__init__``: the same objects."""
    fields: dict[str, Any] = {
        "entity": "IBAN_CODE",
        "start": 3,
        "end": 25,
        "score": 0.8,
        "recognizer": "IbanRecognizer",
        "path": "/srv/drop/a.txt",
        "member": None,
        "line": 2,
        "part": "body",
        "value": "DE89370400440532013000",
        "context": "IBAN DE89370400440532013000",
        "context_start": 0,
        "attributes": (("role", "customer"),),
    }
    fast, real = engine._new_detection(**fields), Detection(**fields)
    assert type(fast) is Detection
    assert fast == real
    assert hash(fast) == hash(real)
    assert repr(fast) == repr(real)
    assert copy.deepcopy(fast) == real  # as pickle copies it (between workers)
    assert dataclasses.replace(fast, score=1.0) == dataclasses.replace(real, score=1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.__setattr__("score", 1.0)
    partial = {k: v for k, v in fields.items() if k != "attributes"}
    assert engine._new_detection(**partial) == Detection(**partial)  # a default left out: the real __init__


def test_a_dataclass_with_post_init_keeps_its_init() -> None:
    @dataclasses.dataclass(frozen=True)
    class Checked(Detection):
        def __post_init__(self) -> None:
            if self.start > self.end:
                raise ValueError("start after end")

    assert engine._plain_constructor(Checked) is Checked
