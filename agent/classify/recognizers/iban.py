"""IBAN_CODE: mod-97-valid IBANs with the registry length of their country, plain or grouped by four.

Attribute ``role`` says whose account the layout around the IBAN suggests (looked up within 300
characters, the prefilter's margin), so the bank-secrecy pack need not rely on word lists alone:

- ``example``: documentation ("e.g.", "example", "Beispiel", ... on the IBAN's line or the one before);
- ``own``: the writer's own account ("our bank", "unser Konto", "IBAN aziendale", donation accounts);
- ``payment``: a payment instruction (pay/remit/wire/überweisen/virement/bonifico/betalen... close
  before the IBAN);
- ``company``: a legal form (GmbH, Ltd, S.r.l., B.V., ...) on the IBAN's line or the one before;
- ``customer``: the reader's own account in a letter ("debit from your account", "il Suo conto"), a
  data-subject role before a name ("Kundin Anke Böhm"), or a record about a person: a bare IBAN cell
  in a table row of three or more cells, an
  MT940 ``:25:`` account line, a person-name field (``Policyholder: Jane Roe``, ``[10:03] Jane Roe :``)
  or a person key (``"lastName":``, ``dob``, ``Vorname``) nearby, in a text without invoice words;
- ``unknown``: none of these.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from agent.classify.re2raw import ascii_holds, first_at
from agent.classify.recognizers.base import Assessment, DwPatternRecognizer
from agent.classify.results import Result
from agent.classify.spread import OCR_LOOKALIKES, SPREAD_GAP, digit_share, ocr_digits, take, to_digits
from agent.classify.validators import IBAN_LENGTHS, iban_valid

#: What ``re``'s ``\s`` matches in ASCII text; RE2's ``\s`` lacks \v and \x1c-\x1f.
_ASCII_SPACE = r"[\t\n\x0b\x0c\r\x1c-\x1f ]"


def _ascii_reading(pattern: str) -> Callable[[str], bool]:
    """Whether an ASCII text holds a match of RE2's reading of a pattern without look-arounds: it finds
    one exactly when ``re`` does (whether one exists does not depend on the engine), ``\\s`` spelt out.
    Searched without google-re2's wrapper (agent.classify.re2raw): the texts are short, and the
    wrapper cost more than the search."""
    return ascii_holds(pattern.replace(r"\s", _ASCII_SPACE))


class _Words:
    r"""Whether a text holds a match of ``body`` (a list of words) that no ``before``/``after`` character
    touches: what ``re.compile(f"(?i)(?<!{before}){body}(?!{after})").search`` says.

    The role of an IBAN asks this of a few hundred characters around it for six lists of fifty words;
    ``re`` tries each word at every position (most of the cost of an IBAN on business text), RE2 reads
    the text once. RE2 has no look-around: it reads the neighbour characters instead (``before`` and
    ``after`` as pairs: the ``re`` look-around class, the RE2 class of what may be there instead), and
    the text's edge. Its ``\s`` and Unicode classes differ from ``re``'s, so it reads ASCII text only
    (``\s`` spelt out); other text goes to ``re``. tests/unit/classify/test_iban_roles.py compares both.
    """

    def __init__(
        self,
        body: str,
        before: tuple[str, str] = (r"\w", r"\W"),
        after: tuple[str, str] | None = (r"\w", r"\W"),
        ignore_case: bool = True,
    ) -> None:
        flags = "(?i)" if ignore_case else ""
        tail = f"(?!{after[0]})" if after else ""
        self.pattern = f"{flags}(?<!{before[0]}){body}{tail}"
        self.rx = re.compile(self.pattern)
        ascii_tail = f"(?:$|{after[1]})" if after else ""
        self.ascii = _ascii_reading(f"{flags}(?:^|{before[1]}){body}{ascii_tail}")

    def found(self, text: str) -> bool:
        """Whether ``text`` holds such a match."""
        if text.isascii():
            return self.ascii(text)
        return self.rx.search(text) is not None


_BEFORE, _AFTER = 300, 200
_EXAMPLE = _Words(
    r"(?:e\.\s?g\.|z\.\s?b\.|p\.\s?ex\.|example|beispiel|exemple|esempio|ejemplo|voorbeeld|sample|"
    r"dummy|fictitious|fiktiv)",
    before=(r"[\w.@/-]", r"[^\w.@/-]"),
    after=(r"[\w@/-]|\.\w", r"[^\w@/.-]|\.(?:$|\W)"),
)
_OWN = _Words(
    r"(?:(?:our|unser[emnrs]?|notre|nos|nostr[oaie]|nuestr[oa]s?|onze|ons)\s+(?:\w+\s+){0,2}?"
    r"(?:bank|account|konto|bankverbindung|iban|compte|coordonn\w*|rib|conto|coordinate|cuenta|datos|"
    r"rekening|bankgegevens|details)|iban\s+aziendale|conto\s+aziendale|firmenkonto|geschaftskonto|"
    r"compte\s+professionnel|cuenta\s+de\s+empresa|bedrijfsrekening|spendenkonto|spenden?|donations?|"
    r"vos\s+dons|donazion[ei]|donativos?|giften?|gift\s+aid)"
)
_PAYMENT = _Words(
    r"(?:pay(?:able)?\s+(?:to|into|by|within|before)|please\s+(?:pay|remit|transfer|wire)|"
    r"remit(?:tance)?|wire\s+(?:the|to|transfer|funds|instructions)|kindly\s+(?:pay|wire|transfer|remit)|"
    r"settle\s+(?:the|this|your|by)|amount\s+due|payment\s+(?:details|instructions|terms|to|by|due|"
    r"reference)|uberweis\w*|zahlbar|zahlungs\w+|bitte\s+(?:zahlen|begleichen)|begleich\w*|gutschrift\s+auf|"
    r"veuillez\s+(?:regler|virer|verser|payer)|a\s+verser|a\s+regler|a\s+payer|virement|reglement|"
    r"paiement|payable|bonific\w*|pagament\w*|versare|versamento|da\s+pagare|saldare|transferencia|pago|"
    r"pagar|pagadero|ingres(?:o|ar)|abonar|betal\w*|overmak\w*|over\s+te\s+maken|storten|t\.\s?n\.\s?v\.|"
    r"voldaan|voldoen|(?:zu|an)\s+zahlen|entricht\w*|acquitt\w*|corrispost\w*|corrispondere)"
)
_INVOICE = _Words(
    r"(?:invoice|rechnung|facture|fattura|factura|factuur|pro-?forma|quittung|receipt|"
    r"bill\s+to|nota\s+de\s+cargo)"
)
_LEGAL = _Words(
    r"(?:GmbH|AG|SA|S\.A\.|SARL|SAS|S\.r\.l\.|Srl|S\.p\.A\.|SpA|S\.L\.|B\.V\.|BV|N\.V\.|NV|Ltd\.?|"
    r"Limited|plc|PLC|Inc\.?|LLC|KG|e\.V\.|GbR|OHG|Sagl|S[àa]rl|Oy|AB|ApS|A/S)",
    ignore_case=False,
)
_CAP = r"[A-ZÀ-ÖØ-Þ][a-zà-öø-ÿß'’-]{1,20}"
_PARTICLE = r"(?:de|van|der|den|von|di|da|del|della|la|le|du|y|ten|zu)"
_NAME = _CAP + r"(?:[ \t]+(?:" + _PARTICLE + r"[ \t]+){0,2}" + _CAP + r"){1,2}"
_TITLE = r"(?:Mr|Mrs|Ms|Dr|Herr|Frau|Mme|M\.|Mlle|Sig\.(?:ra)?|Sr\.|Sra\.|Dhr\.|Mevr\.|Don|Doña)"
#: A field whose whole value is a person's name ("Policyholder: Jane Roe", "Prepared for: Mr Jane Roe",
#: "[10:03] Jane Roe : ..."), or a name after a title anywhere.
_NAME_FIELD = re.compile(
    r"(?m)(?:[\w.)-][ \t]*:[ \t]+(?:(?:[\w]+[ \t]+){0,3}" + _TITLE + r"\.?[ \t]+)?(?P<a>" + _NAME + r")[ \t]*"
    r"(?:$|[<(,]|\s-\s)|^[ \t]*(?:\[[^\]\n]{1,20}\][ \t]*)?(?P<b>"
    + _NAME
    + r")[ \t]*:|"
    + _TITLE
    + r"\.?[ \t]+(?P<c>"
    + _NAME
    + r"))"
)
_TITLE_TAIL = re.compile(_TITLE + r"\.?[ \t]*$")
_NOT_NAME = frozenset(
    (  # noqa: SIM905  (capitalised words that open headings and addresses, not names)
        "Les Le La Der Die Das The Il El De Het Dear Sehr Total Bank Banque Banca Banco Sparkasse Credit "
        "Crédit Deutsche Post Street Strasse Straße Rue Via Calle Avenue Account Konto Compte Conto Cuenta "
        "Rekening Iban Status New Neue Nouveau Nuovo Page Seite Pagina Date Datum Hauptsitz Head Office"
    ).split()
)
_PERSON_KEY = _Words(
    r"[\"']?(?:first_?name|last_?name|full_?name|given_?name|surname|vorname|nachname|prenom|"
    r"cognome|apellidos?|voornaam|achternaam|dob|date_?of_?birth|birth_?date|geburtsdatum)[\"']?[ \t]*[:=]",
    before=("[a-z]", "[^A-Za-z]"),
    after=None,
)
_CELL_SEP = re.compile(r"[\t;|]")
#: The reader's account ("your account", "Ihr Konto", "votre compte", "il Suo conto", "su cuenta", "uw
#: rekening") right before the IBAN: a letter to a customer about the customer's own account. The
#: writer's account is "our"; a payment instruction names no possessor.
_ADDRESSEE = re.compile(
    r"(?i)(?<!\w)(?:your[ \t]+(?:[a-z]+[ \t]+)?(?:bank[ \t]+)?(?:account|iban)|"
    r"(?:ihr|dein)(?:e[mnrs]?)?[ \t]+(?:[a-z]+[ \t]+)?(?:konto|bankverbindung|iban)|"
    r"(?:votre|vos|ton)[ \t]+(?:[a-z]+[ \t]+)?(?:compte|iban|rib)|"
    r"(?:suo|sua|tuo|tua)[ \t]+(?:[a-z]+[ \t]+)?(?:conto|iban)|"
    r"(?:su|sus|tu)[ \t]+(?:[a-z]+[ \t]+)?(?:cuenta|iban)|"
    r"(?:uw|je)[ \t]+(?:[a-z]+[ \t]+)?(?:rekening|iban))"
    r"(?:[ \t]+(?:no\.?|number|nummer|numero|n\.?|nr\.?))?[ \t:]*(?:iban[ \t:]*)?$"
)
#: A letter to a named person ("Sehr geehrte Frau Anke Böhm", "Dear Oliver Grant"): money sent to the
#: reader's account then goes to a person (a refund), not to a supplier ("Sehr geehrte Damen und Herren").
_PERSONAL_GREETING = re.compile(
    r"(?i:dear|sehr[ \t]+geehrte[r]?|liebe[r]?|cher|chere|chère|madame|monsieur|gentile|egregi[oa]|"
    r"estimad[oa](?:/a)?|querid[oa]|beste|geachte)[ \t]+(?:" + _TITLE + r"\.?[ \t]+)?" + _NAME
)
#: A data-subject role followed by a name ("Kundin Anke Böhm meldet ...", "debtor Mr Oliver Grant").
_ROLE_NAME = re.compile(
    r"(?<!\w)(?i:kund(?:e|in|en)|customer|client(?:e|a)?|klant|debtor|debitore|deudor|schuldner(?:in)?|"
    r"debiteur|titulaire|titolare|titular|kontoinhaber(?:in)?|account\s+holder|holder|erbe|erbin|"
    r"heritier|heritiere|employee|mitarbeiter(?:in)?|medewerker|patient(?:in)?)[ \t]+(?:"
    + _TITLE
    + r"\.?[ \t]+)?(?P<n>"
    + _NAME
    + ")"
)
#: Capitalised words after a role noun that name a department, not a person ("Client Services Team").
_NOT_PERSON = frozenset(
    (  # noqa: SIM905
        "Services Service Team Support Relations Portal Center Centre Desk Care Success Experience Data "
        "Onboarding Management Manager Office Number Reference Account Accounts Code Id Segment Portfolio"
    ).split()
)


#: Where ``_ROLE_NAME`` can first match in ASCII text (-1: nowhere): RE2 reads it without its
#: look-behind, so every match of the whole starts at or after that position. Whether
#: ``_NAME_FIELD`` matches: most IBANs' text has no name field, and RE2 says so in one pass where
#: ``re`` tries every alternative at every position.
_ROLE_NAME_AT = first_at(_ROLE_NAME.pattern.removeprefix(r"(?<!\w)").replace(r"\s", _ASCII_SPACE))
_NAME_FIELD_ASCII = _ascii_reading(_NAME_FIELD.pattern)


def _role_name(block: str) -> bool:
    """A data-subject role noun followed by a person's name ("Kundin Anke Böhm")."""
    start = 0
    if block.isascii():  # re reads from RE2's first hit on: no match of re starts before it
        start = _ROLE_NAME_AT(block.encode("ascii"), 0)
        if start < 0:
            return False
    for m in _ROLE_NAME.finditer(block, start):
        words = m.group("n").split()
        if not any(w in _NOT_NAME or w in _NOT_PERSON for w in words):
            return True
    return False


