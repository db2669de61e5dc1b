"""Content of the held-out-style evaluation set: phrasings per category and language (fake values only).

Written independently of the public corpus: other wordings, six languages, other document kinds. Every
builder takes a seeded ``random.Random`` and returns :class:`Spec` objects; nothing here is real data.
"""

from __future__ import annotations

import json
import random
import string
from dataclasses import dataclass

from tests.eval.formats import Doc
from tests.unit.classify import fakes

LANGS = ("en", "de", "fr", "it", "es", "nl")
NAMES = {
    "en": ("Oliver Grant", "Hannah Pike", "Samuel Ortiz", "Grace Whitfield", "Imran Sadiq", "Megan Doyle"),
    "de": ("Jürgen Weiß", "Anke Böhm", "Felix Schröder", "Katrin Vogt", "Lukas Brandt", "Sabine Kühn"),
    "fr": ("Élodie Marchand", "Benoît Lefèvre", "Camille Roux", "Théo Girard", "Inès Faure", "Hugo Lemaire"),
    "it": (
        "Giulia Ferraro",
        "Matteo Gallo",
        "Chiara Fontana",
        "Davide Greco",
        "Sara Mancini",
        "Luca Barbieri",
    ),
    "es": ("Lucía Navarro", "Javier Ortega", "Carmen Ibáñez", "Pablo Serrano", "Marta Delgado", "Diego Cano"),
    "nl": ("Sanne de Vries", "Joris Bakker", "Femke Visser", "Ruben Smit", "Lotte Mulder", "Daan Bos"),
}
COUNTRY = {"en": "GB", "de": "DE", "fr": "FR", "it": "IT", "es": "ES", "nl": "NL"}
COMPANY = {
    "en": "Harbourline Ltd",
    "de": "Nordfeld GmbH",
    "fr": "Atelier Sorel SARL",
    "it": "Ferri & Co. S.r.l.",
    "es": "Alameda Servicios S.L.",
    "nl": "Duinzicht B.V.",
}
CARD_ISSUERS = (
    ("4", 16),
    ("51", 16),
    ("55", 16),
    ("2223", 16),
    ("37", 15),
    ("6011", 16),
    ("3528", 16),
    ("36", 14),
)


@dataclass
class Spec:
    """One file to generate: its label and its content (a Doc, or raw text for a fixed extension)."""

    category: str
    alert: bool
    lang: str
    note: str
    doc: Doc | None = None
    raw: tuple[str, str] | None = None  # (extension, text)
    blob: tuple[str, bytes] | None = None  # (extension, bytes): a container built by the spec itself
    formats: tuple[str, ...] = ("txt",)
    weak: str = ""  # why a case is a known miss: counted in the totals, exempt from recall 1.0


def amount(rng: random.Random, lang: str) -> str:
    v = rng.randrange(100, 9_000_000) / 100
    s = f"{v:,.2f}"
    return s if lang == "en" else s.replace(",", "\0").replace(".", ",").replace("\0", ".")


def name(rng: random.Random, lang: str) -> str:
    return rng.choice(NAMES[lang])


def card_text(rng: random.Random) -> str:
    prefix, length = rng.choice(CARD_ISSUERS)
    n = fakes.card(rng, prefix, length)
    style = rng.randrange(4)
    if length == 15 and style:
        return f"{n[:4]} {n[4:10]} {n[10:]}"
    if length == 16 and style == 1:
        return fakes.grouped(n)
    if length == 16 and style == 2:
        return fakes.grouped(n, "-")
    return n


def iban_text(rng: random.Random, lang: str, grouped: bool | None = None) -> str:
    value = fakes.iban(rng, rng.choice([COUNTRY[lang], COUNTRY[lang], "CH", "AT", "BE"]))
    return fakes.grouped(value) if (rng.random() < 0.6 if grouped is None else grouped) else value


def exp(rng: random.Random) -> str:
    return f"{rng.randrange(1, 13):02d}/{rng.randrange(26, 31)}"


