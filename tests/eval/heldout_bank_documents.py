"""Bank documents and tool configs ("bank_documents" set), written blind after the earlier sets were tuned:
document kinds, phrasings and languages none of the earlier sets or the packs' word lists use (loan
servicing, wealth reports, MT940, payroll and CRM exports headed in other languages, ticket and chat
pastes, OCR text; labels such as "Vertraulich – nur für den Dienstgebrauch"; tfvars, kubeconfig, .npmrc,
.pypirc, .netrc, compose and CI files; remittance advice, supplier master data, IBAN documentation,
marketing and job-ad prose). Fake values only."""

from __future__ import annotations

import random

from tests.eval.formats import Doc
from tests.eval.heldout_docs import COMPANY, Spec, amount, card_text, name, password
from tests.helpers import luhn_complete
from tests.unit.classify import fakes


def _ib(rng: random.Random, country: str, grouped: bool = True) -> str:
    value = fakes.iban(rng, country)
    return fakes.grouped(value) if grouped else value


def _iban_positives(rng: random.Random) -> list[Spec]:
    out = []
    rows = [["loan_no", "obligor", "payout_iban", "principal_outstanding", "next_instalment"]] + [
        [
            f"LN-{rng.randrange(10**5, 10**6)}",
            name(rng, "en"),
            _ib(rng, "GB", False),
            amount(rng, "en"),
            "2025-07-01",
        ]
        for _ in range(2)
    ]
    out.append(
        Spec(
            "iban_customer",
            True,
            "en",
            "loan servicing export",
            Doc("loans", [], {"loans": rows}),
            formats=("csv",),
        )
    )
    out.append(
        Spec(
            "iban_customer",
            True,
            "en",
            "wealth management client report",
            Doc(
                "Portfolio valuation as of 30 June 2025",
                [
                    f"Prepared for: Mr and Mrs {name(rng, 'en')}",
                    "Mandate type: discretionary, balanced profile",
                    f"Settlement account: {_ib(rng, 'CH')}",
                    f"Total assets under management: CHF {amount(rng, 'en')}",
                    "Performance year to date: +4.2 %",
                ],
            ),
            formats=("pdf",),
        )
    )
    iban = _ib(rng, "DE", False)
    mt940 = (
        ":20:STMT250630\n:25:" + iban + "\n:28C:00118/001\n:60F:C250629EUR18432,17\n"
        ":61:2506300630DR1250,00NTRFNONREF//0934\n:86:166?00SEPA-UEBERWEISUNG?20MIETE JUNI\n"
        ":62F:C250630EUR17182,17\n-\n"
    )
    out.append(Spec("iban_customer", True, "de", "SWIFT MT940 statement", raw=("sta", mt940)))
    rows = [["Personalnr", "Nachname", "Vorname", "IBAN", "Netto"]] + [
        [str(rng.randrange(1000, 9999)), n.split()[1], n.split()[0], _ib(rng, "DE"), amount(rng, "de")]
        for n in ("Jürgen Weiß", "Katrin Vogt")
    ]
    out.append(
        Spec(
            "iban_customer",
            True,
            "de",
            "payroll export, German headers",
            Doc("Auszahlung Juni", [], {"Juni": rows}),
            formats=("xlsx",),
        )
    )
    rows = [["Nombre", "Apellidos", "IBAN", "Fecha alta"]] + [
        [n.split()[0], n.split()[1], _ib(rng, "ES", False), "2024-11-03"]
        for n in ("Carmen Ibáñez", "Pablo Serrano")
    ]
    out.append(
        Spec(
            "iban_customer",
            True,
            "es",
            "CRM export, Spanish headers",
            Doc("Contactos", [], {"export": rows}),
            formats=("ods",),
        )
    )
    out.append(
        Spec(
            "iban_customer",
            True,
            "en",
            "ticket export with pasted bank details",
            Doc(
                "Ticket #48213 - Change payout details",
                [
                    f"Requester: {name(rng, 'en')} <h.pike@example.net>",
                    "Status: pending verification",
                    f"Comment (requester): please send future refunds to {_ib(rng, 'GB')}"
                    " instead of the old one.",
                    "Comment (agent): verified identity via callback.",
                ],
            ),
            formats=("log", "txt"),
        )
    )
    out.append(
        Spec(
            "iban_customer",
            True,
            "fr",
            "support chat log",
            Doc(
                "Transcription du chat",
                [
                    "[10:02] Agent Léa : Bonjour, comment puis-je vous aider ?",
                    f"[10:03] {name(rng, 'fr')} : je voudrais que le remboursement"
                    f" arrive sur {_ib(rng, 'FR')}",
                    "[10:04] Agent Léa : C'est noté, ce sera fait sous 48 h.",
                ],
            ),
            formats=("txt",),
        )
    )
    de = _ib(rng, "DE")
    out.append(
        Spec(
            "iban_customer",
            True,
            "de",
            "OCR of a scanned claim form, odd spacing",
            Doc(
                "S c h a d e n m e l d u n g",
                [
                    "Versicherungs nehmer :  Lukas   Brandt",
                    "Vers.-Nr. :  KV  4471 - 09",
                    f"Bankverbindung  für  die  Erstattung :  {de}",
                    "Unterschrift  : ____________",
                ],
            ),
            formats=("pdf",),
        )
    )
    out.append(
        Spec(
            "iban_customer",
            True,
            "it",
            "MiFID investor profile",
            Doc(
                "Questionario di profilatura MiFID",
                [
                    f"Investitore: {name(rng, 'it')}",
                    "Profilo di rischio: moderato",
                    f"Conto di regolamento: {_ib(rng, 'IT')}",
                    "Esperienza in strumenti derivati: nessuna",
                ],
            ),
            formats=("docx",),
        )
    )
    out.append(
        Spec(
            "iban_customer",
            True,
            "nl",
            "mortgage file",
            Doc(
                "Hypotheekdossier 2025-0193",
                [
                    f"Geldnemer: {name(rng, 'nl')}",
                    f"Hoofdsom: € {amount(rng, 'nl')}",
                    f"IBAN voor maandlasten: {_ib(rng, 'NL')}",
                    "Rentevaste periode: 10 jaar",
                ],
            ),
            formats=("odt",),
        )
    )
    rec = (
        '[{"firstName": "Grace", "lastName": "Whitfield", "dob": "1984-03-12", '
        f'"iban": "{_ib(rng, "GB", False)}", "riskScore": 12}}]\n'
    )
    out.append(Spec("iban_customer", True, "en", "API dump of one person record", raw=("json", rec)))
    out.append(
        Spec(
            "iban_customer",
            True,
            "en",
            "insurance claim reimbursement",
            Doc(
                "Claim CLM-2025-7781",
                [
                    f"Policyholder: {name(rng, 'en')}",
                    "Incident: water damage, kitchen",
                    f"Reimburse to: {_ib(rng, 'GB')}",
                    f"Approved amount: GBP {amount(rng, 'en')}",
                ],
            ),
            formats=("eml",),
        )
    )
    return out


