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
from spacy.lang.en.stop_words import STOP_WORDS
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
    """NlpArtifacts that tokenise lazily: most analysed text has no result needing context words.

    ``tokens`` (a spaCy Doc), ``tokens_indices`` and ``lemmas`` are built on first access (Presidio's
    stock code reads them as attributes). :meth:`local_tokens` tokenises only a span around one
    result: the same tokens as the whole text inside it, away from its cut edges (see tokenizer
    docstring), which is all the linear context enhancer needs. No keyword list (only Presidio's stock
    enhancer reads it).
    """

    def __init__(self, engine: OfflineNlpEngine, text: str, base: int, language: str) -> None:
        self._engine = engine
        self._text = text
        self._base = base
        self._words: list[str] | None = None
        self._starts: list[int] | None = None
        self._lemmas: list[str] | None = None
        self._doc: Doc | None = None
        self._ner: list[Any] | None = None
        # None placeholders for Presidio's __init__: the properties below build the real values lazily
        super().__init__(
            entities=[],
            tokens=None,  # type: ignore[arg-type]
            tokens_indices=None,  # type: ignore[arg-type]
            lemmas=None,  # type: ignore[arg-type]
            nlp_engine=engine,
            language=language,
        )

    @staticmethod
    def set_keywords(nlp_engine: Any, lemmas: list[str], language: str) -> list[str]:
        return []

    # Presidio's __init__ assigns these attributes; the setters accept (and ignore) its placeholders.
    @property
    def tokens(self) -> Doc:
        if self._doc is None:
            words, starts = self._tokenized()
            spaces = [
                (starts[i + 1] if i + 1 < len(starts) else len(self._text)) > starts[i] + len(w)
                for i, w in enumerate(words)
            ]
            self._doc = Doc(self._engine._vocab, words=words, spaces=spaces)
        return self._doc

    @tokens.setter
    def tokens(self, value: Any) -> None:
        if value is not None:
            self._doc = value

    @property
    def tokens_indices(self) -> list[int]:
        return self._tokenized()[1]

    @tokens_indices.setter
    def tokens_indices(self, value: Any) -> None:
        if value is not None:
            self._starts = value

    @property
    def lemmas(self) -> list[str]:
        if self._lemmas is None:
            self._lemmas = [w.lower() for w in self._tokenized()[0]]
        return self._lemmas

    @lemmas.setter
    def lemmas(self, value: Any) -> None:
        if value is not None:
            self._lemmas = value

    @property
    def entities(self) -> list[Any]:
        if self._ner is None:
            self._ner = []
            if self._engine._ner is not None and self._tokenized()[0]:
                self._ner = self._engine._run_ner(self.tokens, self._tokenized()[1])
        return self._ner

    @entities.setter
    def entities(self, value: Any) -> None:
        if value:
            self._ner = value

    def _tokenized(self) -> tuple[list[str], list[int]]:
        if self._words is None or self._starts is None:
            self._words, self._starts = tokenize(self._text, self._base)
        return self._words, self._starts

    def local_tokens(self, lo: int, hi: int) -> tuple[list[int], list[str]]:
        """Token starts (offsets of the analysed text) and lemmas of ``text[lo:hi]``.

        Identical to the whole text's tokens that start at or after ``lo + MAX_TOKEN`` (when ``lo > 0``)
        and end at or before ``hi - MAX_TOKEN`` (when ``hi`` is inside the text).
        """
        lo, hi = max(0, lo), min(len(self._text), hi)
        if self._words is not None and self._starts is not None:  # already tokenised as a whole
            i, j = bisect_left(self._starts, lo), bisect_left(self._starts, hi)
            return self._starts[i:j], self.lemmas[i:j]
        words, starts = tokenize(self._text[lo:hi], self._base + lo)
        return [s + lo for s in starts], [w.lower() for w in words]


class OfflineNlpEngine(NlpEngine):
    """Presidio NlpEngine with a regex tokenizer (linear in the text) and optional local NER."""

    def __init__(self, ner_model: str | None = None) -> None:
        self._blank: Any = None  # spacy.blank("en"), built on first use (~0.4 s): only for spaCy Docs
        self._stop = STOP_WORDS
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
    @property
    def _vocab(self) -> Any:
        """A blank English vocabulary for the rare spaCy ``Doc`` (Presidio recognizers that read tokens)."""
        if self._blank is None:
            self._blank = spacy.blank("en")  # once: each call loads ~2,700 tokenizer special cases
        return self._blank.vocab

    def process_window(self, text: str, base: int, language: str = "en") -> NlpArtifacts:
        """Artifacts for ``text`` that starts at absolute offset ``base`` of the full text (built lazily)."""
        return _Artifacts(self, text, base, language)

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
