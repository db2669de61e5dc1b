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
from dataclasses import dataclass

from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, line_bounds

_LEVELS: tuple[tuple[str, str], ...] = (
    # (phrase, level); the regex tries longer phrases first
    ("strictly confidential", "strict"),
    ("highly confidential", "strict"),
    ("streng vertraulich", "strict"),
    ("strictement confidentiel", "strict"),
    ("strettamente riservato", "strict"),
    ("riservatissimo", "strict"),
    ("tres confidentiel", "strict"),
    ("hautement confidentiel", "strict"),
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
    ("tlp:red", "strict"),
    ("tlp:amber+strict", "confidential"),
    ("tlp:amber", "confidential"),
    ("commercial in confidence", "confidential"),
    ("verschlusssache", "confidential"),
    ("nur fur den dienstgebrauch", "restricted"),
    ("vs-nfd", "restricted"),
    ("geheim", "strict"),
    ("confidential", "confidential"),
    ("vertraulich", "confidential"),
    ("vertrauliches", "confidential"),  # "Vertrauliches Dokument"
    ("vertrauliche", "confidential"),
    ("vertraulicher", "confidential"),
    ("confidentiel", "confidential"),
    ("confidentielle", "confidential"),
    ("riservato", "confidential"),
    ("riservata", "confidential"),
    ("confidenziale", "confidential"),
    ("diffusion restreinte", "restricted"),
    ("restricted", "restricted"),
    ("restreint", "restricted"),
    ("eingeschrankt", "restricted"),
    # Spanish / Dutch
    ("estrictamente confidencial", "strict"),
    ("altamente confidencial", "strict"),
    ("secreto bancario", "strict"),
    ("strikt vertrouwelijk", "strict"),
    ("zeer vertrouwelijk", "strict"),
    ("bankgeheim", "strict"),
    ("confidencial", "confidential"),
    ("vertrouwelijk", "confidential"),
    ("difusion limitada", "restricted"),
    ("beperkt", "restricted"),
    ("internal use only", "internal"),
    ("for internal use only", "internal"),
    ("nur fur den internen gebrauch", "internal"),
    ("usage interne", "internal"),
    ("uso interno", "internal"),
    ("intern gebruik", "internal"),
    ("alleen voor intern gebruik", "internal"),
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
        "customer kunden data daten information informations informazioni private privat personal personlich "
        "personnel personale privato company firma entreprise azienda empresa classified as eingestuft als "
        "classe classifie classificato come clasificado como geclassificeerd als only solo uniquement "
        "seulement nicht weitergeben ne pas diffuser non diffondere no distribuir niet verspreiden per ad a "
        "pour para voor alleen tres "
        # handling instructions and ownership that share a label line ("Confidential draft – not for
        # circulation", "CONFIDENTIAL – PROPERTY OF ...", "Privé et confidentiel")
        "draft entwurf brouillon bozza borrador not circulation circulate disclose reproduce external "
        "externe weitergabe verbreitung diffusion diffondere distribuire prohibida prohibited proibita "
        "vietata interdite untersagt property proprietary proprietaire propriete proprieta propiedad "
        "eigentum prive privee riservato personale al ai recipients recipient empfanger destinataire "
        "destinatario addressee"
    ).split()
) | frozenset(w for phrase, _ in _LEVELS for w in phrase.split())
_WORD = re.compile(r"[a-z0-9]+")
_PAGE = re.compile(r"(?<![a-z])(?:page|seite|pagina|pag|p)\.?\s*\d+(?:\s*(?:of|von|de|di|van|sur|/)\s*\d+)?")
_SEPARATOR = re.compile(r"[|*=\[\]–—·•]|\s-\s")  # not "#": "# Secret Santa" is a heading, not a footer
#: Single words that are also ordinary words: a label only alone on its line or in a label field.
_AMBIGUOUS = frozenset({"secret", "geheim", "beperkt"})
#: Names of the concept ("Banking secrecy: what changed in 2025" is an article title): they do not open
#: or close a title line; alone, decorated or as a field value they are labels.
_TOPICS = frozenset(
    {
        "banking secrecy",
        "bank secrecy",
        "bank secret",
        "bankgeheimnis",
        "bankkundengeheimnis",
        "secret bancaire",
        "segreto bancario",
        "secreto bancario",
        "bankgeheim",
    }
)


