"""Secrets by structure: credential files and command lines a contractor share collects alert high."""

from __future__ import annotations

import base64
import random

import pytest

from agent.models import FileRef
from agent.pipeline import Pipeline, build_pipeline, default_policy_dirs
from tests.unit.classify import fakes

RNG = random.Random(1504)
PW = fakes.token(RNG, 10) + "#" + fakes.token(RNG, 5)
NPM = fakes.github_token(RNG, "npm_")
AUTH = base64.b64encode(f"deploy:{PW}".encode()).decode()

CASES = {
    ".netrc": f"machine api.corp.local login deploy password {PW}\n",
    ".git-credentials": f"https://deploy:{PW}@git.corp.local\n",
    ".npmrc": f"//registry.npmjs.org/:_authToken={NPM}\n",
    "docker config.json": f'{{"auths": {{"registry.corp.local": {{"auth": "{AUTH}"}}}}}}',
    "kubeconfig token": f"users:\n- name: admin\n  user:\n    token: {fakes.token(RNG, 40)}\n",
    "aws credentials": f"[default]\naws_access_key_id = {fakes.aws_key_id(RNG)}\n"
    f"aws_secret_access_key = {fakes.aws_secret(RNG)}\n",
    "jdbc": f"jdbc:sqlserver://db01:1433;databaseName=ledger;user=app;password={PW};\n",
    "odbc": f"Driver={{ODBC Driver 18 for SQL Server}};Server=db01;Uid=app;Pwd={PW};\n",
    "ado.net": f"Server=tcp:db01,1433;Initial Catalog=ledger;User ID=app;Password={PW};\n",
    "mongodb": f"mongodb+srv://app:{PW}@cluster0.corp.local/ledger\n",
    "redis": f"REDIS_URL=redis://:{PW}@cache01:6379/0\n",
    "amqp": f"amqp://app:{PW}@mq01:5672/vhost\n",
    "curl -u": f"curl -s -u deploy:{PW} https://api.corp.local/v1/items\n",
    "mysql -p": f"mysql -u root -p{PW} -h db01 ledger\n",
    "sshpass": f"sshpass -p '{PW}' ssh ops@fs01.corp.local\n",
    "PGPASSWORD": f"PGPASSWORD={PW} psql -h db01 -U app ledger\n",
    "net use": f"net use Z: \\\\fs01\\share /user:CORP\\svc {PW}\n",
    "ConvertTo-SecureString": f"$p = ConvertTo-SecureString '{PW}' -AsPlainText -Force\n",
    "openssl -passin": f"openssl pkcs12 -in c.p12 -passin pass:{PW} -out c.pem\n",
    "docker login": f"docker login -u deploy -p {PW} registry.corp.local\n",
    "htpasswd": "admin:$apr1$Qm7vX2pL$r9vBn2Tz8kWq3eLp9vBn2T\n",
}


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return build_pipeline(default_policy_dirs(), key=b"credential-files-test-key-012345")


@pytest.mark.parametrize("name", sorted(CASES))
def test_credential_structure_alerts(pipeline: Pipeline, name: str) -> None:
    ev = pipeline.evaluate_text(CASES[name], FileRef(path="/srv/drop/f", role="contractor-drop"))  # type: ignore[arg-type]
    assert {f.severity for f in ev.findings} & {"high", "critical"}, name
    assert all(PW not in f.excerpt for f in ev.findings)  # never echoed in clear


@pytest.mark.parametrize(
    "text",
    [
        "curl -u deploy:$API_PASSWORD https://api.corp.local/v1/items\n",
        "mysql -u root -p -h db01 ledger\n",
        "net use Z: \\\\fs01\\share /user:CORP\\svc *\n",
        "jdbc:sqlserver://db01:1433;databaseName=ledger;user=app;password=${DB_PASSWORD};\n",
        "db.password=ENC(G6N718UuyPE5bHyWKyuLQSm02auQPUtm)\n",
        "password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6231373935613764\n",
    ],
)
def test_references_and_ciphertext_do_not(pipeline: Pipeline, text: str) -> None:
    ev = pipeline.evaluate_text(text, FileRef(path="/srv/drop/f", role="contractor-drop"))  # type: ignore[arg-type]
    assert [f.rule for f in ev.findings if f.severity in ("medium", "high", "critical")] == []
