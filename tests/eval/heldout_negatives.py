"""Hard negatives of the held-out-style set: look like leaks, are not (fake values only).

Invoices with the company's own IBAN, contract and privacy prose about confidentiality, public test
cards in QA notes, public keys and config templates, look-alike numbers, ordinary business documents.
"""

from __future__ import annotations

import base64
import random

from tests.eval.formats import Doc
from tests.eval.heldout_docs import COMPANY, LANGS, Spec, amount, iban_text, name
from tests.helpers import luhn_complete
from tests.unit.classify import fakes

HEX = "0123456789abcdef"
INVOICE = {
    "en": "Invoice {n}\nBill to: {client}\nCustomer no. {k}\nConsulting services March: {amt}\n"
    "Total: {amt} GBP\n"
    "Please settle within 30 days by bank transfer to {own}, IBAN {iban}, quoting the invoice number.",
    "de": "Rechnung Nr. {n}\nKunde: {client}\nKundennummer: {k}\nBeratungsleistungen März: {amt} EUR\n"
    "Wir bitten um Zahlung bis zum 30.04.2025 auf das Konto {iban} ({own}).",
    "fr": "Facture n° {n}\nClient : {client}\nN° client : {k}\nPrestations de mars : {amt} €\n"
    "Règlement par virement bancaire à l'ordre de {own}, IBAN {iban}.",
    "it": "Fattura n. {n}\nCliente: {client}\nCodice cliente: {k}\nServizi di marzo: {amt} €\n"
    "Pagamento tramite bonifico bancario sul conto IBAN {iban} intestato a {own}.",
    "es": "Factura nº {n}\nCliente: {client}\nN.º de cliente: {k}\nServicios de marzo: {amt} €\n"
    "Forma de pago: transferencia bancaria a la cuenta {iban} de {own}.",
    "nl": "Factuur {n}\nKlant: {client}\nKlantnummer: {k}\nDiensten maart: € {amt}\n"
    "Gelieve het bedrag binnen 30 dagen over te maken op rekening {iban} t.n.v. {own}.",
}
NDA = {
    "en": (
        "Mutual Non-Disclosure Agreement",
        [
            "1. Confidential Information",
            "Each party shall keep the other party's confidential information secret "
            "and use it only for the Purpose.",
            "2. Term",
            "The obligations survive for three years after termination.",
        ],
    ),
    "de": (
        "Geheimhaltungsvereinbarung",
        [
            "§ 1 Vertrauliche Informationen",
            "Die Parteien verpflichten sich, alle vertraulichen Informationen geheim zu halten.",
            "§ 2 Laufzeit",
            "Die Pflichten gelten drei Jahre über das Vertragsende hinaus.",
        ],
    ),
    "fr": (
        "Accord de confidentialité",
        [
            "Article 1 – Informations confidentielles",
            "Chaque partie s'engage à garder strictement confidentielles les informations reçues.",
            "Article 2 – Durée",
            "Les obligations subsistent trois ans après la fin du contrat.",
        ],
    ),
    "it": (
        "Accordo di riservatezza",
        [
            "Art. 1 – Informazioni riservate",
            "Le parti si impegnano a mantenere riservate tutte le informazioni ricevute.",
            "Art. 2 – Durata",
            "Gli obblighi restano in vigore per tre anni.",
        ],
    ),
    "es": (
        "Acuerdo de confidencialidad",
        [
            "Cláusula 1 – Información confidencial",
            "Las partes mantendrán la información confidencial en secreto.",
            "Cláusula 2 – Duración",
            "Las obligaciones se mantienen durante tres años.",
        ],
    ),
    "nl": (
        "Geheimhoudingsovereenkomst",
        [
            "Artikel 1 – Vertrouwelijke informatie",
            "Partijen houden alle vertrouwelijke informatie geheim.",
            "Artikel 2 – Duur",
            "De verplichtingen gelden drie jaar na beëindiging.",
        ],
    ),
}
PRIVACY = {
    "en": (
        "Privacy notice",
        [
            "We treat your personal data as confidential and never sell it.",
            "Confidentiality is part of every employment contract.",
        ],
    ),
    "de": (
        "Datenschutzhinweis",
        [
            "Wir behandeln Ihre Daten vertraulich und geben sie nicht weiter.",
            "Alle Mitarbeitenden sind zur Vertraulichkeit verpflichtet.",
        ],
    ),
    "fr": (
        "Politique de confidentialité",
        [
            "Vos données sont traitées de manière confidentielle.",
            "Le secret bancaire s'applique à toutes les informations de nos clients.",
        ],
    ),
    "it": (
        "Informativa sulla privacy",
        [
            "I suoi dati sono trattati in modo riservato.",
            "Il segreto bancario tutela tutte le informazioni dei clienti.",
        ],
    ),
    "es": (
        "Política de privacidad",
        ["Tratamos sus datos de forma confidencial.", "El personal está sujeto al secreto profesional."],
    ),
    "nl": (
        "Privacyverklaring",
        ["Wij behandelen uw gegevens vertrouwelijk.", "Medewerkers zijn gebonden aan geheimhouding."],
    ),
}
TEST_CARDS = (
    "4242 4242 4242 4242",
    "4111111111111111",
    "5555 5555 5555 4444",
    "378282246310005",
    "6011111111111117",
)
TEST_INTRO = {
    "en": "QA checklist: use these test cards in the staging checkout only.",
    "de": "Testdaten: In der Testumgebung nur diese Testkarten verwenden.",
    "fr": "Recette : utiliser uniquement ces cartes de test dans l'environnement de test.",
    "it": "Collaudo: usare solo queste carte di test nell'ambiente di test.",
    "es": "Pruebas: utilice solo estas tarjetas de prueba en el entorno de pruebas.",
    "nl": "Testplan: gebruik alleen deze testkaarten in de testomgeving.",
}
STATUS = {
    "en": (
        "Weekly status",
        ["Migration of the reporting cluster finished on Tuesday.", "Next review on 14 May in room B2."],
    ),
    "de": (
        "Wochenbericht",
        ["Die Migration des Reporting-Clusters ist abgeschlossen.", "Nächste Sitzung am 14. Mai."],
    ),
    "fr": (
        "Point hebdomadaire",
        ["La migration du cluster de reporting est terminée.", "Prochaine revue le 14 mai."],
    ),
    "it": (
        "Stato settimanale",
        ["La migrazione del cluster di reporting è conclusa.", "Prossima revisione il 14 maggio."],
    ),
    "es": (
        "Estado semanal",
        ["La migración del clúster de informes ha terminado.", "Próxima revisión el 14 de mayo."],
    ),
    "nl": (
        "Weekstatus",
        ["De migratie van het rapportagecluster is afgerond.", "Volgende review op 14 mei."],
    ),
}
INTERNAL = {
    "en": "Internal use only",
    "de": "Nur für den internen Gebrauch",
    "fr": "Usage interne",
    "it": "Uso interno",
    "es": "Uso interno",
    "nl": "Alleen voor intern gebruik",
}