def _words(text: str) -> frozenset[str]:
    """A word list written as text (reads better than a list of quoted words)."""
    return frozenset(text.split())


def _fold(text: str) -> str:
    """Lowercase ASCII: strip accents (für -> fur), typographic dashes become '-'."""
    if text.isascii():  # the common case, 20x faster
        return text.lower()
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if not unicodedata.combining(c)).lower()


_ACCENTS = {"a": "[aàáâä]", "e": "[eèéêë]", "i": "[iìíîï]", "o": "[oòóôö]", "u": "[uùúûü]", "c": "[cç]"}


def _phrase_regex() -> str:
    parts = []
    for phrase, _ in sorted(_LEVELS, key=lambda p: -len(p[0])):
        # every vowel may carry an accent (für, difusión, très): the folded phrase is looked up later
        words = ["".join(_ACCENTS.get(ch, ch) for ch in w) for w in phrase.split()]
        parts.append(r"[ \t]+".join(words))
    first = "".join(sorted({p[0] for p, _ in _LEVELS}))
    # the leading look-ahead lets the regex engine skip positions by first character (2x faster);
    # a name joined by "_" (JWT_SECRET, secret_key) is not a label; markdown's _CONFIDENTIAL_ is
    return (
        rf"(?i)(?=[{first}])(?<![A-Za-zÀ-ÿ0-9])(?<![A-Za-z0-9]_)(?:"
        + "|".join(parts)
        + r")(?![A-Za-zÀ-ÿ0-9])(?!_[A-Za-z0-9])"
    )


#: A label field right before the marking: ``Classification: ``, ``"footer": "``, ``title = '``,
#: ``<classification>``, ``Betreff: [`` (folded text). The key may be part of a longer name
#: (security_classification, page-footer, dc:title).
_LABEL_KEYS = (
    r"title|titel|titre|titolo|titulo|heading|header|footer|kopfzeile|fusszeile|banner|subject|betreff|"
    r"objet|oggetto|asunto|onderwerp|classification|classified|klassifizierung|klassifikation|einstufung|"
    r"classificazione|classement|clasificacion|classificatie|sensitivity|marking|label|vertraulichkeit\w*|"
    r"confidentiality|confidentialite|riservatezza|confidencialidad|vertrouwelijkheid|schutzstufe|schutzklasse"
)
_KEY = re.compile(
    r"(?:(?:^|[\s{,;\"'(])[\w.:-]*(?:" + _LABEL_KEYS + r")[\w.-]*[\"']?\s*(?:=>|[:=])|"
    r"<[\w:.-]*(?:" + _LABEL_KEYS + r")[\w:.-]*(?:\s[^<>]{0,80})?>|"
    # a name/value attribute pair: <meta name="classification" content="...">, <property key=... value=...>
    r"(?:name|property|key|id|itemprop)\s*=\s*[\"']?[\w.:-]*(?:" + _LABEL_KEYS + r")[\w.:-]*[\"']?"
    r"\s+(?:content|value)\s*=|"
    # a spreadsheet row whose first cell is the field name: "Schutzklasse<TAB>vertraulich"
    r"(?:^|\n)[ \t]*[\w.-]*(?:" + _LABEL_KEYS + r")[\w.-]*[ ]*\t)"
)
#: What may follow a marking at the end of a label field's value.
_VALUE_END = re.compile(r"[ \t]*(?:$|[\"'<,;|/\\)\]}*#=·•]|[-–—:(.][ \t]|[.!]?[ \t]*$)")
#: A marking that opens a title ("CONFIDENTIAL – Board memo") or closes one ("Board memo | Confidential").
#: Not "/" (a list of levels: "Public / Internal / Confidential"); "|" only when it is the line's only one
#: (several make a table row): the *_1 variants.
_SEP_AFTER = re.compile(r"^[ \t*\])]*(?:[–—·•:]|-[ \t])")
_SEP_BEFORE = re.compile(r"(?:[–—·•:]|[ \t]-)[ \t*\[(]*$")
_SEP_AFTER_1 = re.compile(r"^[ \t*\])]*(?:[–—·•:|]|-[ \t])")
_SEP_BEFORE_1 = re.compile(r"(?:[–—·•:|]|[ \t]-)[ \t*\[(]*$")
#: "Confidential Information" / "Información confidencial" as a clause heading is a contract's defined
#: term, not a label (nouns folded to ASCII; section words may number the heading).
_NOUNS = _words(
    "information informations informationen info data daten informacion informazioni informazione informatie "
    "gegevens donnees dati datos unterlagen"
)
_SECTION_WORDS = _words(
    "section article clause art artikel clausula articulo paragraph ziffer punto capitolo chapitre hoofdstuk "
    "chapter schedule annex anhang annexe allegato anexo bijlage"
)