def password(rng: random.Random, symbols: bool = True) -> str:
    alpha = string.ascii_letters + string.digits + ("!#%*@&?" if symbols else "")
    while True:
        v = fakes.token(rng, rng.randrange(12, 20), alpha)
        classes = [any(c.islower() for c in v), any(c.isupper() for c in v), any(c.isdigit() for c in v)]
        if all(classes) and (not symbols or any(c in "!#%*@&?" for c in v)):
            return v


# --------------------------------------------------------------------------------------------- cards
CARD_SINGLE = {
    "en": "Chargeback case {ref}\nCardholder {name} disputes a charge of EUR {amt} at an online shop.\n"
    "Card used: {card}, valid thru {exp}.\nOutcome: provisional credit granted.",
    "de": "Reklamation Kartenzahlung {ref}\nKarteninhaberin: {name}\nKreditkartennummer: {card}\n"
    "Gültig bis: {exp}\nStrittiger Betrag: {amt} EUR",
    "fr": "Contestation de paiement {ref}\nPorteur : {name}\nN° de carte bancaire : {card}\n"
    "Date d'expiration : {exp}\nMontant contesté : {amt} €",
    "it": "Contestazione addebito {ref}\nTitolare della carta: {name}\nNumero della carta: {card}\n"
    "Scadenza: {exp}\nImporto contestato: {amt} €",
    "es": "Reclamación {ref}\nTitular de la tarjeta: {name}\nNúmero de tarjeta: {card}\n"
    "Fecha de caducidad: {exp}\nImporte reclamado: {amt} €",
    "nl": "Betwiste transactie {ref}\nKaarthouder: {name}\nKaartnummer: {card}\nVervaldatum: {exp}\n"
    "Bedrag: € {amt}",
}
CARD_COLUMNS = {
    "en": ["Customer", "Card number", "Expiry", "Credit limit"],
    "de": ["Kunde", "Kartennummer", "Ablauf", "Limit"],
    "fr": ["Client", "Numéro de carte", "Expiration", "Plafond"],
    "it": ["Cliente", "Numero carta", "Scadenza", "Fido"],
    "es": ["Cliente", "Tarjeta", "Caducidad", "Límite"],
    "nl": ["Klant", "Kaartnummer", "Geldig tot", "Limiet"],
}


def card_specs(rng: random.Random) -> list[Spec]:
    out = []
    for lang in LANGS:
        text = CARD_SINGLE[lang].format(
            ref=f"CB-{rng.randrange(10**5, 10**6)}",
            name=name(rng, lang),
            amt=amount(rng, lang),
            card=card_text(rng),
            exp=exp(rng),
        )
        lines = text.splitlines()
        out.append(
            Spec(
                "card",
                True,
                lang,
                "single card dispute",
                Doc(lines[0], lines[1:]),
                formats=("txt", "docx", "pdf", "odt", "md"),
            )
        )
        rows = [CARD_COLUMNS[lang]] + [
            [name(rng, lang), card_text(rng), exp(rng), amount(rng, lang)] for _ in range(rng.randrange(3, 8))
        ]
        sheets = (
            {"Summary": [["Total", str(len(rows) - 1)]], "Cards": rows}
            if rng.random() < 0.5
            else {"Cards": rows}
        )
        out.append(
            Spec(
                "card",
                True,
                lang,
                "card dump table",
                Doc(CARD_COLUMNS[lang][1], [], sheets),
                formats=("xlsx", "csv", "ods", "xlsx"),
            )
        )
    for _ in range(3):
        events = []
        for _ in range(rng.randrange(4, 9)):
            o = rng.randrange(10**6, 10**7)
            pan = fakes.card(rng, *rng.choice(CARD_ISSUERS[:4]))
            events.append(
                f"payment.authorised order={o} pan={pan} amount={amount(rng, 'en')} currency=EUR rc=00"
            )
        out.append(
            Spec("card", True, "en", "gateway log with full PANs", Doc("gateway", events), formats=("log",))
        )
    txns = [
        {"id": f"T{rng.randrange(10**6)}", "amount": amount(rng, "en"), "pan": card_text(rng)}
        for _ in range(3)
    ]
    out.append(
        Spec(
            "card",
            True,
            "en",
            "transaction export json",
            raw=("json", json.dumps({"transactions": txns}, indent=1)),
        )
    )
    csv = "date,amount,card,merchant\n" + "\n".join(
        f"2025-02-{d:02d},{amount(rng, 'en').replace(',', '')},{fakes.card(rng, '4', 16)},Shop {d}"
        for d in range(1, 5)
    )
    out.append(Spec("card", True, "en", "csv export with cards after commas", raw=("csv", csv)))
    return out


