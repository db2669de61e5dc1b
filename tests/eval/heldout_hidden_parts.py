"""Hidden parts ("hidden_parts" set), written blind after the account-roles set was tuned: the sensitive part
only in a DOCX header/footer, PPTX speaker notes, a second XLSX sheet or a mail attachment; chargeback
reports, call-centre notes, direct-debit mandates, collection letters, chat exports, htpasswd/shadow
lines; and hard negatives (masked PANs, validator docs, hashes and UUIDs, data-URI images, minified JS,
lorem ipsum, CVs).

Decision recorded here: a bcrypt/sha-crypt hash in an htpasswd or shadow line is credential material
(it is crackable offline and grants the account once cracked; a bank treats it as a secret). Fake values
only."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid

from tests.eval.formats import Doc, eml, tar_gz_bytes, zip_bytes
from tests.eval.heldout_docs import COMPANY, Spec, amount, name, password
from tests.unit.classify import fakes

_B64 = string.ascii_letters + string.digits + "+/"


def _ib(rng: random.Random, country: str, grouped: bool = True) -> str:
    value = fakes.iban(rng, country)
    return fakes.grouped(value) if grouped else value


def _docx_bytes(doc: Doc) -> bytes:
    from tests.eval.formats import RENDER

    return RENDER["docx"](doc)


def _xlsx_bytes(doc: Doc) -> bytes:
    from tests.eval.formats import RENDER

    return RENDER["xlsx"](doc)


def _masked(rng: random.Random) -> str:
    n = fakes.card(rng, "4", 16)
    return rng.choice([f"{n[:4]} **** **** {n[-4:]}", f"{n[:6]}******{n[-4:]}", f"XXXX-XXXX-XXXX-{n[-4:]}"])


def _positives(rng: random.Random) -> list[Spec]:
    c = [fakes.card(rng, p, 16) for p in ("4", "51", "2223", "4", "55", "4", "6011")]
    chargebacks = [["Case", "Reason code", "PAN", "Amount", "Status"]] + [
        [f"CB-{7310 + i}", "10.4", c[i], amount(rng, "en"), "open"] for i in range(2)
    ]
    gw_log = "\n".join(
        f"2025-03-0{i + 1}T10:0{i}:22Z INFO psp.authorize merchant=7731 pan={c[2 + i]} amt=12.{i}0 EUR rc=00"
        for i in range(2)
    )
    opposition = Doc(
        "Opposition sur carte",
        [
            f"Client : {name(rng, 'fr')}",
            f"Numéro de carte : {fakes.grouped(c[4])}",
            "Motif : perte déclarée le 03/03, opposition enregistrée par l'agence.",
        ],
    )
    nested = zip_bytes(
        [
            (
                "archivo/pagos.tar.gz",
                tar_gz_bytes(
                    [
                        (
                            "pagos/reserva.txt",
                            f"Reserva 8812 – tarjeta de garantía {c[5]} cad. 09/27, titular "
                            f"{name(rng, 'es')}\n".encode(),
                        )
                    ]
                ),
            )
        ]
    )
    webhook = json.dumps(
        {"event": "payment.created", "data": {"payment_method": {"type": "card", "card": {"number": c[6]}}}},
        indent=2,
    )
    refunds = Doc(
        "Refunds",
        [],
        {
            "Summary": [["Total", "2"]],
            "Customers": [
                ["Customer", "Account", "Refund"],
                [name(rng, "en"), _ib(rng, "GB", False), amount(rng, "en")],
                [name(rng, "en"), _ib(rng, "GB", False), amount(rng, "en")],
            ],
        },
    )
    creds_fr = Doc(
        "Paramètres",
        [],
        {
            "Général": [["Version", "3"]],
            "Identifiants": [
                ["Système", "Utilisateur", "Mot de passe"],
                ["ERP", "adm.compta", password(rng)],
                ["Portail", "p.roux", password(rng)],
            ],
        },
    )
    pkcs8 = "-----BEGIN PRIVATE KEY-----\n" + fakes.pem_body(rng, 8) + "\n-----END PRIVATE KEY-----\n"
    return [
        # ---------------------------------------------------------------- cards
        Spec(
            "card",
            True,
            "en",
            "chargeback report, second sheet",
            Doc("Disputes Q1", [], {"Overview": [["Open cases", "2"]], "Cases": chargebacks}),
            formats=("xlsx",),
        ),
        Spec(
            "card",
            True,
            "en",
            "call-centre note with expiry and CVV",
            Doc(
                "Call note 2025-03-04",
                [
                    "Caller passed ID&V, wants to pay the overdue balance by phone.",
                    f"Card {c[1][:4]} {c[1][4:8]} {c[1][8:12]} {c[1][12:]}, exp 04/28, CVV 713.",
                    "Payment declined once, retried OK.",
                ],
            ),
            formats=("docx",),
        ),
        Spec("card", True, "de", "payment gateway log", raw=("log", gw_log + "\n")),
        Spec(
            "card",
            True,
            "fr",
            "card opposition in a docx mail attachment",
            blob=(
                "eml",
                eml(
                    "Opposition", "Ci-joint la fiche.\n", [("opposition.docx", _docx_bytes(opposition))], "fr"
                ),
            ),
        ),
        Spec(
            "card",
            True,
            "it",
            "card only in pptx speaker notes",
            Doc(
                "Revisione reclami",
                ["Tre reclami aperti", "Tempi medi: 4 giorni"],
                footer=f"Nota: il cliente ha dettato la carta {c[3]} al telefono",
            ),
            formats=("pptx",),
        ),
        Spec("card", True, "es", "card in tar.gz inside zip", blob=("zip", nested)),
        Spec("card", True, "nl", "card in webhook JSON payload", raw=("json", webhook + "\n")),
        # ---------------------------------------------------------------- customer IBANs
        Spec(
            "iban_customer",
            True,
            "de",
            "filled SEPA direct-debit mandate",
            Doc(
                "SEPA-Lastschriftmandat",
                [
                    "Gläubiger-ID: DE98ZZZ09999999999",
                    "Mandatsreferenz: M-2025-0419",
                    f"Name des Zahlungspflichtigen: {name(rng, 'de')}",
                    f"IBAN des Zahlungspflichtigen: {_ib(rng, 'DE')}",
                    "Ort, Datum, Unterschrift: München, 04.03.2025",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "iban_customer",
            True,
            "en",
            "collection letter to a named debtor",
            Doc(
                "Final notice before legal action",
                [
                    f"Dear {name(rng, 'en')},",
                    f"the direct debit from your account {_ib(rng, 'GB')} was returned unpaid twice.",
                    "Unless the arrears are settled within 14 days we will pass the file to our solicitors.",
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "iban_customer",
            True,
            "fr",
            "account closure form",
            Doc(
                "Demande de clôture de compte",
                [
                    f"Titulaire : {name(rng, 'fr')}",
                    f"Compte à fermer : {_ib(rng, 'FR')}",
                    f"Virer le solde vers : {_ib(rng, 'FR')}",
                ],
            ),
            formats=("odt",),
        ),
        Spec(
            "iban_customer",
            True,
            "nl",
            "direct debit batch on second sheet",
            Doc(
                "Incasso maart",
                [],
                {
                    "Info": [["Batch", "2025-03"]],
                    "Incasso": [
                        ["Naam", "Rekening", "Bedrag", "Machtiging"],
                        [name(rng, "nl"), _ib(rng, "NL", False), amount(rng, "nl"), "MND-118"],
                        [name(rng, "nl"), _ib(rng, "NL", False), amount(rng, "nl"), "MND-119"],
                    ],
                },
            ),
            formats=("xlsx",),
        ),
        Spec(
            "iban_customer",
            True,
            "es",
            "domiciliation order of a debtor",
            Doc(
                "Orden de domiciliación",
                [
                    f"Deudor: {name(rng, 'es')}",
                    f"Cuenta de adeudo: {_ib(rng, 'ES')}",
                    "Tipo de pago: recurrente",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "iban_customer",
            True,
            "it",
            "dunning letter debiting the debtor",
            Doc(
                "Sollecito di pagamento",
                [
                    f"Gentile {name(rng, 'it')},",
                    f"l'addebito sul Suo conto {_ib(rng, 'IT')} relativo alla rata di marzo non è "
                    f"andato a buon fine.",
                ],
            ),
            formats=("eml",),
        ),
        Spec(
            "iban_customer",
            True,
            "en",
            "refund list as xlsx mail attachment",
            blob=("eml", eml("Refunds", "List attached.\n", [("refunds.xlsx", _xlsx_bytes(refunds))], "en")),
        ),
        # ---------------------------------------------------------------- markings
        Spec(
            "marking",
            True,
            "en",
            "marking only in docx header",
            Doc(
                "Q2 branch staffing plan",
                ["Headcount stays flat.", "Two branches merge in June."],
                header="CONFIDENTIAL – DO NOT FORWARD",
            ),
            formats=("docx",),
        ),
        Spec(
            "marking",
            True,
            "de",
            "marking only in docx footer",
            Doc(
                "Filialplanung",
                ["Zwei Standorte werden zusammengelegt."],
                footer="Vertraulich – nicht zur Weitergabe bestimmt",
            ),
            formats=("docx",),
        ),
        Spec(
            "marking",
            True,
            "fr",
            "marking in pptx footer and notes",
            Doc(
                "Revue des risques",
                ["Trois incidents", "Aucun impact client"],
                footer="Document interne – Confidentiel",
            ),
            formats=("pptx",),
        ),
        Spec(
            "marking",
            True,
            "it",
            "classification row on second xlsx sheet",
            Doc(
                "Budget",
                [],
                {
                    "Note": [["Versione", "2"]],
                    "Dati": [
                        ["Classificazione", "Riservato"],
                        ["Voce", "Importo"],
                        ["Affitti", "120.000"],
                    ],
                },
            ),
            formats=("xlsx",),
        ),
        Spec(
            "marking",
            True,
            "es",
            "marked docx as mail attachment",
            blob=(
                "eml",
                eml(
                    "Borrador",
                    "Adjunto el borrador.\n",
                    [
                        (
                            "borrador.docx",
                            _docx_bytes(
                                Doc("Plan de sucursales", ["Se cierran dos oficinas."], header="CONFIDENCIAL")
                            ),
                        )
                    ],
                    "es",
                ),
            ),
        ),
        Spec(
            "marking",
            True,
            "nl",
            "classification meta in html",
            raw=(
                "html",
                '<html><head><meta name="classification" content="Vertrouwelijk">'
                "<title>Kwartaalcijfers</title></head><body><p>Omzet steeg met 4%.</p></body></html>\n",
            ),
        ),
        Spec(
            "marking",
            True,
            "en",
            "pdf footer proprietary and confidential",
            Doc(
                "Pricing model v3",
                ["Margins by segment follow."],
                footer=f"{COMPANY['en']} | Proprietary and Confidential",
            ),
            formats=("pdf",),
        ),
        # ---------------------------------------------------------------- credentials
        Spec(
            "credential",
            True,
            "en",
            "slack export with bot token",
            raw=(
                "json",
                json.dumps(
                    [
                        {
                            "user": "U024BE7LH",
                            "ts": "1710000000.000200",
                            "text": f"use this for the bot: xoxb-{rng.randrange(10**11, 10**12)}-"
                            f"{rng.randrange(10**11, 10**12)}-{fakes.token(rng, 24)}",
                        }
                    ],
                    indent=1,
                )
                + "\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "github token pasted in chat export",
            raw=(
                "txt",
                f"[09:14] dana: can you push for me?\n[09:15] lee: sure, token is "
                f"ghp_{fakes.token(rng, 36)}\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "SMTP password in app.properties",
            raw=(
                "properties",
                f"mail.smtp.host=smtp.internal\nmail.smtp.user=noreply\nmail.smtp.password={password(rng)}\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "JDBC URL with password in XML",
            raw=(
                "xml",
                '<bean id="ds" class="HikariDataSource">\n  <property name="jdbcUrl" '
                f'value="jdbc:postgresql://db01:5432/'
                f'core?user=svc_core&amp;password={password(rng, False)}"/>\n</bean>\n',
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "private key in a JSON string with escapes",
            raw=(
                "json",
                json.dumps({"type": "service", "private_key": pkcs8, "client_email": "svc@proj.test"}) + "\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "htpasswd with bcrypt hashes",
            raw=(
                "htpasswd",
                f"admin:$2y$10${fakes.token(rng, 53, string.ascii_letters + string.digits + './')}\n"
                f"ops:$2y$10${fakes.token(rng, 53, string.ascii_letters + string.digits + './')}\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "shadow line with sha512-crypt hash",
            raw=(
                "txt",
                f"root:$6${fakes.token(rng, 16)}$"
                f"{fakes.token(rng, 86, string.ascii_letters + string.digits + './')}:19800:0:99999:7:::\n",
            ),
        ),
        Spec("credential", True, "fr", "passwords on a second xlsx sheet", creds_fr, formats=("xlsx",)),
        Spec(
            "credential",
            True,
            "es",
            "login in a mail attachment",
            blob=(
                "eml",
                eml(
                    "Acceso",
                    "Te paso el acceso en el adjunto.\n",
                    [("acceso.txt", f"usuario: m.delgado\ncontraseña: {password(rng)}\n".encode())],
                    "es",
                ),
            ),
        ),
        Spec(
            "credential",
            True,
            "de",
            "Kennwort in docx footer",
            Doc(
                "Übergabe Kassensystem",
                ["Das System ist ab Montag produktiv."],
                footer=f"Admin-Kennwort: {password(rng)}",
            ),
            formats=("docx",),
        ),
    ]


def _negatives(rng: random.Random) -> list[Spec]:
    masked_rows = [["Case", "Card", "Amount"]] + [
        [f"CB-{90 + i}", _masked(rng), amount(rng, "en")] for i in range(3)
    ]
    b64img = base64.b64encode(bytes(rng.randrange(256) for _ in range(900))).decode()
    hashes = "\n".join(
        f"2025-03-04T08:1{i}:00Z req={uuid.UUID(int=rng.getrandbits(128), version=4)} "
        f"sha256={hashlib.sha256(bytes([i])).hexdigest()} "
        f"commit={hashlib.sha1(bytes([i]), usedforsecurity=False).hexdigest()} status=200"
        for i in range(6)
    )
    digits = "".join(rng.choice(string.digits) for _ in range(6000))
    return [
        Spec(
            "lookalike_numbers",
            False,
            "en",
            "chargeback report with masked PANs",
            Doc("Disputes (masked)", [], {"Cases": masked_rows}),
            formats=("xlsx",),
        ),
        Spec(
            "lookalike_numbers",
            False,
            "de",
            "gateway log with masked PANs",
            raw=("log", "\n".join(f"2025-03-04 INFO auth pan={_masked(rng)} rc=05" for _ in range(4)) + "\n"),
        ),
        Spec(
            "benign_business",
            False,
            "en",
            "IBAN validator docs with published examples",
            raw=(
                "md",
                "# iban-check\n\nValidates the mod-97 checksum.\n\n```python\n"
                "assert is_valid('GB82 WEST 1234 5698 7654 32')\nassert "
                "is_valid('DE89370400440532013000')\n```\n",
            ),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "de",
            "bank brochure with its own donation account",
            Doc(
                "Unsere Stiftung hilft",
                [
                    "Die Stiftung der Bank fördert Jugendsport in der Region.",
                    f"Spendenkonto der Stiftung: {_ib(rng, 'DE')}",
                    "Jede Spende zählt.",
                ],
            ),
            formats=("pdf",),
        ),
        Spec("benign_business", False, "en", "request log with UUIDs and hashes", raw=("log", hashes + "\n")),
        Spec(
            "benign_business",
            False,
            "en",
            "html with base64 image",
            raw=(
                "html",
                f'<html><body><h1>Branch map</h1><img src="data:image/png;base64,{b64img}"></body></html>\n',
            ),
        ),
        Spec(
            "benign_business",
            False,
            "en",
            "minified js with password field names",
            raw=(
                "js",
                'function l(e){var t=e.password,n=e.secret;if(!t)throw new Error("password required");'
                'return fetch("/api/login",{method:"POST",body:JSON.stringify({password:t,secret:n})})}\n',
            ),
        ),
        Spec(
            "benign_business",
            False,
            "en",
            "lorem ipsum with secret words",
            Doc(
                "Lorem ipsum",
                [
                    "Lorem ipsum dolor sit amet, secret consectetur adipiscing elit, password sed do "
                    "eiusmod tempor confidential incididunt ut labore et dolore magna aliqua."
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "confidential_prose",
            False,
            "en",
            "CV mentioning confidential projects",
            Doc(
                "Curriculum Vitae – Megan Doyle",
                [
                    "Senior analyst, 2019–2024",
                    "Led confidential M&A projects for tier-1 clients.",
                    "Holds a secret-level security clearance (expired).",
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "de",
            "dunning letter with the company account",
            Doc(
                f"{COMPANY['de']} – 2. Mahnung",
                [
                    f"Sehr geehrte/r {name(rng, 'de')},",
                    f"bitte überweisen Sie den offenen Betrag von {amount(rng, 'de')} EUR auf unser "
                    f"Konto {_ib(rng, 'DE')}.",
                ],
            ),
            formats=("eml",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "fr",
            "quote with company RIB",
            Doc(
                f"Devis n° 2025-044 – {COMPANY['fr']}",
                [
                    "Prestation : audit annuel",
                    f"Total TTC : {amount(rng, 'fr')} €",
                    f"RIB {COMPANY['fr']} : {_ib(rng, 'FR')}",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "test_cards",
            False,
            "it",
            "PSP test cards in developer docs",
            raw=(
                "md",
                "## Carte di test\n\n| Carta | Esito |\n|---|---|\n| 4242 4242 4242 4242 | autorizzata |\n"
                "| 4000 0000 0000 0002 | rifiutata |\n| 5555 5555 5555 4444 | autorizzata |\n",
            ),
        ),
        Spec(
            "public_key_material",
            False,
            "en",
            "certificate in JSON string",
            raw=(
                "json",
                json.dumps(
                    {
                        "ca": "-----BEGIN CERTIFICATE-----\n"
                        + fakes.pem_body(rng, 6)
                        + "\n-----END CERTIFICATE-----\n"
                    }
                )
                + "\n",
            ),
        ),
        Spec(
            "public_key_material",
            False,
            "en",
            "cloud-init with ssh public key",
            raw=(
                "yaml",
                f"users:\n  - name: ops\n    ssh_authorized_keys:\n      - ssh-ed25519 "
                f"AAAAC3NzaC1lZDI1NTE5AAAAI{fakes.token(rng, 43, _B64)} ops@jump\n",
            ),
        ),
        Spec(
            "placeholder",
            False,
            "es",
            "properties with env placeholders",
            raw=("properties", "spring.mail.username=${MAIL_USER}\nspring.mail.password=${MAIL_PASSWORD}\n"),
        ),
        Spec(
            "placeholder",
            False,
            "en",
            "CI workflow using secrets context",
            raw=(
                "yml",
                "jobs:\n  deploy:\n    steps:\n      - run: ./deploy.sh\n        env:\n"
                "          TOKEN: ${{ secrets.DEPLOY_TOKEN }}\n          DB_PASSWORD: $"
                "{{ secrets.DB_PASSWORD }}\n",
            ),
        ),
        Spec(
            "confidential_prose",
            False,
            "nl",
            "CV with confidential projects",
            Doc(
                "CV – Joris Bakker",
                [
                    "Werkte aan vertrouwelijke projecten voor de raad van bestuur.",
                    "Talen: Nederlands, Engels",
                ],
            ),
            formats=("pdf",),
        ),
        Spec("hostile", False, "en", "one long run of digits", raw=("txt", digits + "\n")),
        Spec(
            "lookalike_numbers",
            False,
            "de",
            "parcel tracking numbers",
            raw=(
                "csv",
                "Sendung;Empfänger;Status\n"
                + "".join(
                    f"{''.join(rng.choice(string.digits) for _ in range(20))};{name(rng, 'de')};zugestellt\n"
                    for _ in range(4)
                ),
            ),
        ),
        Spec(
            "confidential_prose",
            False,
            "fr",
            "meeting note on a confidential project",
            Doc(
                "Compte rendu",
                ["Le projet reste confidentiel jusqu'à l'annonce officielle.", "Prochaine réunion : mardi."],
            ),
            formats=("odt",),
        ),
    ]


def hidden_part_specs(rng: random.Random) -> list[Spec]:
    """Positives then negatives, all in formats and wordings of their own."""
    return _positives(rng) + _negatives(rng)
