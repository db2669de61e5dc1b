"""Where the value sits ("placements" set): chat transcripts, mail bodies, third sheets, footers, front
matter, XML elements, tool configs; written after the base set was tuned.

Kept apart so the report can say how the tuned recognizers do on wordings they were not tuned on.
"""

from __future__ import annotations

import base64
import json
import random

from tests.eval.formats import Doc
from tests.eval.heldout_docs import COMPANY, LANGS, Spec, amount, card_text, exp, iban_text, name, password
from tests.unit.classify import fakes


def placement_positive_specs(rng: random.Random) -> list[Spec]:
    out = []
    chat = [
        "[09:58] agent: how can I help?",
        f"[10:02] customer: the payment failed again, my card is {card_text(rng)} exp {exp(rng)}",
        "[10:03] agent: thanks, I will check with the issuer.",
    ]
    out.append(
        Spec(
            "card",
            True,
            "en",
            "card in chat transcript",
            Doc("Chat export", chat),
            formats=("txt", "log", "eml"),
        )
    )
    singles = {
        "de": "Guten Tag, anbei die Kartendaten für die Hotelbuchung: {card}, Ablauf {exp}, Inhaber {name}.",
        "fr": "Bonjour, le paiement a été refusé pour la carte n° {card} (expire {exp}) de {name}.",
        "it": "Buongiorno, la carta di credito n. {card} intestata a {name} risulta bloccata.",
        "es": "Hola, adjunto los datos: tarjeta {card}, vence {exp}, a nombre de {name}.",
        "nl": "Hallo, de creditcard {card} van {name} is geweigerd (geldig tot {exp}).",
    }
    for lang, tpl in singles.items():
        text = tpl.format(card=card_text(rng), exp=exp(rng), name=name(rng, lang))
        out.append(
            Spec(
                "card",
                True,
                lang,
                "card in mail body",
                Doc("Re: Buchung", [text]),
                formats=("eml", "docx", "pdf"),
            )
        )
    rows = [["Name", "PAN", "CVV"]] + [
        [name(rng, "en"), card_text(rng), f"{rng.randrange(100, 999)}"] for _ in range(5)
    ]
    out.append(
        Spec(
            "card",
            True,
            "en",
            "card table on third sheet",
            Doc("Reconciliation", [], {"Notes": [["see sheet 3"]], "Totals": [["EUR", "1200"]], "Raw": rows}),
            formats=("xlsx", "ods", "pptx"),
        )
    )
    ibans = {
        "de": "Gehaltsabrechnung März 2025\nMitarbeiterin: {name}\nAuszahlung auf IBAN {iban}\n"
        "Netto: {amt} EUR",
        "fr": "Attestation de RIB\nTitulaire du compte : {name}\nIBAN : {iban}\n"
        "Domiciliation : Agence Centre",
        "it": "Estratto conto n. 3/2025\nCorrentista: {name}\nIBAN: {iban}\nSaldo finale: {amt} €",
        "es": "Certificado de titularidad bancaria\nD./Dña. {name} es titular de la cuenta {iban}.",
        "nl": "Bankafschrift maart\n{name}\nRekening {iban}\nEindsaldo: € {amt}",
        "en": "Loan application\nApplicant: {name}\nSalary is paid into IBAN {iban}\n"
        "Monthly net income: {amt}",
    }
    for lang, tpl in ibans.items():
        lines = tpl.format(
            name=name(rng, lang), iban=iban_text(rng, lang), amt=amount(rng, lang)
        ).splitlines()
        out.append(
            Spec(
                "iban_customer",
                True,
                lang,
                "customer IBAN, second phrasing",
                Doc(lines[0], lines[1:]),
                formats=("pdf", "docx", "odt", "txt", "eml"),
            )
        )
    crm = [
        {
            "customerId": f"C{rng.randrange(10**5)}",
            "fullName": name(rng, "de"),
            "iban": iban_text(rng, "de", False),
        }
        for _ in range(2)
    ]
    out.append(
        Spec(
            "iban_customer",
            True,
            "de",
            "CRM export json, two records",
            raw=("json", json.dumps(crm, indent=2)),
        )
    )
    marks = [
        ("de", "eml-subject", "[VERTRAULICH] Budget 2026"),
        ("en", "banner", "*** STRICTLY CONFIDENTIAL ***"),
        ("fr", "footer", "Confidentiel – ne pas diffuser"),
        ("it", "field", "Classificazione: RISERVATO"),
        ("de", "field", "Vertraulichkeitsstufe: vertraulich"),
        ("en", "field", "Document classification: C3 – Confidential"),
        ("es", "header", "DOCUMENTO CONFIDENCIAL"),
        ("nl", "footer", "Vertrouwelijk | Pagina 1 van 2"),
        ("en", "front-matter", "classification: restricted"),
        ("en", "xml", "<classification>Strictly Confidential</classification>"),
        ("fr", "title", "Strictement confidentiel : plan de financement 2026"),
        ("it", "title", "RISERVATO – Piano industriale 2026-2028"),
    ]
    for lang, where, mark in marks:
        body = ["The plan assumes a cost reduction of 12 percent.", "Approval is expected in June."]
        if where == "eml-subject":
            out.append(
                Spec("marking", True, lang, "marking in mail subject", Doc(mark, body), formats=("eml",))
            )
        elif where in ("banner", "header"):
            out.append(
                Spec(
                    "marking",
                    True,
                    lang,
                    f"marking {where}",
                    Doc("Finanzplan", body, header=mark),
                    formats=("docx", "md", "pdf"),
                )
            )
        elif where == "footer":
            out.append(
                Spec(
                    "marking",
                    True,
                    lang,
                    "marking footer",
                    Doc("Plan", body, footer=mark),
                    formats=("pptx", "docx", "odt"),
                )
            )
        elif where == "front-matter":
            out.append(
                Spec(
                    "marking",
                    True,
                    lang,
                    "markdown front matter",
                    raw=("md", f"---\ntitle: Funding plan\n{mark}\n---\n\n# Funding plan\n\n{body[0]}\n"),
                )
            )
        elif where == "xml":
            out.append(
                Spec(
                    "marking",
                    True,
                    lang,
                    "xml classification element",
                    raw=(
                        "xml",
                        f'<?xml version="1.0"?>\n<memo>\n  {mark}\n  <body>{body[0]}</body>\n</memo>\n',
                    ),
                )
            )
        else:
            out.append(
                Spec(
                    "marking",
                    True,
                    lang,
                    f"marking {where}",
                    Doc(mark if where == "title" else "Plan", [] if where == "title" else [mark, *body]),
                    formats=("xlsx", "txt", "odt", "pptx"),
                )
            )
    tok = fakes.token(rng, 36)
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "npmrc auth token",
            raw=("npmrc", f"//registry.npmjs.org/:_authToken=npm_{tok}\n"),
        )
    )
    auth = base64.b64encode(f"deploy:{password(rng)}".encode()).decode()
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "docker config auth",
            raw=("json", json.dumps({"auths": {"registry.corp.local": {"auth": auth}}}, indent=2)),
        )
    )
    kube_key = base64.b64encode(fakes.private_key(rng, "RSA ", 6).encode()).decode()
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "kubeconfig with client key",
            raw=("yaml", f"users:\n- name: admin\n  user:\n    client-key-data: {kube_key}\n"),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "pgpass line",
            raw=("pgpass", f"db-prod.internal:5432:ledger:app:{password(rng)}\n"),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "netrc",
            raw=("netrc", f"machine git.corp.local login ci password {password(rng)}\n"),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "de",
            "Zugangsdaten docx",
            Doc(
                "Zugangsdaten Lieferantenportal", ["Benutzername: ext-partner", f"Kennwort: {password(rng)}"]
            ),
            formats=("docx", "pdf"),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "private key attached to mail",
            Doc("key for the sftp job", fakes.private_key(rng, "OPENSSH ", 6).splitlines()),
            formats=("eml",),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "terraform tfvars",
            raw=("tfvars", f'client_id     = "app-ledger"\nclient_secret = "{fakes.token(rng, 34)}"\n'),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "mongodb uri in python",
            raw=("py", f'MONGO_URI = "mongodb+srv://svc:{password(rng)}@cluster0.corp.local/ledger"\n'),
        )
    )
    return out