def _card_positives(rng: random.Random) -> list[Spec]:
    rows = [["Huésped", "Habitación", "Tarjeta garantía", "Caducidad"]] + [
        [name(rng, "es"), str(rng.randrange(100, 500)), card_text(rng), "07/28"] for _ in range(2)
    ]
    return [
        Spec(
            "card",
            True,
            "es",
            "hotel PMS guarantee export",
            Doc("Llegadas", [], {"llegadas": rows}),
            formats=("xlsx",),
        ),
        Spec(
            "card",
            True,
            "nl",
            "chat with card number",
            Doc(
                "Chat",
                [
                    "[14:10] klant: de betaling lukt niet",
                    f"[14:11] klant: mijn pasnummer is {fakes.grouped(fakes.card(rng, '52', 16))}",
                ],
            ),
            formats=("txt",),
        ),
        Spec(
            "card",
            True,
            "en",
            "payment gateway debug log",
            raw=(
                "log",
                f'2025-06-30T10:12:01Z DEBUG gw request={{"pmt_instrument": "{fakes.card(rng, "4", 16)}", '
                '"amt": 129.90, "ccy": "EUR"}\n',
            ),
        ),
    ]


def _marking_positives(rng: random.Random) -> list[Spec]:
    body = ["The steering group approved the revised timeline.", "Next review is scheduled for September."]
    cases = [
        ("en", "Internal use only – confidential", "", ("docx",)),
        ("fr", "CONFIDENTIEL – NE PAS DIFFUSER", "", ("pdf",)),
        ("it", "RISERVATO – USO INTERNO", "", ("odt",)),
        ("de", "Vertraulich – nur für den Dienstgebrauch", "", ("docx",)),
        ("en", "", "Page 3 of 7 | Strictly Confidential", ("pdf",)),
        ("es", "CONFIDENCIAL – PROHIBIDA SU DIFUSIÓN", "", ("md",)),
        ("nl", "", "VERTROUWELIJK – NIET VERSPREIDEN – pagina 2/5", ("pptx",)),
        ("en", "Sensitivity: Confidential \\ Recipients Only", "", ("eml",)),
        ("en", "PRIVILEGED & CONFIDENTIAL", "", ("txt",)),
        ("de", "", "Nordfeld GmbH – Dokument nur für interne Zwecke – VERTRAULICH", ("pdf",)),
    ]
    return [
        Spec(
            "marking",
            True,
            lang,
            f"label: {header or footer}",
            Doc("Projekt Status Q3", body, header=header, footer=footer),
            formats=fmts,
        )
        for lang, header, footer, fmts in cases
    ]