def _fold(text: str) -> str:
    if text.isascii():
        return text
    norm = unicodedata.normalize("NFKD", text)
    return "".join(c for c in norm if not unicodedata.combining(c))


def _lines_around(text: str, start: int, end: int) -> tuple[str, str, str, str]:
    """(lines before, the line before, the IBAN's line, the line after), all within the margin."""
    lo = max(0, start - _BEFORE)
    hi = min(len(text), end + _AFTER)
    ls = text.rfind("\n", lo, start) + 1 or lo
    le = text.find("\n", end, hi)
    le = hi if le < 0 else le
    before = text[lo:ls]
    prev = before.rstrip("\r\n").rsplit("\n", 1)[-1]
    nxt_end = text.find("\n", le + 1, hi)
    after = text[le + 1 : hi if nxt_end < 0 else nxt_end]
    return before, prev, text[ls:le], after


def _table_row(line: str, value: str) -> bool:
    """The IBAN is a bare cell of a row of three or more cells (an export, not a labelled footer)."""
    sep = _CELL_SEP.findall(line)
    if len(sep) < 2:
        if line.count(",") < 2 or "," in value:
            return False
        cells = line.split(",")
    else:
        cells = _CELL_SEP.split(line)
    return any(c.strip().strip("\"'") == value for c in cells)