DISCLAIMER = {
    "en": "This e-mail is confidential and may be privileged. "
    "If you are not the intended recipient, delete it.",
    "de": "Diese E-Mail enthält vertrauliche Informationen. "
    "Wenn Sie nicht der richtige Adressat sind, löschen Sie sie.",
    "fr": "Ce message est confidentiel. Si vous n'en êtes pas le destinataire, merci de le supprimer.",
    "it": "Questo messaggio è riservato. Se non siete i destinatari, vi preghiamo di cancellarlo.",
    "es": "Este mensaje es confidencial. Si usted no es el destinatario, bórrelo.",
    "nl": "Dit bericht is vertrouwelijk. Bent u niet de geadresseerde, verwijder het dan.",
}
INVOICE2 = {
    "en": "Invoice 4471\nCustomer: {client}\nNet 14 days. Remittance advice to accounts@example.test.\n"
    "IBAN {iban}",
    "de": "Rechnung 88-{n}\nKunde: {client}\nZahlungsziel: 14 Tage netto.\nKonto: IBAN {iban}",
    "fr": "Facture F-{n}\nClient : {client}\nÉchéance : 30 jours.\nRIB : IBAN {iban}",
    "it": "Fattura {n}\nCliente: {client}\nScadenza pagamento: 30 gg d.f.\nIBAN {iban}",
    "es": "Factura {n}\nCliente: {client}\nVencimiento: 30 días.\nCuenta de abono: {iban}",
    "nl": "Factuur {n}\nKlant: {client}\nBetaaltermijn: 14 dagen.\nIBAN: {iban}",
}