# --------------------------------------------------------------------------------------------- IBAN
IBAN_SINGLE = {
    "en": [
        "Direct debit mandate\nDebtor: {name}\nDebtor IBAN: {iban}\nMandate reference: MR-{ref}\n"
        "Signed on 2025-01-17",
        "Account closure request\nThe account holder {name} asks us to close the current account {iban} "
        "and to send a cheque for the remaining balance of GBP {amt}.",
    ],
    "de": [
        "Kundenstammblatt\nName: {name}\nGeburtsdatum: 12.04.1979\nIBAN: {iban}\nKontostand: {amt} EUR",
        "SEPA-Lastschriftmandat\nZahlungspflichtiger: {name}\nIBAN des Zahlungspflichtigen: {iban}\n"
        "Mandatsreferenz: {ref}",
    ],
    "fr": [
        "Fiche de connaissance client\nNom du titulaire : {name}\nIBAN : {iban}\nSolde créditeur : {amt} €",
        "Mandat de prélèvement SEPA\nDébiteur : {name}\nIBAN du débiteur : {iban}\nRéférence unique : {ref}",
    ],
    "it": [
        "Scheda anagrafica cliente\nIntestatario del conto: {name}\nCodice IBAN: {iban}\n"
        "Saldo contabile: {amt} €",
        "Mandato SDD\nDebitore: {name}\nIBAN del debitore: {iban}\nRiferimento mandato: {ref}",
    ],
    "es": [
        "Ficha del cliente\nTitular de la cuenta: {name}\nIBAN: {iban}\nSaldo disponible: {amt} €",
        "Orden de domiciliación\nDeudor: {name}\nIBAN del deudor: {iban}\nReferencia: {ref}",
    ],
    "nl": [
        "Klantoverzicht\nRekeninghouder: {name}\nIBAN: {iban}\nSaldo: € {amt}",
        "Machtiging doorlopende incasso\nNaam debiteur: {name}\nIBAN debiteur: {iban}\nKenmerk: {ref}",
    ],
}
IBAN_COLUMNS = {
    "en": ["Customer", "IBAN", "Balance"],
    "de": ["Kunde", "IBAN", "Saldo"],
    "fr": ["Client", "IBAN", "Solde"],
    "it": ["Cliente", "IBAN", "Saldo"],
    "es": ["Cliente", "IBAN", "Saldo"],
    "nl": ["Klant", "IBAN", "Saldo"],
}


def iban_specs(rng: random.Random) -> list[Spec]:
    out = []
    for lang in LANGS:
        for tpl in IBAN_SINGLE[lang]:
            text = tpl.format(
                name=name(rng, lang),
                iban=iban_text(rng, lang),
                amt=amount(rng, lang),
                ref=f"{rng.randrange(10**7, 10**8)}",
            )
            lines = text.splitlines()
            out.append(
                Spec(
                    "iban_customer",
                    True,
                    lang,
                    "single customer IBAN record",
                    Doc(lines[0], lines[1:]),
                    formats=("txt", "docx", "pdf", "odt", "md", "pptx"),
                )
            )
        rows = [IBAN_COLUMNS[lang]] + [
            [name(rng, lang), iban_text(rng, lang), amount(rng, lang)] for _ in range(rng.randrange(3, 9))
        ]
        out.append(
            Spec(
                "iban_customer",
                True,
                lang,
                "customer list with IBANs and balances",
                Doc(IBAN_COLUMNS[lang][0], [], {"Accounts": rows}),
                formats=("xlsx", "csv", "ods"),
            )
        )
    payroll = [["Employee", "IBAN", "Net salary"]] + [
        [name(rng, "en"), iban_text(rng, "en", False), amount(rng, "en")] for _ in range(4)
    ]
    out.append(
        Spec(
            "iban_customer",
            True,
            "en",
            "payroll list",
            Doc("Payroll March", [], {"Payroll": payroll}),
            formats=("xlsx",),
        )
    )
    return out


