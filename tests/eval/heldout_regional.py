"""Regional spellings ("regional" set): national markings, local card and IBAN notations, SAS URLs, table
cells. Written blind after the base, placement and export sets were tuned."""

from __future__ import annotations

import random

from tests.eval.formats import Doc
from tests.eval.heldout_docs import Spec, amount, card_text, iban_text, name, password
from tests.unit.classify import fakes


def regional_specs(rng: random.Random) -> list[Spec]:
    out = []
    dotted = fakes.grouped(fakes.card(rng, "4", 16)).replace(" ", ".")
    out.append(
        Spec(
            "card",
            True,
            "fr",
            "card grouped with dots",
            Doc("Opposition", [f"Carte bancaire n° {dotted} de {name(rng, 'fr')} mise en opposition."]),
            formats=("txt",),
        )
    )
    out.append(
        Spec(
            "card",
            True,
            "fr",
            "CB number in mail",
            Doc("Réservation", [f"Garantie : CB n°{fakes.card(rng, '497', 16)}, exp. 09/28"]),
            formats=("eml",),
        )
    )
    rows = [["Kunde", "Kreditkarte", "Limit"]] + [
        [name(rng, "de"), card_text(rng), amount(rng, "de")] for _ in range(3)
    ]
    out.append(
        Spec(
            "card", True, "de", "card table in docx", Doc("Limiten", [], {"Karten": rows}), formats=("docx",)
        )
    )
    ibans = [["Klant", "IBAN", "Saldo"]] + [
        [name(rng, "nl"), iban_text(rng, "nl"), amount(rng, "nl")] for _ in range(3)
    ]
    out.append(
        Spec(
            "iban_customer",
            True,
            "nl",
            "customer IBANs in pptx table",
            Doc("Overzicht", [], {"Klanten": ibans}),
            formats=("pptx",),
        )
    )
    out.append(
        Spec(
            "iban_customer",
            True,
            "it",
            "IBAN update notice",
            Doc(
                "Aggiornamento dati",
                [
                    f"Gentile cliente, il suo IBAN {iban_text(rng, 'it')} è stato aggiornato.",
                    f"Intestatario: {name(rng, 'it')}",
                ],
            ),
            formats=("eml",),
        )
    )
    out.append(
        Spec(
            "iban_customer",
            True,
            "de",
            "Swiss customer note",
            Doc("Notiz", [f"Kundin {name(rng, 'de')} meldet neue Bankverbindung: {iban_text(rng, 'de')}"]),
            formats=("txt",),
            weak="'Bankverbindung' is the invoice veto word; 'neue' does not lift it",
        )
    )
    for lang, header in [
        ("de", "VS – NUR FÜR DEN DIENSTGEBRAUCH"),
        ("en", "COMMERCIAL IN CONFIDENCE"),
        ("en", "TLP:RED"),
        ("it", "RISERVATO E CONFIDENZIALE"),
        ("es", "USO INTERNO – CONFIDENCIAL"),
        ("en", "Confidential – Attorney-Client Privileged"),
    ]:
        out.append(
            Spec(
                "marking",
                True,
                lang,
                "national or sector marking",
                Doc("Lagebericht", ["Die Lage ist stabil.", "Nächste Sitzung im Juni."], header=header),
                formats=("docx", "pdf", "md"),
            )
        )
    sas = (
        f"https://stledger.blob.core.windows.net/exports?sv=2022-11-02&ss=b&srt=sco&sp=rwdlac"
        f"&se=2026-01-01T00:00:00Z&sig={fakes.token(rng, 43)}%3D"
    )
    out.append(
        Spec("credential", True, "en", "Azure SAS URL", Doc("export", [f"Upload to {sas}"]), formats=("md",))
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "OpenAI-style key in env",
            raw=("env", f"OPENAI_API_KEY=sk-proj-{fakes.token(rng, 48)}\n"),
        )
    )
    cells = [
        ["Konto", "Passwort"],
        ["admin", password(rng, symbols=False)],
        ["backup", password(rng, symbols=False)],
    ]
    out.append(
        Spec(
            "credential",
            True,
            "de",
            "password cells without symbols",
            Doc("Konten", [], {"Konten": cells}),
            formats=("xlsx",),
        )
    )
    key = fakes.private_key(rng, "EC ", 4)
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "private key on a slide",
            Doc("Deploy", key.splitlines()),
            formats=("pptx",),
        )
    )
    # negatives
    out.append(
        Spec(
            "invoice_own_iban",
            False,
            "en",
            "invoice with bank footer, far from the title",
            Doc(
                "Invoice 2025-118",
                [f"Customer number: {rng.randrange(10**4, 10**5)}"]
                + [f"Item {i}: consulting, {amount(rng, 'en')}" for i in range(8)]
                + ["Bank: Acme Bank AG", f"IBAN: {iban_text(rng, 'en')}", "BIC: ACMEGB2L"],
            ),
            formats=("pdf",),
        )
    )
    out.append(
        Spec(
            "invoice_own_iban",
            False,
            "de",
            "charity donation account",
            Doc("Spendenaufruf", ["Helfen Sie mit!", f"Spendenkonto: IBAN {iban_text(rng, 'de')}"]),
            formats=("pdf",),
        )
    )
    out.append(
        Spec(
            "confidential_prose",
            False,
            "en",
            "job posting",
            Doc(
                "We are hiring",
                ["You handle client data confidentially and with care.", "Secret sauce: a great team."],
            ),
            formats=("md",),
        )
    )
    out.append(
        Spec(
            "benign_business",
            False,
            "de",
            "portal note",
            Doc(
                "Portal", ["Kunden können ihre IBAN im Portal ändern.", "Die Kundin erhält eine Bestätigung."]
            ),
            formats=("txt",),
        )
    )
    return out