def placement_negative_specs(rng: random.Random) -> list[Spec]:
    out = []
    for lang in LANGS:
        body = [f"{name(rng, lang)}", "Tel. +41 44 555 12 12", "", "-- ", DISCLAIMER[lang]]
        out.append(
            Spec(
                "confidential_prose",
                False,
                lang,
                "mail disclaimer",
                Doc("Re: Termin", body),
                formats=("eml",),
            )
        )
        text = INVOICE2[lang].format(
            n=rng.randrange(1000, 9999), client=name(rng, lang), iban=iban_text(rng, lang)
        )
        lines = text.splitlines()
        out.append(
            Spec(
                "invoice_own_iban",
                False,
                lang,
                "invoice, terse payment line",
                Doc(lines[0], lines[1:]),
                formats=("pdf", "odt", "docx", "txt"),
            )
        )
    out.append(
        Spec(
            "benign_business",
            False,
            "en",
            "secret santa",
            Doc(
                "Secret Santa 2025",
                ["Secret Santa – sign-up sheet", "Budget: 20 EUR per gift. Draw on Friday."],
            ),
            formats=("docx", "md"),
        )
    )
    out.append(
        Spec(
            "benign_business",
            False,
            "en",
            "RSU plan",
            Doc(
                "Restricted Stock Units",
                ["Restricted stock units vest over four years.", "Grants are reviewed every March."],
            ),
            formats=("pdf", "txt"),
        )
    )
    out.append(
        Spec(
            "public_key_material",
            False,
            "en",
            "pgp public key",
            raw=(
                "asc",
                "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
                + fakes.pem_body(rng, 6)
                + "\n-----END PGP PUBLIC KEY BLOCK-----\n",
            ),
        )
    )
    out.append(
        Spec(
            "public_key_material",
            False,
            "en",
            "docker compose with variables",
            raw=(
                "yaml",
                "services:\n  db:\n    image: postgres:16\n    environment:\n"
                "      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}\n",
            ),
        )
    )
    out.append(
        Spec(
            "public_key_material",
            False,
            "en",
            "readme with placeholder export",
            raw=(
                "md",
                "# Setup\n\n```sh\nexport AWS_SECRET_ACCESS_KEY=<your secret key>\n"
                "export DB_PASSWORD=...\n```\n",
            ),
        )
    )
    out.append(
        Spec(
            "public_key_material",
            False,
            "de",
            "password policy with rules",
            Doc(
                "Passwortrichtlinie",
                [
                    "Passwörter müssen mindestens 12 Zeichen lang sein und "
                    "Ziffern sowie Sonderzeichen enthalten.",
                    "Das Passwort wird alle 90 Tage geändert.",
                ],
            ),
            formats=("docx", "pdf"),
        )
    )
    uuids = {
        "tenant_id": "3f1e2d4c-5b6a-4798-8a9b-0c1d2e3f4a5b",
        "subscription_id": "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
        "build": fakes.token(rng, 40, "0123456789abcdef"),
    }
    out.append(
        Spec(
            "lookalike_numbers", False, "en", "ids in json config", raw=("json", json.dumps(uuids, indent=2))
        )
    )
    phones = [
        f"{name(rng, lang)}: +{rng.choice([41, 49, 33, 39])} "
        f"{rng.randrange(100, 999)} {rng.randrange(1000000, 9999999)}"
        for lang in LANGS
    ]
    out.append(
        Spec("benign_business", False, "en", "phone list", Doc("On-call", phones), formats=("txt", "pdf"))
    )
    out.append(
        Spec(
            "test_cards",
            False,
            "de",
            "test cards csv",
            raw=(
                "csv",
                "Testkarte;Marke;Ergebnis\n"
                "4111 1111 1111 1111;Visa;akzeptiert\n5555 5555 5555 4444;Mastercard;akzeptiert\n"
                "4000 0000 0000 0002;Visa;abgelehnt\n378282246310005;Amex;akzeptiert\n",
            ),
        )
    )
    out.append(
        Spec(
            "benign_business",
            False,
            "it",
            "meeting minutes",
            Doc(
                "Verbale riunione",
                [
                    f"Presenti: {name(rng, 'it')}, {name(rng, 'it')}",
                    "Il budget per il 2026 è approvato.",
                    f"Prossima riunione: 12/06 ore 10:00, sala {rng.randrange(1, 9)}",
                ],
            ),
            formats=("odt", "docx"),
        )
    )
    _ = COMPANY, amount
    return out