#: A negated or cleared level is the opposite of a marking: "Non restreint", "NOT CONFIDENTIAL",
#: "Classification: nicht vertraulich", "no confidencial", "niet vertrouwelijk", "non riservato",
#: "Non-confidential" (folded text right before the phrase) ...
_NEGATION_BEFORE = re.compile(
    r"(?<![a-z0-9])(?:not|non|nicht|kein|keine|no|niet|geen|nessun|nessuna|nao|ni|sin|ohne|without|sans)"
    r"[ \t]*-?[ \t]*$"
)
#: ... or a field whose value says no: "Confidential: no", "Vertraulich: nein", confidential="false",
#: <confidential>false</confidential> (folded text right after the phrase).
_NEGATION_AFTER = re.compile(
    r"^[\"']?[ \t]*(?:[:=>]|=>)[ \t]*[\"']?[ \t]*(?:no|nein|non|nee|false|falsch|faux|falso|none|0|n)"
    r"[ \t\"',;]*(?:<|$)"  # the whole value: "Confidential: Non-disclosure terms" stays a label
)


@dataclass(frozen=True)
class _Label:
    """A marking phrase and the line around it (or the markup segment holding it), folded for the checks."""

    phrase: str  # folded, single-spaced
    level: str
    upper: bool  # written in capitals
    lower_first: bool  # starts with a lowercase letter
    line_start: int  # of the text line
    start: int  # of the segment: the line, or the text between a tag's ">" and the next "<"
    end: int
    before: str  # the segment before the phrase (its last 160 characters)
    after: str  # the segment after the phrase
    key_text: str  # where a field key may stand: ``before``, or the line when the enclosing tag is the key


def _segment(text: str, match: re.Match[str], ls: int, le: int) -> tuple[int, int]:
    """Markup: the text between a tag's ">" and the next "<" is a line of its own (<p>CONFIDENTIAL</p>)."""
    gt = text.rfind(">", ls, match.start())
    if gt >= 0 and "<" not in text[gt : match.start()]:
        lt = text.find("<", match.end(), le)
        if lt >= 0:
            return gt + 1, lt
    return ls, le


def _label(text: str, match: re.Match[str]) -> _Label | None:
    """The label around a phrase match, or None (a line too long to be a label, an unknown phrase)."""
    bounds = line_bounds(text, match.start(), match.end(), limit=160)
    if bounds is None:
        return None
    phrase = " ".join(_fold(match.group()).split())
    level = _LEVEL_OF.get(phrase)
    if level is None:
        return None
    ls, le = _segment(text, match, *bounds)
    before = _fold(text[ls : match.start()])[-160:]
    key_text = before if ls == bounds[0] else _fold(text[bounds[0] : match.start()])[-160:]
    return _Label(
        phrase=phrase,
        level=level,
        upper=match.group().isupper(),
        lower_first=match.group()[0].islower(),
        line_start=bounds[0],
        start=ls,
        end=le,
        before=before,
        after=_fold(text[match.end() : le]),
        key_text=key_text,
    )


def _denied(label: _Label) -> bool:
    """ "Non restreint", "not confidential", "Confidential: no": the level is negated or cleared."""
    return bool(_NEGATION_BEFORE.search(label.before) or _NEGATION_AFTER.match(label.after))


def _decoration(folded: str) -> bool:
    """Only companion words, numbers and punctuation (no content words)."""
    return all(w in _COMPANIONS or w.isdigit() for w in _WORD.findall(folded))


