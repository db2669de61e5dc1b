"""Whose account an IBAN is ("account_roles" set), written blind after the bank-documents set was tuned (it
measures the layout-based IBAN roles and the short password keys on documents they were not built from).
Fake values only."""

from __future__ import annotations

import random

from tests.eval.formats import Doc
from tests.eval.heldout_docs import COMPANY, Spec, amount, name, password
from tests.unit.classify import fakes


def _ib(rng: random.Random, country: str, grouped: bool = True) -> str:
    value = fakes.iban(rng, country)
    return fakes.grouped(value) if grouped else value


def account_role_specs(rng: random.Random) -> list[Spec]:
    """Positives then negatives, all in wordings of their own."""
    rows = [["Cognome e nome", "Codice fiscale", "IBAN accredito", "Importo rimborso"]] + [
        [name(rng, "it"), f"RSSMRA80A01H50{i}U", _ib(rng, "IT", False), amount(rng, "it")] for i in range(2)
    ]
    pos = [
        Spec(
            "iban_customer",
            True,
            "it",
            "tax refund list",
            Doc("Rimborsi", [], {"r": rows}),
            formats=("xlsx",),
        ),
        Spec(
            "iban_customer",
            True,
            "fr",
            "succession file note",
            Doc(
                "Dossier succession n° 2025-117",
                [
                    "Défunt : Théo Girard",
                    "Héritière : Inès Faure",
                    f"Compte à clôturer : {_ib(rng, 'FR')}",
                    f"Avoirs au décès : {amount(rng, 'fr')} €",
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "iban_customer",
            True,
            "en",
            "fraud alert mail",
            Doc(
                "Possible mule account",
                [
                    f"Subject account belongs to Mr {name(rng, 'en')} (DOB 1979-04-02).",
                    f"Account: {_ib(rng, 'GB')}",
                    "Three inbound transfers from unrelated parties within an hour.",
                ],
            ),
            formats=("eml",),
        ),
        Spec(
            "iban_customer",
            True,
            "nl",
            "HR change request",
            Doc(
                "Wijziging salarisrekening",
                [
                    f"Medewerker: {name(rng, 'nl')}",
                    "Personeelsnummer: 40912",
                    f"Nieuwe rekening: {_ib(rng, 'NL')}",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "iban_customer",
            True,
            "de",
            "YAML customer record",
            raw=(
                "yaml",
                "kunde:\n  vorname: Sabine\n  nachname: Kühn\n"
                f"  iban: {_ib(rng, 'DE', False)}\n  segment: retail\n",
            ),
        ),
        Spec(
            "credential",
            True,
            "en",
            "env with short key",
            raw=("env", f"SMTP_USER=alerts\nSMTP_PASS={password(rng)}\n"),
        ),
        Spec(
            "credential",
            True,
            "fr",
            "mot de passe in a mail",
            Doc("Accès VPN", ["Identifiant : j.martin", f"MDP : {password(rng)}"]),
            formats=("eml",),
        ),
    ]
    neg = [
        Spec(
            "invoice_own_iban",
            False,
            "en",
            "subscription renewal notice",
            Doc(
                f"{COMPANY['en']} – Renewal notice",
                [
                    f"Dear {name(rng, 'en')},",
                    "your annual plan renews on 1 August.",
                    f"Direct your transfer of GBP {amount(rng, 'en')} to {_ib(rng, 'GB')}.",
                ],
            ),
            formats=("pdf",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "de",
            "membership fee letter of a club",
            Doc(
                "Mitgliedsbeitrag 2025",
                [
                    "Liebe Mitglieder,",
                    "der Jahresbeitrag beträgt 60 EUR.",
                    f"Vereinskonto: TSV Grünwald e.V., {_ib(rng, 'DE')}",
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "invoice_own_iban",
            False,
            "es",
            "rental contract clause with landlord account",
            Doc(
                "Contrato de arrendamiento",
                [
                    "Cláusula 4. La renta mensual se abonará por adelantado.",
                    f"Cuenta del arrendador: {_ib(rng, 'ES')}",
                ],
            ),
            formats=("docx",),
        ),
        Spec(
            "benign_business",
            False,
            "en",
            "product page of a bank",
            Doc(
                "Open a savings account",
                ["Earn 2.1 % on every euro.", "Your IBAN is ready within minutes after the video call."],
            ),
            formats=("md",),
        ),
        Spec(
            "placeholder",
            False,
            "en",
            "README with pass placeholder",
            raw=("md", "Set `DB_PASS=<your password>` and `PW: changeme` in your local `.env`.\n"),
        ),
    ]
    return pos + neg