# --------------------------------------------------------------------------------------------- markings
MARKINGS = {
    "en": [
        "STRICTLY CONFIDENTIAL",
        "Confidential",
        "Highly Confidential",
        "RESTRICTED",
        "Private and Confidential",
    ],
    "de": ["VERTRAULICH", "Streng vertraulich", "Vertraulich"],
    "fr": ["CONFIDENTIEL", "Strictement confidentiel", "Diffusion restreinte"],
    "it": ["RISERVATO", "Strettamente riservato", "Confidenziale"],
    "es": ["CONFIDENCIAL", "Estrictamente confidencial"],
    "nl": ["VERTROUWELIJK", "Strikt vertrouwelijk"],
}
FIELD = {
    "en": "Classification",
    "de": "Klassifizierung",
    "fr": "Classification",
    "it": "Classificazione",
    "es": "Clasificación",
    "nl": "Classificatie",
}
MEMO = {
    "en": (
        "Board memo: Project Heron",
        [
            "The steering group recommends selling the leasing unit in Q3.",
            "Negotiations with two bidders continue; the price range is still open.",
        ],
    ),
    "de": (
        "Vorstandsvorlage Projekt Kranich",
        [
            "Der Lenkungsausschuss empfiehlt den Verkauf der Leasingsparte.",
            "Die Gespräche mit zwei Bietern laufen weiter; der Preisrahmen ist offen.",
        ],
    ),
    "fr": (
        "Note au comité : projet Héron",
        [
            "Le comité recommande la cession de l'activité de crédit-bail.",
            "Les discussions avec deux acquéreurs se poursuivent.",
        ],
    ),
    "it": (
        "Nota per il consiglio: progetto Airone",
        [
            "Il comitato raccomanda la cessione del ramo leasing.",
            "Le trattative con due offerenti proseguono.",
        ],
    ),
    "es": (
        "Nota para el consejo: proyecto Garza",
        [
            "El comité recomienda vender la unidad de arrendamiento.",
            "Las negociaciones con dos compradores continúan.",
        ],
    ),
    "nl": (
        "Notitie raad van bestuur: project Reiger",
        [
            "De stuurgroep adviseert de leaseactiviteiten te verkopen.",
            "De gesprekken met twee bieders lopen nog.",
        ],
    ),
}


def marking_specs(rng: random.Random) -> list[Spec]:
    out = []
    for lang in LANGS:
        title, body = MEMO[lang]
        for i, mark in enumerate(MARKINGS[lang]):
            where = (i + LANGS.index(lang)) % 6
            if where == 0:
                doc, fmts = Doc(title, body, header=mark), ("docx",)
            elif where == 1:
                doc, fmts = (
                    Doc(title, body, footer=f"{COMPANY[lang]} · {mark} · 2/3"),
                    ("docx", "pdf", "pptx"),
                )
            elif where == 2:
                doc, fmts = Doc(f"{mark} – {title}", body), ("pptx", "md", "odt", "pdf")
            elif where == 3:
                doc, fmts = Doc(title, [f"{FIELD[lang]}: {mark} - {title}", *body]), ("txt", "docx", "odt")
            elif where == 4:
                raw = json.dumps({"title": title, "footer": mark, "body": body}, ensure_ascii=False, indent=2)
                out.append(Spec("marking", True, lang, "json label field", raw=("json", raw)))
                continue
            else:
                raw = f'document:\n  title: "{title}"\n  classification: {mark}\n  owner: finance\n'
                out.append(Spec("marking", True, lang, "yaml classification field", raw=("yaml", raw)))
                continue
            out.append(Spec("marking", True, lang, f"marking position {where}", doc, formats=fmts))
    return out