def _field_value(label: _Label) -> bool:
    """The value of a label field: "Classification: Restricted - meeting notes", "footer": "..."."""
    fk = label.key_text
    if not (":" in fk or "=" in fk or ">" in fk or "\t" in fk):
        return False
    keys = list(_KEY.finditer(fk))
    return bool(keys and _VALUE_END.match(label.after) and _decoration(fk[keys[-1].end() :]))


def _wrapped_sentence(text: str, label: _Label) -> bool:
    """A sentence wrapped onto its own line (PDF text): "... to be\\nconfidential."."""
    if not (label.lower_first and label.start == label.line_start and label.start > 0):
        return False
    prev = text[max(0, label.start - 40) : label.start - 1].rstrip(" \t\r")
    return bool(prev and (prev[-1] in ",;" or prev[-1].islower()))


def _defined_term(before: list[str], after: list[str], upper: bool) -> bool:
    """A defined-term heading: the marking next to "information"/"Daten"/..., otherwise only numbering."""
    noun = (after[:1] and after[0] in _NOUNS) or (before[-1:] and before[-1] in _NOUNS)
    if not noun:
        return False
    rest = [w for w in before + after if w not in _NOUNS]
    numbered = any(w.isdigit() or w in _SECTION_WORDS for w in rest)
    return all(w.isdigit() or w in _SECTION_WORDS for w in rest) and (numbered or not upper)


def _title_marking(text: str, label: _Label) -> bool:
    """A marking opening or closing a title line: "CONFIDENTIAL – Board memo: Project Heron"."""
    if label.phrase in _AMBIGUOUS or label.phrase in _TOPICS:
        return False
    # one "|" separates like a dash ("Board memo | Confidential"); several make a table row
    one_pipe = text.count("|", label.start, label.end) == 1
    sep_after, sep_before = (_SEP_AFTER_1, _SEP_BEFORE_1) if one_pipe else (_SEP_AFTER, _SEP_BEFORE)
    fb, fa = label.before, label.after
    return bool((_decoration(fb) and sep_after.match(fa)) or (_decoration(fa) and sep_before.search(fb)))


def _short_line_score(text: str, label: _Label, words: list[str]) -> float | None:
    """A short line of the phrase and companion words; other words only in a decorated footer."""
    unknown = sum(1 for w in words if w not in _COMPANIONS and not w.isdigit())
    if unknown and label.phrase in _AMBIGUOUS:
        return None
    line = text[label.start : label.end]
    if unknown and (unknown > 2 or not (_SEPARATOR.search(line) or label.upper)):
        return None  # other words are allowed only in a decorated footer ("Page 2 | CONFIDENTIAL | Acme AG")
    score = _SCORES[label.level] - (0.1 if unknown else 0.0)
    if _FIELD.match(_fold(line)):
        score += 0.1
    return score


def _label_score(text: str, label: _Label) -> float | None:
    """The score of a marking that forms a label line, or None for a prose mention."""
    if _field_value(label):
        return _SCORES[label.level] + 0.1
    if _wrapped_sentence(text, label):
        return None
    # a page number ("Page 3 of 7") is layout, not a word of the line
    wb, wa = _WORD.findall(_PAGE.sub(" ", label.before)), _WORD.findall(_PAGE.sub(" ", label.after))
    if _defined_term(wb, wa, label.upper):
        return None  # "1. Confidential Information", "Cláusula 2 – Información confidencial"
    n = len(wb) + len(wa) + len(label.phrase.split())
    if n <= 12 and _title_marking(text, label):
        return _SCORES[label.level]
    if n > 8:
        return None
    return _short_line_score(text, label, wb + wa)


class ConfidentialMarkingRecognizer(DwPatternRecognizer):
    """Marking phrases that form a label line; prose mentions are dropped."""

    ENTITY = "CONFIDENTIAL_MARKING"
    PATTERNS = (("marking", _phrase_regex(), 0.75),)
    TRIGGER = (
        r"(?i)confiden|vertraulich|restr|secre|geheim|riservat|intern|eingeschr|segreto|vertrouw|beperkt|"
        r"difus|tlp:|verschlusssache|dienstgebrauch|vs-nfd"
    )
    MAX_LEN = 60

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        label = _label(text, match)
        if label is None or _denied(label):
            return None
        score = _label_score(text, label)
        if score is None:
            return None
        return Assessment(score, attributes=(("level", label.level),), final=True)