#: Labels of correspondents, authors and contacts (mail headers, "Speaker:", "Prepared by:") and
#: salutations ("Dear Mr Grant"): the person is who writes or reads, not whose account it is.
_CORRESPONDENT = re.compile(
    r"(?i)(?:^|[^\w])(?:from|to|cc|bcc|von|an|de|a|da|para|van|aan|sender|absender|expediteur|mittente|"
    r"remitente|afzender|contact|kontakt|contacto|contactpersoon|ansprechpartner\w*|referente|"
    r"interlocuteur|speaker|referent\w*|redner\w*|intervenant|relatore|ponente|spreker|author|autor|"
    r"auteur|autore|by|von|par|di|por|door|signed|unterzeichnet|approved|genehmigt)[ \t]*:?[ \t]*$"
)
_SALUTATION = re.compile(
    r"(?i)(?:dear|sehr\s+geehrter?|liebe[r]?|cher|chere|madame|monsieur|gentile|egregi[oa]|estimad[oa]|"
    r"querid[oa]|beste|geachte|hallo|hello|hi|bonjour|buongiorno|hola)[ \t,]*$"
)


def _names(block: str) -> bool:
    """A person-name field in ``block`` that names a data subject (not a correspondent)."""
    if block.isascii() and not _NAME_FIELD_ASCII(block):
        return False
    for m in _NAME_FIELD.finditer(block):
        key = "a" if m.group("a") else "b" if m.group("b") else "c"
        words = m.group(key).split()
        if any(w in _NOT_NAME for w in words) or any("bank" in w.lower() for w in words):
            continue
        head = _fold(block[max(0, block.rfind("\n", 0, m.start(key)) + 1) : m.start(key)])
        if key == "a" and _CORRESPONDENT.search(head.rsplit(":", 1)[0] if ":" in head else head):
            continue
        if _SALUTATION.search(_TITLE_TAIL.sub("", head)):
            continue
        return True
    return False