def _not_luhn(rng: random.Random, n: int) -> str:
    while True:
        v = str(rng.randrange(10 ** (n - 1), 10**n))
        if luhn_complete(v[:-1]) != v:
            return v


def _ean13(rng: random.Random) -> str:
    body = "40" + "".join(rng.choice("0123456789") for _ in range(10))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


def _isbn13(rng: random.Random) -> str:
    body = "978" + "".join(rng.choice("0123456789") for _ in range(9))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


def negative_specs(rng: random.Random) -> list[Spec]:
    out = []
    for lang in LANGS:
        own = COMPANY[lang]
        text = INVOICE[lang].format(
            n=f"2025-{rng.randrange(100, 999)}",
            client=name(rng, lang),
            own=own,
            k=rng.randrange(10**4, 10**5),
            amt=amount(rng, lang),
            iban=iban_text(rng, lang),
        )
        lines = text.splitlines()
        out.append(
            Spec(
                "invoice_own_iban",
                False,
                lang,
                "invoice with own IBAN",
                Doc(lines[0], lines[1:]),
                formats=("pdf", "docx", "txt", "odt"),
            )
        )
        title, body = NDA[lang]
        out.append(
            Spec(
                "confidential_prose",
                False,
                lang,
                "NDA with defined-term headings",
                Doc(title, body),
                formats=("docx", "pdf", "md", "txt"),
            )
        )
        title, body = PRIVACY[lang]
        out.append(
            Spec(
                "confidential_prose",
                False,
                lang,
                "privacy notice",
                Doc(title, body),
                formats=("md", "txt", "pdf"),
            )
        )
        cards = rng.sample(TEST_CARDS, 3)
        out.append(
            Spec(
                "test_cards",
                False,
                lang,
                "public test cards in QA notes",
                Doc("QA", [TEST_INTRO[lang], *cards]),
                formats=("md", "txt", "docx"),
            )
        )
        title, body = STATUS[lang]
        out.append(
            Spec(
                "benign_business",
                False,
                lang,
                "status report",
                Doc(title, body, header=INTERNAL[lang]),
                formats=("docx", "pdf", "txt", "pptx"),
            )
        )
        phones = [["Name", "Tel.", "E-Mail"]] + [
            [
                n,
                f"+{rng.choice([41, 49, 33, 39, 34, 31])} {rng.randrange(10, 99)} {rng.randrange(100, 999)} "
                f"{rng.randrange(10, 99)} {rng.randrange(10, 99)}",
                n.split()[0].lower() + "@example.test",
            ]
            for n in [name(rng, lang) for _ in range(4)]
        ]
        out.append(
            Spec(
                "benign_business",
                False,
                lang,
                "phone list",
                Doc("Contacts", [], {"Contacts": phones}),
                formats=("xlsx", "csv", "ods"),
            )
        )
    out.append(
        Spec(
            "confidential_prose",
            False,
            "en",
            "classification standard",
            Doc(
                "Data classification standard",
                [
                    "Every document carries one of four labels: public, internal, confidential or strictly "
                    "confidential.",
                    "| Label | Examples |",
                    "| Confidential | client data, contracts, salaries of all staff |",
                    "| Internal | org charts, project plans and minutes |",
                ],
            ),
            formats=("md",),
        )
    )
    cert = "-----BEGIN CERTIFICATE-----\n" + fakes.pem_body(rng, 8) + "\n-----END CERTIFICATE-----"
    pub = "-----BEGIN PUBLIC KEY-----\n" + fakes.pem_body(rng, 4) + "\n-----END PUBLIC KEY-----"
    ssh = "ssh-ed25519 " + base64.b64encode(rng.randbytes(51)).decode() + " deploy@build"
    out.append(
        Spec(
            "public_key_material",
            False,
            "en",
            "certificate and public key",
            Doc(
                "Trust store",
                ["Import the CA certificate:", *cert.splitlines(), "Verification key:", *pub.splitlines()],
            ),
            formats=("txt", "md", "docx"),
        )
    )
    out.append(Spec("public_key_material", False, "en", "authorized_keys", raw=("txt", ssh + "\n")))
    templates = [
        (
            "env",
            "DB_HOST=localhost\nDB_PASSWORD=<set-me>\nAPI_KEY=your-api-key-here\nSECRET_KEY=${SECRET_KEY}\n",
        ),
        (
            "yaml",
            'database:\n  user: app\n  password: "{{ vault_db_password }}"\nsmtp:\n  password: changeme\n',
        ),
        (
            "ini",
            "[aws]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = "
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
        ),
        ("json", '{"db": {"user": "app", "password": "********"}, "token": "<paste token here>"}'),
        (
            "env",
            "# Kopieren nach .env\nDATENBANK_PASSWORT=\n"
            "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
        ),
    ]
    for ext, text in templates:
        out.append(
            Spec("public_key_material", False, "en", "config template with placeholders", raw=(ext, text))
        )
    lookalike = [
        f"Order {_not_luhn(rng, 16)} shipped; tracking {_not_luhn(rng, 18)}.",
        f"Request id {fakes.token(rng, 8, HEX)}-4b1e-9a3c-7e4f-{fakes.token(rng, 12, HEX)}",
        f"Commit {fakes.token(rng, 40, '0123456789abcdef')} fixes the export.",
        f"ISBN {_isbn13(rng)} and {_isbn13(rng)} were ordered for the library.",
        "sha256 " + fakes.token(rng, 64, "0123456789abcdef"),
        f"IBAN check failed for DE{rng.randrange(10, 99)} {_not_luhn(rng, 4)} {_not_luhn(rng, 4)} 0000 00.",
    ]
    out.append(
        Spec(
            "lookalike_numbers",
            False,
            "en",
            "ids, hashes, order numbers",
            Doc("Export log", lookalike),
            formats=("log", "txt"),
        )
    )
    eans = [["Artikel", "EAN", "Preis"]] + [
        [f"Artikel {i}", _ean13(rng), amount(rng, "de")] for i in range(8)
    ]
    out.append(
        Spec(
            "lookalike_numbers",
            False,
            "de",
            "EAN product list",
            Doc("Artikel", [], {"Artikel": eans}),
            formats=("xlsx", "csv"),
        )
    )
    return out
