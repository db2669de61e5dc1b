"""PERSON / LOCATION from an optional local spaCy NER model, run on our tokens.

``ner_model`` may name an *installed* spaCy package (e.g. ``en_core_web_sm``, installed with
``pip install`` from a wheel) or a pipeline directory. It is loaded with ``spacy.load`` and run on a
``Doc`` of our words (:class:`~agent.classify.tokenizer.Tokens`), so spaCy never tokenises anything
(its tokenizer is quadratic on long runs). If it is not installed we log ``ner_model_unavailable``
and carry on without NER. Nothing is ever downloaded. spaCy is imported only here, and only when a
model is configured: importing it costs more than half a second.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog

from agent.classify.results import RECOGNIZER_IDENTIFIER_KEY, RECOGNIZER_NAME_KEY, Result
from agent.classify.tokenizer import Tokens

log = structlog.get_logger(__name__)

#: spaCy NER labels we pass on, mapped to our entity names.
NER_LABELS = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION"}
NER_ENTITIES = frozenset(NER_LABELS.values())
#: Presidio's score for its spaCy entities.
NER_SCORE = 0.85


def load_ner(name: str) -> Any:
    """Load an installed spaCy package or a pipeline directory; never download. None if unavailable."""
    import spacy

    if not (spacy.util.is_package(name) or Path(name).is_dir()):
        log.warning("ner_model_unavailable", model=name, reason="not installed")
        return None
    try:
        nlp = spacy.load(name, exclude=["lemmatizer", "parser", "tagger", "attribute_ruler", "senter"])
    except (OSError, ValueError) as exc:
        log.warning("ner_model_unavailable", model=name, reason=type(exc).__name__)
        return None
    log.info("ner_model_loaded", model=name)
    return nlp


class NerRecognizer:
    """Runs a loaded spaCy pipeline over the text's tokens; its PERSON/LOCATION spans become results."""

    name = "NerRecognizer"

    def __init__(self, nlp: Any, entities: Sequence[str]) -> None:
        self._nlp = nlp
        self.supported_entities = list(entities)
        self.context: list[str] = []
        self.id = f"{self.name}_{id(self)}"

    def analyze(self, text: str, entities: Sequence[str], tokens: object = None) -> list[Result]:
        from spacy.tokens import Doc

        toks = tokens if isinstance(tokens, Tokens) else Tokens(text)
        if not toks.words:
            return []
        doc = self._nlp(Doc(self._nlp.vocab, words=toks.words, spaces=toks.spaces))
        meta = {RECOGNIZER_NAME_KEY: self.name, RECOGNIZER_IDENTIFIER_KEY: self.id}
        out = []
        for ent in doc.ents:
            label = NER_LABELS.get(ent.label_)
            if label and label in entities and label in self.supported_entities:
                end = toks.starts[ent.end - 1] + len(toks.words[ent.end - 1])
                out.append(Result(label, toks.starts[ent.start], end, NER_SCORE, dict(meta)))
        return out
