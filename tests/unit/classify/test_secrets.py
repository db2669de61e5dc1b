"""Positive and negative cases of the secret recognizers."""

from __future__ import annotations

import base64
import random

import pytest

from agent.classify import Classifier
from agent.redact import SECRET_ENTITIES
from tests.unit.classify import fakes
from tests.unit.classify.fakes import best, detect

RNG = random.Random(42)


def max_secret(classifier: Classifier, text: str) -> float:
    return max((d.score for d in detect(classifier, text) if d.entity in SECRET_ENTITIES), default=0.0)


@pytest.mark.parametrize("kind", ["RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", ""])
def test_private_key_block_matched_whole(classifier: Classifier, kind: str) -> None:
    """A PEM private key block is one detection spanning BEGIN to END, scored >= 0.8."""
    block = fakes.private_key(RNG, kind)
    (d,) = detect(classifier, f"config:\n{block}\nrest", "PRIVATE_KEY")
    assert d.value == block and d.score >= 0.8


def test_pgp_and_truncated_private_keys(classifier: Classifier) -> None:
    """PGP private key blocks and a PEM block cut before END are found."""
    pgp = (
        f"-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n{fakes.pem_body(RNG)}\n-----END PGP PRIVATE KEY BLOCK-----"
    )
    assert best(classifier, pgp, "PRIVATE_KEY") >= 0.8
    cut = f"-----BEGIN RSA PRIVATE KEY-----\n{fakes.pem_body(RNG, 8)}\n"
    assert best(classifier, cut, "PRIVATE_KEY") >= 0.5


def test_private_key_placeholders_low(classifier: Classifier) -> None:
    """Placeholder or too-short bodies score below 0.3, even next to a context word."""
    for body in ["...", "<your private key here>", "MIIEpAIBAAKCAQEA", "REDACTED"]:
        text = f"key:\n-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"
        assert best(classifier, text, "PRIVATE_KEY") < 0.3, body


def test_public_material_is_not_a_secret(classifier: Classifier) -> None:
    """Certificates, public keys and ssh-rsa lines yield no secret detection >= 0.5."""
    body = fakes.pem_body(RNG, 10)
    texts = [
        f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----",
        f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----",
        f"-----BEGIN RSA PUBLIC KEY-----\n{body}\n-----END RSA PUBLIC KEY-----",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ" + body.replace("\n", "")[:300] + " alice@laptop",
    ]
    for text in texts:
        assert max_secret(classifier, text) < 0.5, text[:30]


