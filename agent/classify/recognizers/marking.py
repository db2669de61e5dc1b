"""CONFIDENTIAL_MARKING: a confidentiality label line (title, header, footer, "Classification:" field).

A match counts only when its whole line is a label: at most 8 words, and every word other than the
marking phrase is decoration (``*``, ``-``, ``=``, ``#``, brackets), a field name (Classification,
Klassifizierung, Classificazione, ...) or a companion word ("do not distribute", "internal", "page 2 of
3"); up to two other words (a company name) only on a decorated line (``|``, ``–``, ``*``...) or next
to an upper-case marking, at 0.1 less. The same word in prose ("we keep your data confidential") is
not a label. Case- and accent-insensitive (the line is folded to ASCII before the check).

Attribute ``level``: strict | confidential | restricted | internal. Scores: strict 0.85, confidential
0.75, restricted 0.7, internal 0.3; +0.1 on an explicit classification field. The classifier adds 0.1
for chunks that are a header, footer or metadata part.
"""

from __future__ import annotations

import re
import unicodedata

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, line_bounds

_LEVELS: tuple[tuple[str, str], ...] = (
    # (phrase, level); the regex tries longer phrases first
    ("strictly confidential", "strict"),
    ("highly confidential", "strict"),
    ("streng vertraulich", "strict"),
    ("strictement confidentiel", "strict"),
    ("strettamente riservato", "strict"),
    ("strettamente confidenziale", "strict"),
    ("top secret", "strict"),
    ("streng geheim", "strict"),
    ("subject to banking secrecy", "strict"),
    ("banking secrecy", "strict"),
    ("bank secrecy", "strict"),
    ("bank secret", "strict"),
    ("bankkundengeheimnis", "strict"),
    ("bankgeheimnis", "strict"),
    ("secret bancaire", "strict"),
    ("segreto bancario", "strict"),
    ("secret", "strict"),
    ("geheim", "strict"),
    ("confidential", "confidential"),
    ("vertraulich", "confidential"),
    ("confidentiel", "confidential"),
    ("confidentielle", "confidential"),
    ("riservato", "confidential"),
    ("riservata", "confidential"),
    ("confidenziale", "confidential"),
    ("diffusion restreinte", "restricted"),
    ("restricted", "restricted"),
    ("restreint", "restricted"),
    ("eingeschrankt", "restricted"),
    ("internal use only", "internal"),
    ("for internal use only", "internal"),
    ("nur fur den internen gebrauch", "internal"),
    ("usage interne", "internal"),
    ("uso interno", "internal"),
)
_LEVEL_OF = dict(_LEVELS)
_SCORES = {"strict": 0.85, "confidential": 0.75, "restricted": 0.7, "internal": 0.3}
_FIELD = re.compile(
    r"(?i)^[^a-z]*(?:security\s+|protective\s+)?(?:classification|klassifizierung|klassifikation|"
    r"einstufung|classificazione|classement|sensitivity|marking|label|vertraulichkeit)\s*:"
)
_COMPANIONS = frozenset(
    (  # noqa: SIM905  (a word list reads better as text)
        "classification security klassifizierung klassifikation einstufung classificazione classement "
        "sensitivity marking label protective vertraulichkeit level stufe niveau livello document dokument "
        "documento do not distribute forward copy share print internal intern interne interno only use for "
        "page seite of von de di sur nur fur den internen gebrauch usage uso and und et e bank client "
        "customer kunden data daten information informations informazioni"
    ).split()
) | frozenset(w for phrase, _ in _LEVELS for w in phrase.split())
_WORD = re.compile(r"[a-z0-9]+")
_SEPARATOR = re.compile(r"[|*#=\[\]–—]|\s-\s")


def _fold(text: str) -> str:
    """Lowercase ASCII: strip accents (für -> fur), typographic dashes become '-'."""
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if not unicodedata.combining(c)).lower()


def _phrase_regex() -> str:
    parts = []
    for phrase, _ in sorted(_LEVELS, key=lambda p: -len(p[0])):
        words = [
            re.sub(r"u", "[uü]", re.sub(r"a", "[aä]", w)) if w in ("fur", "eingeschrankt") else w
            for w in phrase.split()
        ]
        parts.append(r"[ \t]+".join(words))
    first = "".join(sorted({p[0] for p, _ in _LEVELS}))
    # the leading look-ahead lets the regex engine skip positions by first character (2x faster)
    return rf"(?i)(?=[{first}])(?<![A-Za-zÀ-ÿ])(?:" + "|".join(parts) + r")(?![A-Za-zÀ-ÿ])"


class ConfidentialMarkingRecognizer(DwPatternRecognizer):
    """Marking phrases that form a label line; prose mentions are dropped."""

    ENTITY = "CONFIDENTIAL_MARKING"
    PATTERNS = (("marking", _phrase_regex(), 0.75),)
    TRIGGER = r"(?i)confiden|vertraulich|restr|secre|geheim|riservat|intern|eingeschr|segreto"
    MAX_LEN = 60

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        bounds = line_bounds(text, match.start(), match.end(), limit=160)
        if bounds is None:
            return None
        ls, le = bounds
        phrase = " ".join(_fold(match.group()).split())
        level = _LEVEL_OF.get(phrase)
        if level is None:
            return None
        rest = _fold(text[ls : match.start()] + " " + text[match.end() : le])
        words = _WORD.findall(rest)
        if len(words) + len(phrase.split()) > 8:
            return None
        unknown = sum(1 for w in words if w not in _COMPANIONS and not w.isdigit())
        if unknown and (unknown > 2 or not (_SEPARATOR.search(text[ls:le]) or match.group().isupper())):
            return (
                None  # other words are allowed only in a decorated footer ("Page 2 | CONFIDENTIAL | Acme AG")
            )
        score = _SCORES[level] - (0.1 if unknown else 0.0)
        if _FIELD.match(_fold(text[ls:le])):
            score += 0.1
        return Assessment(score, attributes=(("level", level),), final=True)
