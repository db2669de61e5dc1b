"""Credential positives of the held-out-style set: keys, tokens, connection strings, password tables.

Every value is generated on the spot (random bodies, fake hosts); nothing unlocks anything.
"""

from __future__ import annotations

import base64
import json
import random

from tests.eval.formats import Doc
from tests.eval.heldout_docs import LANGS, Spec, password
from tests.unit.classify import fakes


def _b64(rng: random.Random, n: int) -> str:
    return base64.b64encode(rng.randbytes(n)).decode()


def credential_specs(rng: random.Random) -> list[Spec]:
    out = []
    pw = password(rng)
    env = (
        f"APP_ENV=production\nDATABASE_URL=postgres://ledger:{pw}@db-prod.internal:5432/ledger\n"
        f"GITHUB_TOKEN=ghp_{fakes.token(rng, 36)}\nLOG_LEVEL=info\n"
    )
    out.append(Spec("credential", True, "en", ".env with db url and github token", raw=("env", env)))
    slack = f"xoxb-{rng.randrange(10**11, 10**12)}-{rng.randrange(10**12, 10**13)}-{fakes.token(rng, 24)}"
    env2 = f"SLACK_BOT_TOKEN={slack}\n"
    out.append(Spec("credential", True, "en", ".env slack token", raw=("env", "# chat bot\n" + env2)))
    ini = (
        f"[default]\naws_access_key_id = {fakes.aws_key_id(rng)}\n"
        f"aws_secret_access_key = {fakes.aws_secret(rng)}\n"
    )
    out.append(Spec("credential", True, "en", "aws credentials ini", raw=("ini", ini)))
    gcp = {
        "type": "service_account",
        "project_id": "ledger-prod",
        "private_key_id": fakes.token(rng, 40, "0123456789abcdef"),
        "private_key": fakes.private_key(rng, "", 8).replace("\n", "\n") + "\n",
        "client_email": "svc@ledger-prod.iam.gserviceaccount.com",
    }
    out.append(
        Spec("credential", True, "en", "gcp service account json", raw=("json", json.dumps(gcp, indent=2)))
    )
    azure = (
        f"DefaultEndpointsProtocol=https;AccountName=stledger{rng.randrange(100)};"
        f"AccountKey={_b64(rng, 64)};EndpointSuffix=core.windows.net"
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "azure storage connection string",
            raw=("yaml", f'storage:\n  connection: "{azure}"\n'),
        )
    )
    jwt = fakes.jwt(rng)
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "bearer token in log",
            Doc("api", [f'GET /v1/accounts 200 auth="Bearer {jwt}"']),
            formats=("log",),
        )
    )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "gitlab token in md",
            Doc("CI setup", [f"Runner registration uses `glpat-{fakes.token(rng, 20)}` for now."]),
            formats=("md",),
        )
    )
    yml = (
        f"spring:\n  datasource:\n    url: jdbc:mysql://db1.corp.local:3306/crm\n    username: crm\n"
        f'    password: "{password(rng)}"\n'
    )
    out.append(Spec("credential", True, "en", "spring datasource password", raw=("yaml", yml)))
    ado = (
        "Server=tcp:sql-ledger.corp.local,1433;Database=Ledger;User ID=app;"
        f"Password={password(rng)}%={fakes.token(rng, 4)};"
    )
    out.append(
        Spec("credential", True, "en", "ado.net connection string", raw=("ini", f"[db]\nconn = {ado}\n"))
    )
    key_kinds = ("RSA ", "OPENSSH ", "EC ", "")
    runbook = {
        "en": ("Runbook: SFTP gateway", "The service account authenticates with this key:"),
        "de": ("Betriebshandbuch SFTP-Gateway", "Der Dienst meldet sich mit folgendem Schlüssel an:"),
        "fr": ("Procédure d'exploitation SFTP", "Le compte de service s'authentifie avec la clé suivante :"),
        "it": ("Manuale operativo gateway SFTP", "L'utenza di servizio si autentica con questa chiave:"),
        "es": ("Manual de operación SFTP", "La cuenta de servicio se autentica con esta clave:"),
        "nl": ("Beheerhandleiding SFTP-gateway", "Het serviceaccount meldt zich aan met deze sleutel:"),
    }
    for i, lang in enumerate(LANGS):
        title, intro = runbook[lang]
        key = fakes.private_key(rng, key_kinds[i % 4], 6)
        out.append(
            Spec(
                "credential",
                True,
                lang,
                "private key in runbook",
                Doc(title, [intro, *key.splitlines()]),
                formats=("txt", "md", "docx", "odt"),
            )
        )
    out.append(
        Spec(
            "credential",
            True,
            "en",
            "bare private key file",
            raw=("key", fakes.private_key(rng, "OPENSSH ", 7)),
        )
    )
    cols = {
        "en": ["System", "User", "Password"],
        "de": ["System", "Benutzer", "Passwort"],
        "fr": ["Application", "Identifiant", "Mot de passe"],
        "it": ["Sistema", "Utente", "Password"],
        "es": ["Sistema", "Usuario", "Contraseña"],
        "nl": ["Systeem", "Gebruiker", "Wachtwoord"],
    }
    for i, lang in enumerate(LANGS):
        rows = [cols[lang]] + [
            [f"srv-{j:02d}", f"admin{j}", password(rng, symbols=(i + j) % 3 != 0)] for j in range(4)
        ]
        out.append(
            Spec(
                "credential",
                True,
                lang,
                "password table",
                Doc(cols[lang][2], [], {"Accounts": rows}),
                formats=("xlsx", "csv", "ods"),
            )
        )
    prose = {
        "de": "Zugang zum Testrechner: Benutzer admin, Kennwort: {pw}",
        "fr": "Accès au serveur : identifiant admin, mot de passe : {pw}",
        "it": "Accesso al server: utente admin, password: {pw}",
        "es": "Acceso al servidor: usuario admin, contraseña: {pw}",
        "nl": "Toegang tot de server: gebruiker admin, wachtwoord: {pw}",
    }
    for lang, tpl in prose.items():
        out.append(
            Spec(
                "credential",
                True,
                lang,
                "password in prose",
                Doc("Onboarding", [tpl.format(pw=password(rng, symbols=lang != "nl"))]),
                formats=("txt", "eml", "docx"),
            )
        )
    return out