def role(text: str, start: int, end: int) -> str:
    """Whose account the layout around ``text[start:end]`` suggests (see the module docstring)."""
    before, prev, line, after = _lines_around(text, start, end)
    value = text[start:end]
    near = _fold(prev + "\n" + line)
    if _EXAMPLE.found(near):
        return "example"
    window = _fold(text[max(0, start - 200) : start]) + " " + _fold(line)
    if _OWN.found(window):
        return "own"
    lead = _fold(text[max(0, start - 60) : start])
    if _ADDRESSEE.search(lead) and not _INVOICE.found(_fold(before + line)):
        # the reader's account, unless a payment word shares its line ("Gutschrift auf Ihr Konto": a
        # remittance to a supplier) in a letter to no named person; a subject line does not count
        own_line = _fold(line[: line.find(value)] if value in line else line)
        if _PAYMENT.found(own_line) and not _PERSONAL_GREETING.search(before + line):
            return "payment"
        return "customer"
    close = _fold(text[max(0, start - 150) : start]) + " " + _fold(line[line.find(value) :][:60])
    if _PAYMENT.found(close):
        return "payment"
    if _LEGAL.found(prev + "\n" + line):
        return "company"
    if _table_row(line, value) or line.lstrip().startswith(":25"):
        return "customer"
    around = before + line + "\n" + after
    if _PERSON_KEY.found(around):
        return "customer"
    if (_names(around) or _role_name(around)) and not _INVOICE.found(_fold(around)):
        return "customer"
    return "unknown"


