"""A linear, offline NLP engine for Presidio.

Why not spaCy's tokenizer: it is quadratic on long runs without whitespace (a few hundred KB of nested
JSON took plain Presidio ~30 minutes), and Presidio's default engine tries to download a model. Our
recognizers are patterns; the NLP layer only has to supply tokens for context words. So:

* tokens are runs of letters/digits and runs of other non-space characters (``_`` included, so
  ``aws_secret_access_key`` is four words), found by one regex pass;
* runs longer than :data:`MAX_TOKEN` are cut into pieces at absolute offsets that are multiples of
  :data:`MAX_TOKEN` (``base`` + local position), so a window of the text tokenises exactly like the same
  span of the whole text (the prefilter relies on that);
* lemmas are the lowercased tokens (a blank pipeline has no lemmatizer; context words then match);
* a ``spacy.tokens.Doc`` is built from these words over ``spacy.blank("en").vocab`` — spaCy never
  tokenises anything itself.

NER (PERSON, LOCATION) is optional: ``ner_model`` may name an *installed* spaCy package (e.g.
``en_core_web_sm``, installed with ``pip install`` from a wheel) or a pipeline directory. It is loaded
with ``spacy.load`` and run on our Doc (so still no spaCy tokenisation); if it is not installed we log
``ner_model_unavailable`` once and carry on without NER. Nothing is ever downloaded.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import spacy
import structlog
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine
from spacy.tokens import Doc

log = structlog.get_logger(__name__)

MAX_TOKEN = 64
_TOKEN = re.compile(r"[^\W_]+|(?:[^\w\s]|_)+")
_PUNCT = re.compile(r"^[^\w]+$")
#: spaCy NER labels we pass on, mapped to Presidio entity names.
NER_LABELS = {"PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION"}


@dataclass(frozen=True)
class NerSpan:
    """An entity found by the optional NER model, in offsets of the analysed text."""

    label: str
    start: int
    end: int


def tokenize(text: str, base: int = 0) -> tuple[list[str], list[int]]:
    """Split ``text`` into tokens and their start offsets (local), cutting long runs at absolute offsets."""
    words: list[str] = []
    starts: list[int] = []
    for m in _TOKEN.finditer(text):
        s, e = m.span()
        if e - s <= MAX_TOKEN:
            words.append(m.group())
            starts.append(s)
            continue
        cut = s
        while cut < e:
            nxt = min(e, (base + cut) // MAX_TOKEN * MAX_TOKEN + MAX_TOKEN - base)
            words.append(text[cut:nxt])
            starts.append(cut)
            cut = nxt
    return words, starts


class _Artifacts(NlpArtifacts):
    """NlpArtifacts without the stop-word-filtered keyword list (only Presidio's stock enhancer reads it)."""

    def set_keywords(self, nlp_engine: Any, lemmas: list[str], language: str) -> list[str]:
        return []


class OfflineNlpEngine(NlpEngine):
    """Presidio NlpEngine with a regex tokenizer (linear in the text) and optional local NER."""

    def __init__(self, ner_model: str | None = None) -> None:
        self._vocab = spacy.blank("en").vocab
        self._stop = spacy.blank("en").Defaults.stop_words
        self._ner_name = ner_model
        self._ner: Any = None
        self._loaded = False

    # -- NlpEngine interface -------------------------------------------------------------------
    def load(self) -> None:
        if self._ner_name and self._ner is None:
            self._ner = _load_ner(self._ner_name)
        self._loaded = True

    def is_loaded(self) -> bool:
        return self._loaded

    @property
    def has_ner(self) -> bool:
        return self._ner is not None

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        return self.process_window(text, 0, language)

    def process_batch(self, texts: Any, language: str, batch_size: int = 1, n_process: int = 1, **kw: Any):
        for text in texts:
            yield text, self.process_text(text, language)

    def is_stopword(self, word: str, language: str) -> bool:
        return word.lower() in self._stop

    def is_punct(self, word: str, language: str) -> bool:
        return bool(_PUNCT.match(word))

    def get_supported_entities(self) -> list[str]:
        return ["PERSON", "LOCATION"] if self._ner is not None else []

    def get_supported_languages(self) -> list[str]:
        return ["en"]

    # -- ours ----------------------------------------------------------------------------------
    def process_window(self, text: str, base: int, language: str = "en") -> NlpArtifacts:
        """Artifacts for ``text`` that starts at absolute offset ``base`` of the full text."""
        words, starts = tokenize(text, base)
        spaces = [
            (starts[i + 1] if i + 1 < len(starts) else len(text)) > starts[i] + len(w)
            for i, w in enumerate(words)
        ]
        doc = Doc(self._vocab, words=words, spaces=spaces)
        entities: list[Any] = []
        if self._ner is not None and words:
            entities = self._run_ner(doc, starts)
        return _Artifacts(
            entities=entities,
            tokens=doc,
            tokens_indices=starts,
            lemmas=[w.lower() for w in words],
            nlp_engine=self,
            language=language,
        )

    def _run_ner(self, doc: Doc, starts: list[int]) -> list[NerSpan]:
        ner_doc = self._ner(
            Doc(self._ner.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])
        )
        spans = []
        for ent in ner_doc.ents:
            label = NER_LABELS.get(ent.label_)
            if label:
                last = ner_doc[ent.end - 1]
                spans.append(NerSpan(label, starts[ent.start], starts[ent.end - 1] + len(last.text)))
        return spans


def _load_ner(name: str) -> Any:
    """Load an installed spaCy package or a pipeline directory; never download."""
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


def token_index(starts: list[int], pos: int) -> int:
    """Index of the last token starting at or before ``pos`` (0 if none)."""
    return max(0, bisect_left(starts, pos + 1) - 1)