def test_aws_access_keys(classifier: Classifier) -> None:
    """Random key ids score >= 0.8; the documented EXAMPLE id scores low even with context."""
    assert best(classifier, f"aws_access_key_id = {fakes.aws_key_id(RNG)}", "AWS_ACCESS_KEY") >= 0.8
    assert best(classifier, "aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "AWS_ACCESS_KEY") < 0.3
    assert best(classifier, "AKIA1234", "AWS_ACCESS_KEY") == 0.0


def test_aws_secret_keys(classifier: Classifier) -> None:
    """A 40-char secret scores >= 0.5 next to its variable name, low alone; hex SHAs never."""
    secret = fakes.aws_secret(RNG)
    assert best(classifier, f"aws_secret_access_key = {secret}", "AWS_SECRET_KEY") >= 0.5
    assert best(classifier, f"value {secret} here", "AWS_SECRET_KEY") < 0.5
    assert (
        best(classifier, "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AWS_SECRET_KEY")
        < 0.3
    )
    assert best(classifier, "aws secret 8b1118b376c313ed420e5133ba91307817ed52c2", "AWS_SECRET_KEY") == 0.0


def test_prefixed_tokens(classifier: Classifier) -> None:
    """GitHub, GitLab and Slack tokens with random bodies score >= 0.8; placeholder bodies low."""
    cases = {
        "GITHUB_TOKEN": [
            fakes.github_token(RNG),
            fakes.github_token(RNG, "gho_"),
            "github_pat_" + fakes.token(RNG, 22) + "_" + fakes.token(RNG, 59),
        ],
        "GITLAB_TOKEN": ["glpat-" + fakes.token(RNG, 20)],
        "SLACK_TOKEN": ["xoxb-" + fakes.token(RNG, 12, "0123456789") + "-" + fakes.token(RNG, 24)],
    }
    for entity, values in cases.items():
        for value in values:
            assert best(classifier, f"token: {value}", entity) >= 0.8, entity
    assert best(classifier, "ghp_" + "x" * 36, "GITHUB_TOKEN") < 0.3
    assert best(classifier, "ghp_short", "GITHUB_TOKEN") == 0.0
    good = fakes.github_token(RNG)
    bad = good[:-1] + ("A" if good[-1] != "A" else "B")  # one checksum character off: made up
    assert best(classifier, f"token: {bad}", "GITHUB_TOKEN") < 0.5


def test_jwt(classifier: Classifier) -> None:
    """Signed JWTs score >= 0.8; alg none or an empty signature score low; random eyJ strings nothing."""
    assert best(classifier, f"Authorization: Bearer {fakes.jwt(RNG)}", "JWT") >= 0.8
    assert best(classifier, fakes.jwt(RNG, alg="none"), "JWT") < 0.3
    assert best(classifier, fakes.jwt(RNG, signed=False) + "x", "JWT") < 0.3
    assert best(classifier, "eyJub3QganNvbg.eyJhIjoxfQ.c2lnbmF0dXJlc2lnbmF0dXJl", "JWT") == 0.0


def test_azure_and_gcp(classifier: Classifier) -> None:
    """Azure storage keys in connection strings and GCP service-account JSON are found confidently."""
    key = fakes.token(RNG, 86, fakes.string.ascii_letters + fakes.string.digits + "+/") + "=="
    conn = f"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={key};EndpointSuffix=core.windows.net"
    (d,) = detect(classifier, conn, "AZURE_KEY")
    assert d.value == key and d.score >= 0.9
    gcp = (
        '{\n  "type": "service_account",\n  "project_id": "demo-123",\n  "private_key_id": "'
        + fakes.token(RNG, 40, "0123456789abcdef")
        + '",\n  "private_key": "-----BEGIN PRIVATE KEY-----\\n'
        + fakes.pem_body(RNG).replace("\n", "\\n")
        + '\\n-----END PRIVATE KEY-----\\n",\n  "client_email": "svc@demo-123.iam.gserviceaccount.com"\n}'
    )
    assert best(classifier, gcp, "GCP_SERVICE_KEY") >= 0.9


def test_password_assignments(classifier: Classifier) -> None:
    """Keyword-assigned literals with entropy are found (value-only span) in code, YAML, INI and prose."""
    pw = "Vq7#rT2!pLm9"
    for text in [
        f'DB_PASSWORD = "{pw}"',
        f"password: {pw}",
        f"api_key={pw}",
        f"  client_secret: '{pw}'",
        f"Passwort: {pw}",
        f"export GITHUB_TOKEN={pw}",
    ]:
        (d,) = detect(classifier, text, "PASSWORD")
        assert d.value == pw and d.score >= 0.5, text


@pytest.mark.parametrize(
    "text",
    [
        "password = changeme",
        'password = "<YOUR_API_KEY>"',
        "password: ${DB_PASSWORD}",
        "password=$DB_PASS",
        "password: '{{ vault_db_password }}'",
        "password = os.environ['DB_PASSWORD']",
        "pwd = os.getenv('PWD')",
        "token: process.env.TOKEN",
        "password = 'xxxxxxxxxx'",
        "password: '**********'",
        "secret = REDACTED",
        "password = 'example-pass'",
        "password = dummy12345",
        "password = 'testtest'",
        "password = 'aaaaaaaaa'",
        'password = "Vq7#rT2!pLm9"  # pragma: allowlist secret',
        "password_file = /etc/app/p4ssw0rd-file.txt",
        "token = self.auth_token",
        "SECRET_VALUE = 'this is just a long string of prose'",
    ],
)
def test_password_placeholders_ignored(classifier: Classifier, text: str) -> None:
    """Placeholders, references, code expressions, prose and allow-listed lines are not PASSWORDs."""
    assert best(classifier, text, "PASSWORD") == 0.0


def test_connection_strings(classifier: Classifier) -> None:
    """URIs with a literal strong password are found for each scheme; placeholders are not."""
    pw = "q8Rz2LmW7xPc"
    for scheme in ["postgres", "postgresql", "mysql", "mongodb+srv", "redis", "amqp", "mssql", "jdbc:mysql"]:
        assert best(classifier, f"DSN {scheme}://app:{pw}@db.example.org:5432/x", "CONNECTION_STRING") >= 0.8
    for bad in [
        "postgres://app:${DB_PASS}@db/x",
        "postgres://app:password@db/x",
        "mysql://u:<password>@h/x",
        "redis://:xxxxxxxx@cache:6379",
        "postgres://app@db/x",
    ]:
        assert best(classifier, bad, "CONNECTION_STRING") < 0.5, bad


def test_generic_high_entropy_secret(classifier: Classifier) -> None:
    """Assigned high-entropy base64 values are SECRET; ids, UUIDs and SRI hashes are not."""
    value = fakes.token(RNG, 40, fakes.string.ascii_letters + fakes.string.digits + "+/")
    assert best(classifier, f"signing_key = '{value}'", "SECRET") >= 0.5
    assert best(classifier, f"request_id = '{value}'", "SECRET") == 0.0
    assert best(classifier, "uuid: '203db13e-70c7-462b-9a3d-bf32640cb0be'", "SECRET") == 0.0
    assert best(classifier, f'"integrity": "sha512-{value}"', "SECRET") == 0.0


def test_password_keywords_in_other_languages(classifier: Classifier) -> None:
    """Kennwort, mot de passe, contraseña, wachtwoord and parola d'accesso assign a PASSWORD."""
    pw = "Qm7#vX2pLr9!"
    for text in [
        f"Kennwort: {pw}",
        f"identifiant admin, mot de passe : {pw}",
        f"usuario admin, contraseña: {pw}",
        f"gebruiker admin, wachtwoord: {pw}",
        f"parola d'accesso: {pw}",
    ]:
        (d,) = detect(classifier, text, "PASSWORD")
        assert d.value == pw and d.score >= 0.5, text


def test_password_with_percent_equals_and_short_random(classifier: Classifier) -> None:
    """'%' and '=' inside a literal are password symbols; a 12-char three-class value counts despite
    its repeated characters; %VAR% and $VAR references still do not."""
    assert (
        best(classifier, "Server=sql;User Id=app;Password=MTX_C=X8Va%R=tE++N5;Encrypt=True", "PASSWORD")
        >= 0.5
    )
    assert best(classifier, 'password: "%A!T!11y1BA#"', "PASSWORD") >= 0.5
    assert best(classifier, "Kennwort: Sommer2025Berg", "PASSWORD") >= 0.5
    for ref in ["password=%DB_PASSWORD%", "password=$DB_PASSWORD_X", "password=%(db_password)s"]:
        assert best(classifier, ref, "PASSWORD") == 0.0, ref


def test_pgpass_lines(classifier: Classifier) -> None:
    """A .pgpass entry's password is found; timestamps and /etc/passwd lines are not passwords."""
    (d,) = detect(classifier, "db-prod.internal:5432:ledger:app:Qm7#vX2pLr9!", "PASSWORD")
    assert d.value == "Qm7#vX2pLr9!"
    for text in ["root:x:0:0:root:/root:/bin/bash", "2025-03-14 09:12:44:120:INFO:started"]:
        assert best(classifier, text, "PASSWORD") == 0.0, text


def test_base64_encoded_private_key(classifier: Classifier) -> None:
    """A base64-encoded PEM private key (kubeconfig client-key-data) is a PRIVATE_KEY; an encoded
    certificate or an encoded placeholder block is not."""
    import base64

    enc = base64.b64encode(fakes.private_key(RNG, "RSA ", 6).encode()).decode()
    assert best(classifier, f"    client-key-data: {enc}", "PRIVATE_KEY") >= 0.8
    cert = f"-----BEGIN CERTIFICATE-----\n{fakes.pem_body(RNG)}\n-----END CERTIFICATE-----"
    assert best(classifier, base64.b64encode(cert.encode()).decode(), "PRIVATE_KEY") == 0.0
    hole = "-----BEGIN RSA PRIVATE KEY-----\n<your key here>\n-----END RSA PRIVATE KEY-----"
    assert best(classifier, base64.b64encode(hole.encode()).decode(), "PRIVATE_KEY") < 0.3


def test_basic_auth_base64_is_a_secret(classifier: Classifier) -> None:
    """base64("user:password") in a Docker auth field is a SECRET; base64 of prose is not."""
    import base64

    auth = base64.b64encode(b"deploy:Qm7#vX2pLr9!").decode()
    assert best(classifier, f'{{"auths": {{"registry.local": {{"auth": "{auth}"}}}}}}', "SECRET") >= 0.5
    prose = base64.b64encode(b"hello world, this is text").decode()
    assert best(classifier, f'"note": "{prose}"', "SECRET") < 0.5


def test_random_token_as_whole_value_is_a_secret(classifier: Classifier) -> None:
    """A long random token as a whole config value is a confident SECRET whatever its name; a long
    identifier with its digits at the end and a base64-encoded sentence are not."""
    rng = random.Random(77)
    value = next(
        v
        for v in (fakes.token(rng, 40, fakes.string.ascii_letters + fakes.string.digits) for _ in range(50))
        if sum(1 for i, c in enumerate(v) if c.isdigit() and (i == 0 or not v[i - 1].isdigit())) >= 3
    )
    assert best(classifier, f"mimi={value}", "SECRET") >= 0.75
    assert best(classifier, "main_class=AbstractSingletonProxyFactoryBeanImpl2024", "SECRET") < 0.75
    assert best(classifier, "note=dGhpcyBpcyBqdXN0IHNvbWUgdGV4dCB0byBlbmNvZGU=", "SECRET") < 0.75


def test_password_announced_in_prose(classifier: Classifier) -> None:
    """'Your password is X', 'Ihr Initialpasswort lautet: X', 'La password temporanea è: X' assign a
    PASSWORD when X is password-shaped; 'the password is case-sensitive' does not."""
    pw = "Xk29fLm3pQ7z"
    for text in [
        f"Your password is {pw}",
        f"Ihr Initialpasswort lautet: {pw}",
        f"La password temporanea è: {pw}",
        f"Votre mot de passe temporaire est : {pw}",
        f"Uw wachtwoord is: {pw}",
    ]:
        (d,) = detect(classifier, text, "PASSWORD")
        assert d.value == pw, text
    for text in ["The password is case-sensitive", "Das Passwort ist mindestens zwölf Zeichen lang"]:
        assert best(classifier, text, "PASSWORD") == 0.0, text


def test_http_basic_credentials(classifier: Classifier) -> None:
    """'Authorization: Basic base64(user:password)' is a SECRET; Basic with base64 prose is not."""
    import base64

    cred = base64.b64encode(b"svc-report:Qm7#vX2pLr9!").decode()
    assert best(classifier, f"GET /report 200 Authorization: Basic {cred}", "SECRET") >= 0.75
    prose = base64.b64encode(b"this is just some text").decode()
    assert best(classifier, f"Basic {prose}", "SECRET") < 0.5


def test_azure_sas_signature(classifier: Classifier) -> None:
    """The sig= of an Azure SAS URL (next to sv=) is an AZURE_KEY; a sig= query without sv= is not."""
    sig = fakes.token(RNG, 43)
    url = f"https://acct.blob.core.windows.net/c?sv=2022-11-02&ss=b&sp=rl&se=2026-01-01&sig={sig}%3D"
    (d,) = detect(classifier, url, "AZURE_KEY")
    assert d.score >= 0.8 and d.value.startswith(sig)
    assert best(classifier, f"https://example.org/search?q=x&sig={sig}", "AZURE_KEY") == 0.0


def test_short_password_keys_and_secret_references(classifier: Classifier) -> None:
    """ "PW:" and "DB_PASS=" with a generated value are passwords; plain words after them and Helm-style
    references to a secret kept elsewhere are not."""
    assert best(classifier, "Benutzer: backup-svc\nPW: Qm7#vX2pLr9!", "PASSWORD") >= 0.5
    assert best(classifier, "DB_PASS=Tz8kWq3Lp9vBn2", "PASSWORD") >= 0.5
    assert best(classifier, "pass: standard-tier", "PASSWORD") == 0.0
    assert best(classifier, "bypass=Tz8kWq3Lp9vBn2", "PASSWORD") == 0.0
    assert best(classifier, "auth:\n  existingSecret: db-credentials-prod\n", "PASSWORD") == 0.0


def test_crypt_hash_lines_are_credentials(classifier: Classifier) -> None:
    """htpasswd and shadow lines with a bcrypt/sha-crypt hash are credential material (cracked offline);
    locked or empty shadow entries and a bare scheme prefix are not."""
    crypt64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    bcrypt = "$2y$10$" + fakes.token(RNG, 53, crypt64)
    sha = "$6$" + fakes.token(RNG, 16, crypt64) + "$" + fakes.token(RNG, 86, crypt64)
    (d,) = detect(classifier, f"admin:{bcrypt}\n", "PASSWORD")
    assert d.value == bcrypt and d.score >= 0.6
    assert best(classifier, f"root:{sha}:19800:0:99999:7:::\n", "PASSWORD") >= 0.6
    assert best(classifier, "root:*:19800:0:99999:7:::\nops:!:19800:0:99999:7:::\n", "PASSWORD") == 0.0
    assert best(classifier, "user:$6$rounds=5000$:19800:0:99999:7:::\n", "PASSWORD") == 0.0


def test_password_xml_elements_and_userless_urls(classifier: Classifier) -> None:
    """A literal in a <password> element and a URL with an empty user (redis://:pw@host) are secrets;
    a variable reference in the element is not."""
    pw = "Qm7#vX2pLr9!" + fakes.token(RNG, 4)
    (d,) = detect(
        classifier, f"<creds><username>deploy</username><password>{pw}</password></creds>", "PASSWORD"
    )
    assert d.value == pw
    assert best(classifier, "<password>${env.DB_PASSWORD}</password>", "PASSWORD") == 0.0
    url = f"REDIS_URL=redis://:{fakes.token(RNG, 18)}@cache01:6379/0"
    assert best(classifier, url, "CONNECTION_STRING") >= 0.8


def test_private_key_protection_attribute(classifier: Classifier) -> None:
    """Passphrase-protected keys say so (the pack reports them at medium); plain ones say none."""
    body = fakes.pem_body(RNG)
    plain_openssh = base64.b64encode(
        b"openssh-key-v1\x00\x00\x00\x00\x04none\x00\x00\x00\x04none\x00\x00\x00\x00" + RNG.randbytes(200)
    ).decode()
    aes_openssh = base64.b64encode(
        b"openssh-key-v1\x00\x00\x00\x00\x0aaes256-ctr\x00\x00\x00\x06bcrypt" + RNG.randbytes(200)
    ).decode()
    openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\n{}\n-----END OPENSSH PRIVATE KEY-----"
    putty = (
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: {enc}\nComment: ops\nPublic-Lines: 1\n"
        f"AAAAC3NzaC1lZDI1NTE5AAAAI{fakes.token(RNG, 40)}\nPrivate-Lines: 2\n{body.splitlines()[0]}\n"
        f"{body.splitlines()[1]}\nPrivate-MAC: {fakes.token(RNG, 64, '0123456789abcdef')}\n"
    )
    cases = {
        fakes.private_key(RNG, "ENCRYPTED "): "passphrase",
        f"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,AB12\n\n{body}\n"
        "-----END RSA PRIVATE KEY-----": "passphrase",
        openssh.format(aes_openssh): "passphrase",
        openssh.format(plain_openssh): "none",
        fakes.private_key(RNG, "EC "): "none",
        putty.format(enc="none"): "none",
        putty.format(enc="aes256-cbc"): "passphrase",
    }
    for text, protection in cases.items():
        found = fakes.detect(classifier, text, "PRIVATE_KEY")
        assert [d.attribute("protection") for d in found] == [protection], text[:40]


def test_kubernetes_secret_data_is_decoded(classifier: Classifier) -> None:
    """Base64 data values of a Secret manifest are judged decoded: a password or key is found (span:
    the base64 value), a username, a placeholder or a ConfigMap value is not."""
    enc = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    secret = fakes.token(RNG, 18) + "!"
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ledger\ntype: Opaque\ndata:\n"
        f"  username: {enc('deploy')}\n  password: {enc(secret)}\n  placeholder: {enc('changeme-please')}\n"
        f"  tls.key: {enc(fakes.private_key(RNG))}\n"
    )
    found = fakes.detect(classifier, manifest, "KUBERNETES_SECRET")
    assert sorted(base64.b64decode(d.value).decode()[:10] for d in found) == sorted(
        [secret[:10], "-----BEGIN"]
    )
    configmap = manifest.replace("kind: Secret", "kind: ConfigMap")
    assert fakes.detect(classifier, configmap, "KUBERNETES_SECRET") == []
