"""Roles, attribute markings and hashes ("roles_hashes" set), written blind after the hidden-parts set was
tuned: it measures the reader's-account IBAN role, the role-noun-before-a-name role, attribute-pair
markings and crypt-hash lines on wordings they were not built from, plus more hard negatives (tutorials,
masked values, prose). Fake values only."""

from __future__ import annotations

import random
import string

from tests.eval.formats import Doc
from tests.eval.heldout_docs import Spec, amount, name, password
from tests.unit.classify import fakes

_CRYPT = "./" + string.ascii_letters + string.digits


def _ib(rng: random.Random, country: str, grouped: bool = True) -> str:
    value = fakes.iban(rng, country)
    return fakes.grouped(value) if grouped else value


def _positives(rng: random.Random) -> list[Spec]:
    c = [fakes.card(rng, p, 16) for p in ("4", "51", "4", "2221")]
    return [
        Spec(
            "iban_customer",
            True,
            "en",
            "bank details updated letter",
            Doc(
                "Your bank details have changed",
                [
                    f"Dear {name(rng, 'en')},",
                    f"we have recorded your new IBAN {_ib(rng, 'GB')} for all future refunds.",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "iban_customer",
            True,
            "de",
            "closure confirmation refunding the balance",
            Doc(
                "Bestätigung Ihrer Kündigung",
                [
                    f"Sehr geehrte Frau {name(rng, 'de')},",
                    f"das Restguthaben überweisen wir auf Ihr Konto {_ib(rng, 'DE')}.",
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "iban_customer",
            True,
            "es",
            "account blocked notice",
            Doc(
                "Aviso de bloqueo",
                [
                    f"Estimado/a {name(rng, 'es')}:",
                    f"le informamos de que su cuenta {_ib(rng, 'ES')} ha sido bloqueada por orden judicial.",
                ],
            ),
            formats=("eml",),
        ),
        Spec(
            "iban_customer",
            True,
            "nl",
            "collection notice debiting the reader",
            Doc(
                "Aankondiging incasso",
                [
                    f"Beste {name(rng, 'nl')},",
                    f"op 28 maart schrijven wij € {amount(rng, 'nl')} af van uw rekening {_ib(rng, 'NL')}.",
                ],
            ),
            formats=("odt",),
        ),
        Spec(
            "iban_customer",
            True,
            "fr",
            "IBAN registered confirmation",
            Doc(
                "Confirmation",
                [f"Madame {name(rng, 'fr')},", f"votre IBAN {_ib(rng, 'FR')} a bien été enregistré."],
            ),
            formats=("txt",),
        ),
        Spec(
            "iban_customer",
            True,
            "it",
            "tab-separated client registry",
            raw=(
                "tsv",
                "Cliente\tCodice\tIBAN\n"
                + "".join(f"{name(rng, 'it')}\tC{i}\t{_ib(rng, 'IT', False)}\n" for i in range(2)),
            ),
        ),
        Spec(
            "card",
            True,
            "en",
            "card in XML PAN element",
            raw=("xml", f"<Txn><Id>88</Id><PAN>{c[0]}</PAN><Exp>2711</Exp></Txn>\n"),
        ),
        Spec(
            "card",
            True,
            "de",
            "SMS export with card",
            raw=(
                "txt",
                f"12.03. 10:02 Anke: hier meine Kartennummer {fakes.grouped(c[1])} für die Buchung\n",
            ),
        ),
        Spec(
            "card",
            True,
            "es",
            "card in markdown ticket table",
            raw=(
                "md",
                f"| Ticket | Cliente | Tarjeta |\n|---|---|---|\n| 4411 | {name(rng, 'es')} | {c[2]} |\n",
            ),
        ),
        Spec(
            "card",
            True,
            "nl",
            "card in docx table",
            Doc(
                "Reserveringen",
                [],
                {"r": [["Gast", "Kaart", "Vervalt"], [name(rng, "nl"), fakes.grouped(c[3], "-"), "08/29"]]},
            ),
            formats=("docx",),
        ),
        Spec(
            "marking",
            True,
            "en",
            "odt header INTERNAL – CONFIDENTIAL",
            Doc("Vendor shortlist", ["Three vendors remain."], header="INTERNAL – CONFIDENTIAL"),
            formats=("odt",),
        ),
        Spec(
            "marking",
            True,
            "de",
            "Schutzklasse cell in xlsx",
            Doc(
                "Kostenstellen",
                [],
                {"Blatt1": [["Schutzklasse", "vertraulich"], ["KST", "Budget"], ["4100", "12.000"]]},
            ),
            formats=("xlsx",),
        ),
        Spec(
            "marking",
            True,
            "fr",
            "pdf title NOTE CONFIDENTIELLE",
            Doc("NOTE CONFIDENTIELLE", ["Objet : réorganisation du back-office."]),
            formats=("pdf",),
        ),
        Spec(
            "marking",
            True,
            "it",
            "docx footer RISERVATO E CONFIDENZIALE",
            Doc("Piano filiali", ["Due sportelli chiudono."], footer="RISERVATO E CONFIDENZIALE"),
            formats=("docx",),
        ),
        Spec(
            "marking",
            True,
            "es",
            "markdown front matter clasificacion",
            raw=("md", "---\ntitulo: Plan 2026\nclasificacion: Confidencial\n---\n\n# Plan 2026\n\nTexto.\n"),
        ),
        Spec(
            "marking",
            True,
            "nl",
            "xml property with classification attribute",
            raw=(
                "xml",
                '<doc><meta key="classificatie" value="Vertrouwelijk"/><body>Cijfers Q1</body></doc>\n',
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "gitlab token in shell history",
            raw=(
                "txt",
                "cd repo\ngit remote set-url origin "
                f"https://oauth2:glpat-{fakes.token(rng, 20)}@gitlab.example.test/x.git\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "redis url with password",
            raw=("env", f"REDIS_URL=redis://:{password(rng, False)}@cache01:6379/0\n"),
        ),
        Spec(
            "credential",
            True,
            "en",
            "git-credentials line",
            raw=("txt", f"https://deploy-bot:ghp_{fakes.token(rng, 36)}@github.com\n"),
        ),
        Spec(
            "credential",
            True,
            "en",
            "htpasswd with apr1 md5",
            raw=(
                "htpasswd",
                f"webadmin:$apr1${fakes.token(rng, 8, _CRYPT)}${fakes.token(rng, 22, _CRYPT)}\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "php config db password",
            raw=("php", f"<?php\n$db_host = 'db01';\n$db_pass = '{password(rng)}';\n"),
        ),
        Spec(
            "credential",
            True,
            "en",
            "jenkins credentials xml",
            raw=(
                "xml",
                f"<com.cloudbees.Creds><username>deploy</username><password>{password(rng)}</password>"
                "</com.cloudbees.Creds>\n",
            ),
        ),
    ]


def _negatives(rng: random.Random) -> list[Spec]:
    last4 = fakes.card(rng, "4", 16)[-4:]
    return [
        Spec(
            "invoice_own_iban",
            False,
            "en",
            "letter naming the account manager, own IBAN",
            Doc(
                "Welcome",
                [
                    f"Dear {name(rng, 'en')},",
                    "your account manager is Hannah Pike.",
                    f"Fees are payable to GB bank account {_ib(rng, 'GB')}.",
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "de",
            "invoice own account, Ihr Auftrag",
            Doc(
                "Rechnung 2025-77",
                [
                    "Vielen Dank für Ihren Auftrag.",
                    f"Bitte überweisen Sie {amount(rng, 'de')} EUR auf unser Konto {_ib(rng, 'DE')}.",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "benign_business",
            False,
            "fr",
            "online account marketing",
            Doc("Ouvrez votre compte en 5 minutes", ["Votre compte en ligne, sans frais la première année."]),
            formats=("md",),
        ),
        Spec(
            "placeholder",
            False,
            "en",
            "htpasswd tutorial",
            raw=(
                "md",
                "Create the file with `htpasswd -B -c .htpasswd admin`.\nEach line looks like "
                "`admin:$2y$10$<hash>`.\n",
            ),
        ),
        Spec(
            "benign_business",
            False,
            "en",
            "shadow documentation with locked entries",
            raw=("txt", "root:*:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\nnobody:!:19000::::::\n"),
        ),
        Spec(
            "lookalike_numbers",
            False,
            "de",
            "masked IBAN in a statement",
            Doc("Kontoauszug", ["Konto: DE89 **** **** **** **30 00", f"Saldo: {amount(rng, 'de')} EUR"]),
            formats=("pdf",),
        ),
        Spec(
            "lookalike_numbers",
            False,
            "it",
            "receipt with masked card",
            raw=("txt", f"SCONTRINO\nCarta **** **** **** {last4}\nTotale 23,40 EUR\n"),
        ),
        Spec(
            "confidential_prose",
            False,
            "es",
            "prose saying not confidential",
            Doc("Nota", ["Este documento no es confidencial y puede compartirse libremente."]),
            formats=("docx",),
        ),
        Spec(
            "confidential_prose",
            False,
            "nl",
            "html description with vertrouwelijk in prose",
            raw=(
                "html",
                '<meta name="description" content="Wij behandelen uw gegevens vertrouwelijk.">'
                "<p>Welkom</p>\n",
            ),
        ),
        Spec(
            "placeholder",
            False,
            "en",
            "cypress test reading password from env",
            raw=("js", "cy.get('#password').type(Cypress.env('password'))\n"),
        ),
    ]


def roles_hashes_specs(rng: random.Random) -> list[Spec]:
    """Positives then negatives."""
    return _positives(rng) + _negatives(rng)
