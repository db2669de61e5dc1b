"""Exports and structured text ("exports" set), written blind after the base and placement sets were
tuned: its first score is the honest one.

More containers and wordings: SEPA XML, HTML mail, speaker notes, Purview-style labels, PuTTY keys,
HTTP Basic headers, E.164 phone exports, IMEI inventories, example IBANs in developer notes.
"""

from __future__ import annotations

import base64
import json
import random

from tests.eval.formats import Doc
from tests.eval.heldout_docs import Spec, amount, card_text, exp, iban_text, name, password
from tests.helpers import luhn_complete
from tests.unit.classify import fakes


def _imei(rng: random.Random) -> str:
    return luhn_complete("35" + "".join(rng.choice("0123456789") for _ in range(12)))


def export_specs(rng: random.Random) -> list[Spec]:
    out = []
    maestro = fakes.card(rng, "6759", 19)
    out.append(
        Spec(
            "card",
            True,
            "en",
            "19-digit maestro in notes",
            Doc("Call notes", [f"Customer read out the debit card number {maestro} to verify."]),
            formats=("pptx",),
        )
    )
    out.append(
        Spec(
            "card",
            True,
            "en",
            "card number as JSON number",
            raw=(
                "json",
                json.dumps(
                    {
                        "holder": name(rng, "en"),
                        "cardNumber": int(fakes.card(rng, "4", 16)),
                        "expiry": exp(rng),
                    }
                ),
            ),
        )
    )
    out.append(
        Spec(
            "card",
            True,
            "de",
            "card in ods table",
            Doc(
                "Karten",
                [],
                {
                    "Karten": [["Kunde", "Kartennr.", "Ablauf"]]
                    + [[name(rng, "de"), card_text(rng), exp(rng)] for _ in range(2)]
                },
            ),
            formats=("ods",),
        )
    )
    letters = {
        "de": "Sehr geehrte Damen und Herren,\nmein Konto {iban} wurde doppelt belastet.\n"
        "Mit freundlichen Grüßen\n{name}",
        "fr": "Je soussignée {name}, titulaire du compte {iban}, demande la clôture de mon compte.",
        "es": "Nombre del titular: {name}\nIBAN: {iban}\nFecha de alta: 03/02/2021",
        "it": "Il sottoscritto {name} chiede l'accredito dello stipendio sul proprio conto {iban}.",
    }
    for lang, tpl in letters.items():
        lines = tpl.format(iban=iban_text(rng, lang), name=name(rng, lang)).splitlines()
        out.append(
            Spec(
                "iban_customer",
                True,
                lang,
                "customer letter with own account",
                Doc(lines[0], lines[1:]),
                formats=("docx", "pdf", "txt", "eml"),
            )
        )
    kyc = {
        "firstName": name(rng, "fr").split()[0],
        "lastName": name(rng, "fr").split()[1],
        "dateOfBirth": "1984-07-02",
        "iban": iban_text(rng, "fr", False),
    }
    out.append(
        Spec("iban_customer", True, "fr", "KYC json", raw=("json", json.dumps(kyc, ensure_ascii=False)))
    )
    dbtrs = "".join(
        f"<DrctDbtTxInf><Dbtr><Nm>{name(rng, 'de')}</Nm></Dbtr>"
        f"<DbtrAcct><Id><IBAN>{iban_text(rng, 'de', False)}"
        f'</IBAN></Id></DbtrAcct><InstdAmt Ccy="EUR">{rng.randrange(10, 99)}.00</InstdAmt></DrctDbtTxInf>\n'
        for _ in range(2)
    )
    out.append(
        Spec(
            "iban_customer",
            True,
            "de",
            "SEPA direct debit XML with debtors",
            raw=(
                "xml",
                f'<?xml version="1.0"?>\n<Document><CstmrDrctDbtInitn>\n{dbtrs}'
                "</CstmrDrctDbtInitn></Document>\n",
            ),
        )
    )
    marks = [
        ("fr", Doc("Plan stratégique", ["Sensibilité : Confidentiel", "Les objectifs 2026 sont fixés."])),
        ("it", Doc("Piano", ["Etichetta di riservatezza: Riservato", "Gli obiettivi sono fissati."])),
        (
            "en",
            Doc(
                "Pricing review",
                ["Prices rise by 3 percent in April."],
                footer="Confidential (C3) – Acme Bank",
            ),
        ),
        (
            "de",
            Doc(
                "Klassifikation: VERTRAULICH",
                [],
                {"Zahlen": [["Klassifikation: VERTRAULICH"], ["Umsatz", "12"]]},
            ),
        ),
        ("nl", Doc("Jaarplan", ["De doelen voor 2026 liggen vast."], header="Classificatie: Vertrouwelijk")),
        ("en", Doc("Q3 outlook", ["Revenue guidance is unchanged."], header="CONFIDENTIAL – INTERNAL")),
    ]
    fmts = [("docx",), ("odt",), ("pptx",), ("xlsx",), ("docx",), ("pdf",)]
    for (lang, doc), f in zip(marks, fmts, strict=True):
        out.append(Spec("marking", True, lang, "label in another field or position", doc, formats=f))
    html_mail = (
        '<html><body><p style="color:red">STRICTLY CONFIDENTIAL</p><p>Board minutes attached.</p>'
        "</body></html>"
    )
    out.append(Spec("marking", True, "en", "marking in html mail", raw=("html", html_mail)))
    basic = base64.b64encode(f"svc-report:{password(rng)}".encode()).decode()
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "HTTP Basic header in log",
            Doc("proxy", [f"GET /report 200 Authorization: Basic {basic}"]),
            formats=("log",),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "stripe live key in env",
            raw=("env", f"STRIPE_KEY=sk_live_{fakes.token(rng, 24)}\n"),
        )
    )
    ppk = (
        "PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nComment: deploy\nPublic-Lines: 2\n"
        + "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(2))
        + "\nPrivate-Lines: 4\n"
        + "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(4))
        + "\nPrivate-MAC: "
        + fakes.token(rng, 64, "0123456789abcdef")
        + "\n"
    )
    out.append(Spec("credential", True, "en", "PuTTY private key file", raw=("ppk", ppk)))
    out.append(
        Spec(
            "credential",
            True,
            "it",
            "temporary password in mail",
            Doc("Accesso", [f"La password temporanea è: {password(rng)}"]),
            formats=("eml",),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "de",
            "initial password",
            Doc("Zugang", [f"Ihr Initialpasswort lautet: {password(rng, symbols=False)}"]),
            formats=("txt",),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "password in python call",
            raw=("py", f'conn = psycopg2.connect(host="db", user="app", password="{password(rng)}")\n'),
        )
    )
    # negatives
    out.append(
        Spec(
            "confidential_prose",
            False,
            "en",
            "article about banking secrecy",
            Doc("Banking secrecy: what changed in 2025", ["The law now allows automatic exchange of data."]),
            formats=("md",),
        )
    )
    out.append(
        Spec(
            "test_cards",
            False,
            "en",
            "example IBAN in developer notes",
            Doc("Payments API", ["Test customer IBAN: DE89 3704 0044 0532 0130 00 (documentation example)."]),
            formats=("md",),
        )
    )
    phones = "name,phone\n" + "\n".join(
        f"{name(rng, 'de')},+4915{rng.randrange(10**9, 10**10)}" for _ in range(12)
    )
    out.append(Spec("lookalike_numbers", False, "de", "E.164 phone export", raw=("csv", phones)))
    imeis = [["Device", "IMEI", "User"]] + [[f"Phone {i}", _imei(rng), name(rng, "nl")] for i in range(6)]
    out.append(
        Spec(
            "lookalike_numbers",
            False,
            "nl",
            "IMEI inventory",
            Doc("Toestellen", [], {"Toestellen": imeis}),
            formats=("xlsx",),
        )
    )
    out.append(
        Spec(
            "invoice_own_iban",
            False,
            "de",
            "invoice with bank footer",
            Doc(
                "Rechnung 2025-77",
                [
                    f"Kundennummer: {rng.randrange(10**5)}",
                    f"Summe: {amount(rng, 'de')} EUR",
                    f"Acme GmbH · Bankverbindung: IBAN {iban_text(rng, 'de')}",
                ],
            ),
            formats=("pdf",),
        )
    )
    return out