def _credential_positives(rng: random.Random) -> list[Spec]:
    tok = fakes.token
    return [
        Spec(
            "credential",
            True,
            "en",
            "terraform tfvars",
            raw=(
                "tfvars",
                f'region = "eu-central-1"\nhcloud_token = "{tok(rng, 64)}"\ninstance_type = "cx21"\n',
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "kubeconfig bearer token",
            raw=(
                "yaml",
                "apiVersion: v1\nkind: Config\nusers:\n- name: ci-deployer\n  user:\n"
                f"    token: {tok(rng, 40)}.{tok(rng, 24)}\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            ".npmrc auth token",
            raw=(
                "npmrc",
                f"registry=https://npm.corp.local/\n//npm.corp.local/:_authToken=npm_{tok(rng, 36)}\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            ".pypirc upload token",
            raw=("pypirc", f"[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc{tok(rng, 60)}\n"),
        ),
        Spec(
            "credential",
            True,
            "en",
            ".netrc line",
            raw=("netrc", f"machine artifacts.corp.local login deploy password {password(rng)}\n"),
        ),
        Spec(
            "credential",
            True,
            "en",
            "docker-compose environment",
            raw=(
                "yml",
                "services:\n  db:\n    image: mariadb:11\n    environment:\n"
                f"      MARIADB_ROOT_PASSWORD: {password(rng)}\n      MARIADB_DATABASE: shop\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "CI yaml variable",
            raw=(
                "yml",
                "variables:\n  SONAR_HOST_URL: https://sonar.corp.local\n"
                f"  SONAR_TOKEN: squ_{tok(rng, 40, '0123456789abcdef')}\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "SMTP URL with credentials",
            raw=("ini", f"[mail]\nurl = smtps://alerts:{password(rng)}@mail.corp.local:465\n"),
        ),
        Spec(
            "credential",
            True,
            "de",
            "handover mail with login",
            Doc("Übergabe", ["Zugang zum NAS:", "Benutzer: backup-svc", f"PW: {password(rng)}"]),
            formats=("eml",),
        ),
    ]


def _negatives(rng: random.Random) -> list[Spec]:
    out = [
        Spec(
            "invoice_own_iban",
            False,
            "en",
            "supplier statement of account",
            Doc(
                f"{COMPANY['en']} – Statement of account",
                [
                    "To: Riverside Foods plc",
                    f"Outstanding as at 30 June: GBP {amount(rng, 'en')}",
                    "Kindly wire the outstanding sum, quoting your customer reference.",
                    f"Our bank: Barclays, {_ib(rng, 'GB')}",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "de",
            "remittance advice (Zahlungsavis)",
            Doc(
                "Zahlungsavis Nr. 2025-0612",
                [
                    "Sehr geehrte Damen und Herren,",
                    "wir haben heute folgende Belege ausgeglichen: RE-4471, RE-4490.",
                    f"Gutschrift auf Ihr Konto {_ib(rng, 'DE')}, Betrag {amount(rng, 'de')} EUR.",
                ],
            ),
            formats=("eml",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "fr",
            "call for funds of a condominium",
            Doc(
                "Appel de fonds – 3e trimestre",
                [
                    "Copropriété Les Tilleuls",
                    f"Votre quote-part : {amount(rng, 'fr')} €",
                    f"À verser avant le 15 juillet sur le compte du syndic : {_ib(rng, 'FR')}",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "it",
            "supplier master data form of the company",
            Doc(
                "Scheda fornitore",
                [
                    f"Ragione sociale: {COMPANY['it']}",
                    "Partita IVA: IT01234560789",
                    f"IBAN aziendale: {_ib(rng, 'IT')}",
                    "Referente amministrativo: ufficio contabilità",
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "nl",
            "donation appeal",
            Doc(
                "Help mee!",
                ["Steun ons werk met een gift.", f"Giften zijn welkom op {_ib(rng, 'NL')} (ANBI)."],
            ),
            formats=("md",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "es",
            "pro-forma with wire instructions",
            Doc(
                "Proforma PF-2025-044",
                [
                    "Concepto: licencias anuales",
                    f"Total: {amount(rng, 'es')} €",
                    f"Beneficiario: {COMPANY['es']} – {_ib(rng, 'ES')}",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "benign_business",
            False,
            "en",
            "IBAN format documentation",
            Doc(
                "How IBANs are built",
                [
                    "An IBAN has a country code, two check digits and the domestic account number (BBAN).",
                    f"Example of the German layout: {_ib(rng, 'DE')}",
                    "Validate with the mod-97 algorithm before storing.",
                ],
            ),
            formats=("md",),
        ),
        Spec(
            "confidential_prose",
            False,
            "en",
            "marketing: confidential consultation",
            Doc(
                "Talk to an adviser",
                ["Book a free, confidential consultation today.", "Our advisers are strictly confidential."],
            ),
            formats=("md",),
        ),
        Spec(
            "confidential_prose",
            False,
            "es",
            "job ad",
            Doc(
                "Buscamos gestor/a de clientes",
                ["Tratarás información confidencial con discreción.", "Incorporación inmediata."],
            ),
            formats=("docx",),
        ),
        Spec(
            "confidential_prose",
            False,
            "de",
            "privacy notice",
            Doc(
                "Datenschutzhinweise",
                ["Ihre Angaben werden vertraulich behandelt.", "Vertraulichkeit ist uns wichtig."],
            ),
            formats=("pdf",),
        ),
        Spec(
            "confidential_prose",
            False,
            "en",
            "classification policy listing levels",
            Doc(
                "Information classification standard",
                [
                    "Levels: Public, Internal, Confidential, Strictly Confidential.",
                    "Owners choose the level when they create a document.",
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "confidential_prose",
            False,
            "it",
            "mail disclaimer",
            Doc(
                "Re: preventivo",
                [
                    "Grazie, ci sentiamo domani.",
                    "",
                    "Questo messaggio è riservato e destinato unicamente al destinatario.",
                ],
            ),
            formats=("eml",),
        ),
        Spec(
            "placeholder",
            False,
            "en",
            "sample code with placeholder tokens",
            raw=(
                "py",
                'API_TOKEN = "<your-token-here>"\nDB_PASSWORD = "REPLACE_ME"\n'
                "client = Client(token=API_TOKEN)\n"
                'secret_key = "your-secret-key"\n',
            ),
        ),
        Spec(
            "placeholder",
            False,
            "en",
            "helm values with references",
            raw=(
                "yaml",
                'auth:\n  password: "{{ .Values.global.dbPassword }}"\n  existingSecret: db-credentials\n',
            ),
        ),
        Spec(
            "public_key_material",
            False,
            "en",
            "authorized_keys",
            raw=("pub", f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{tok(rng)} deploy@ci\n"),
        ),
        Spec(
            "test_cards",
            False,
            "it",
            "QA test card table in Italian",
            Doc(
                "Carte per il collaudo del checkout",
                [],
                {
                    "carte": [
                        ["Circuito", "Numero", "Esito atteso"],
                        ["Visa", "4111 1111 1111 1111", "autorizzata"],
                        ["Mastercard", "5555 5555 5555 4444", "autorizzata"],
                        ["Amex", "3782 822463 10005", "rifiutata"],
                    ]
                },
            ),
            formats=("docx",),
        ),
        Spec(
            "lookalike_numbers",
            False,
            "de",
            "device inventory with IMEIs",
            Doc(
                "Geräteinventar",
                [],
                {
                    "Geräte": [["Gerät", "IMEI", "Nutzer"]]
                    + [
                        [
                            "Diensthandy",
                            luhn_complete("35" + str(rng.randrange(10**11, 10**12))),
                            "Team",
                        ]
                        for _ in range(3)
                    ]
                },
            ),
            formats=("csv",),
        ),
        Spec(
            "benign_business",
            False,
            "fr",
            "customer letter without account data",
            Doc(
                "Votre dossier",
                [
                    "Madame, votre demande d'ouverture de compte est en cours.",
                    "Cordialement, votre conseiller.",
                ],
            ),
            formats=("pdf",),
        ),
    ]
    return out


def tok(rng: random.Random) -> str:
    return fakes.token(rng, 40)


def bank_document_specs(rng: random.Random) -> list[Spec]:
    """All fifth-set specs (positives then negatives)."""
    return (
        _iban_positives(rng)
        + _card_positives(rng)
        + _marking_positives(rng)
        + _credential_positives(rng)
        + _negatives(rng)
    )