#: A lower-case IBAN counts only after an "IBAN" label (lower-case hex ids and hashes have the shape).
_LABEL = re.compile(r"(?i)\biban\b[^\n]{0,12}$")
_GAP = re.compile(r"[^A-Za-z0-9]+")
#: Between two groups: the group separator, or a line end (PDF and table cells wrap an IBAN).
_BREAK = r"(?:\1|[ \t]{0,3}\r?\n[ \t]{0,3})"
#: What a spread IBAN's characters may be: upper case, digits, and what OCR writes for a digit.
_SPREAD_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + OCR_LOOKALIKES
#: Check digits as OCR reads them: one of the two may be a look-alike letter ("ATO8").
_CHECK = r"(?:\d{2}|\d[OIlSB]|[OIlSB]\d)"
_SPREAD = rf"(?<![A-Za-z0-9-])[A-Z]{{2}}{_CHECK}(?:{SPREAD_GAP}[A-Z0-9{re.escape(OCR_LOOKALIKES)}]){{11,30}}"


class IbanRecognizer(DwPatternRecognizer):
    """IBANs of all registry countries: upper case (country code in any case) or, after an "IBAN"
    label, lower case; plain or grouped by 4 with spaces or dashes, a group break allowed to fall on a
    line end (PDF and table cells wrap). Valid ones score 0.8, 1.0 with context."""

    ENTITY = "IBAN_CODE"
    PATTERNS = (
        (
            "grouped",
            rf"(?<![A-Za-z0-9-])[A-Za-z]{{2}}\d{{2}}([ -])[A-Z0-9]{{4}}(?:{_BREAK}[A-Z0-9]{{4}}){{1,6}}"
            rf"(?:{_BREAK}[A-Z0-9]{{1,3}})?(?![A-Za-z0-9])",
            0.3,
        ),
        ("contiguous", r"(?<![A-Za-z0-9-])[A-Za-z]{2}\d{2}[A-Z0-9]{11,30}(?![A-Za-z0-9])", 0.3),
        # groups glued or split by OCR, a line break anywhere, digits read as letters: see spread.py
        ("spread", _SPREAD, 0.3),
        (
            "lower case",
            r"(?<![A-Za-z0-9-])[a-z]{2}\d{2}(?:([ -])[a-z0-9]{4}(?:\1[a-z0-9]{4}){1,6}(?:\1[a-z0-9]{1,3})?"
            r"|[a-z0-9]{11,30})(?![A-Za-z0-9])",
            0.3,
        ),
    )
    CONTEXT = ("iban", "account", "konto", "compte", "conto", "bank", "bankverbindung", "rib", "coordonnees")
    TRIGGER = (
        r"[A-Za-z]{2}\d{2}[ -]?[A-Z0-9]{4}|[a-z]{2}\d{2}[ -]?[a-z0-9]{4}|"
        r"[A-Z]{2}\d[\dOIlSB]|[A-Z]{2}[OIlSB]\d"
    )
    MAX_LEN = 4 + 30 * 8  # the spread pattern: 30 characters, each after a gap of up to 7
    #: The text of the running :meth:`analyze_regions` call and the role of each span judged in it
    #: (None outside a call): the grouped and the spread pattern both match a printed IBAN, and its
    #: role is most of its cost.
    _roles: tuple[str, dict[tuple[int, int], str]] | None = None

    def analyze_regions(self, text: str, regions: Iterable[tuple[int, int]]) -> list[Result]:
        self._roles = (text, {})
        try:
            return super().analyze_regions(text, regions)
        finally:
            self._roles = None

    def _role(self, text: str, start: int, end: int) -> str:
        """:func:`role`, once per span of the text being analysed (any other text: judged anew)."""
        memo = self._roles
        if memo is None or memo[0] is not text:
            return role(text, start, end)
        found = memo[1].get((start, end))
        if found is None:
            found = memo[1][start, end] = role(text, start, end)
        return found

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        value = match.group()
        if value[:2].upper() not in IBAN_LENGTHS:
            return None
        if match.re.pattern == _SPREAD:
            return _spread(text, match, self._role)
        if value[2:].islower() and not _LABEL.search(text, max(0, match.start() - 20), match.start()):
            return None
        country = ("country", value[:2].upper())
        s = match.start()
        # a grouped run may have swallowed a following word or the next line: try fewer groups
        for cut in [len(value)] + [m.start() for m in reversed(list(_GAP.finditer(value, 5)))]:
            if iban_valid(value[:cut]):
                r = self._role(text, s, s + cut)
                return Assessment(0.8, start=s, end=s + cut, attributes=(country, ("role", r)))
        return None


def _spread(text: str, match: re.Match[str], role_of: Callable[[str, int, int], str]) -> Assessment | None:
    """The registry length of characters from the match start, ending at a separator, with OCR
    look-alikes beside digits (check digits included) read as digits, valid by mod 97; a BBAN of mostly
    letters is words, not an IBAN."""
    country = match.group()[:2]
    got = take(text, match.start(), match.end(), IBAN_LENGTHS[country], _SPREAD_CHARS)
    if got is None:
        return None
    raw, end = got
    if text.count("\n", match.start(), end) > 2:  # wrapped twice at most (a narrow table cell)
        return None
    # a digit look-alike between digits is a misreading: then only the corrected reading may validate
    # (letters pass mod 97 by chance one time in 97); bank codes (NWBK) have no digit beside them
    candidate = raw[:2] + to_digits(raw[2:4]) + ocr_digits(raw[4:])  # check digits are digits only
    if digit_share(candidate[4:]) < 0.5 or not iban_valid(candidate):
        return None
    attributes = [("country", country), ("role", role_of(text, match.start(), end))]
    if candidate != raw:
        attributes.append(("read", "ocr-corrected"))
    return Assessment(0.8, start=match.start(), end=end, attributes=tuple(attributes))
