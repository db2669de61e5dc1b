"""Credential recall and near-miss false positives per vendor family, through the real pipeline.

`python bench/credentials.py [--per-format N] [--seed S]`

For every documented format (bench/credential_formats.py, plus the families our Python recognizers
cover: GitHub, GitLab, Slack, AWS, Azure, GCP, JWT, private keys, connection strings, password
hashes) it writes N valid-shaped fakes into the places a contractor share collects them (an .env
line, YAML, JSON, a shell command, prose) and as many near misses (one character short or a broken
checksum, and the shape filled with x's as documentation does). Each text is evaluated as one file in a contractor-drop zone with the
shipped packs: a fake counts as found when a secret rule alerts (medium or above); a near miss is a
false positive when a *format* rule (one naming the format's entity) alerts. Prints per family n,
recall and false positives, then the false positives by format and context (never a value), and
the totals. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import random
import string
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.classify.validators import base62_crc32
from agent.models import FileRef
from agent.pipeline import build_pipeline, default_policy_dirs
from bench.credential_formats import FORMATS, Format, gitlab_routable
from bench.credentials_keystores import jks_bytes, keytab_bytes, pkcs12_bytes

ALNUM = string.ascii_letters + string.digits
ALERTING = frozenset({"medium", "high", "critical"})
#: Rules that report the format itself (a near miss alerting through them is a false positive).
FORMAT_RULES = frozenset(
    {"vendor-api-token", "code-platform-token", "cloud-access-key", "private-key", "signed-jwt", "keystore"}
)

Maker = Callable[[random.Random], str]


def _rand(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _github(prefix: str) -> tuple[Maker, Maker]:
    def good(rng: random.Random) -> str:
        body = _rand(rng, 30)
        return prefix + body + base62_crc32(body)

    def bad(rng: random.Random) -> str:
        value = good(rng)
        return value[:-1] + ("A" if value[-1] != "A" else "B")

    return good, bad


def _prefixed(prefix: str, n: int, alphabet: str = ALNUM) -> tuple[Maker, Maker]:
    return (lambda rng: prefix + _rand(rng, n, alphabet)), (lambda rng: prefix + _rand(rng, n - 8, alphabet))


def _jwt(signed: bool) -> Maker:
    def make(rng: random.Random) -> str:
        enc = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
        head = enc(json.dumps({"alg": "HS256" if signed else "none", "typ": "JWT"}).encode())
        body = enc(json.dumps({"sub": _rand(rng, 8), "iat": rng.randrange(10**9, 2 * 10**9)}).encode())
        sig = enc(hmac.new(_rand(rng, 16).encode(), f"{head}.{body}".encode(), hashlib.sha256).digest())
        return f"{head}.{body}.{sig if signed else ''}"

    return make


def _pem(kind: str, rng: random.Random, lines: int = 8) -> str:
    body = "\n".join(base64.b64encode(rng.randbytes(48)).decode() for _ in range(lines))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


def _aws_pair(rng: random.Random) -> str:
    key_id = "AKIA" + _rand(rng, 16, string.ascii_uppercase + "234567")
    secret = _rand(rng, 40, ALNUM + "+/")
    return f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n"


def _azure(rng: random.Random) -> str:
    key = base64.b64encode(rng.randbytes(64)).decode()
    return f"DefaultEndpointsProtocol=https;AccountName=st{_rand(rng, 8).lower()};AccountKey={key};EndpointSuffix=core.windows.net"


def _gcp(rng: random.Random) -> str:
    key = _pem("PRIVATE KEY", rng).replace("\n", "\\n")
    return json.dumps(
        {"type": "service_account", "project_id": "p-" + _rand(rng, 6).lower(), "private_key": key}, indent=2
    )


def _pem_maker(kind: str) -> Maker:
    return lambda rng: _pem(kind, rng)


def _conn_placeholder(scheme: str) -> Maker:
    return lambda rng: f"{scheme}://app:${{DB_PASSWORD}}@db.corp.local/app"


def _conn(scheme: str) -> Maker:
    return lambda rng: (
        f"{scheme}://svc_{_rand(rng, 4).lower()}:{_rand(rng, 14)}!{_rand(rng, 2)}@db{rng.randrange(9)}.corp.local:5432/app"
    )


def _pw(rng: random.Random) -> str:
    return _rand(rng, 6) + rng.choice("!#%*") + _rand(rng, 7)


def _cli(template: str) -> tuple[Maker, Maker]:
    """A command line holding a password, and the same with a variable in its place."""
    return (lambda rng: template.format(pw=_pw(rng))), (lambda rng: template.format(pw="$DEPLOY_PASSWORD"))


def _routable(prefix: str) -> tuple[Maker, Maker]:
    """A routable GitLab token, and the same with its CRC32 broken."""

    def bad(rng: random.Random) -> str:
        value = gitlab_routable(rng, prefix)
        return value[:-1] + ("a" if value[-1] != "a" else "b")

    return (lambda rng: gitlab_routable(rng, prefix)), bad


def _keystore_secret(make: Callable[[random.Random], bytes]) -> Maker:
    """A keystore base64-encoded into a Kubernetes Secret (how they travel in config repositories);
    the near misses are truststores (certificates only) or an empty keytab."""

    def doc(rng: random.Random) -> str:
        blob = base64.b64encode(make(rng)).decode()
        return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: tls\ndata:\n  store: {blob}\n"

    return doc


def _k8s(value: Maker) -> Maker:
    def make(rng: random.Random) -> str:
        enc = base64.b64encode(value(rng).encode()).decode()
        user = base64.b64encode(b"deploy").decode()
        return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\ndata:\n  username: {user}\n  password: {enc}\n"

    return make


#: family -> [(name, fake maker, near-miss maker, whole document?)]
PYTHON_FAMILIES: dict[str, list[tuple[str, Maker, Maker, bool]]] = {
    "github": [
        (f"github-{p.rstrip('_')}", *_github(p), False) for p in ("ghp_", "gho_", "ghu_", "ghs_", "ghr_")
    ]
    + [
        (
            "github-fine-grained",
            lambda r: "github_pat_" + _rand(r, 22) + "_" + _rand(r, 59),
            lambda r: "github_pat_" + _rand(r, 12),
            False,
        )
    ],
    "gitlab": [
        (f"gitlab-{p.rstrip('-')}", *_prefixed(p, 20, ALNUM + "_-"), False)
        for p in ("glpat-", "gldt-", "glrt-", "glptt-")
    ]
    + [(f"gitlab-routable-{p.rstrip('-')}", *_routable(p), False) for p in ("glpat-", "glrt-", "glagent-")],
    "keystore": [
        (f"keystore-{name}", _keystore_secret(make), _keystore_secret(trust), True)
        for name, make, trust in (
            ("pkcs12", lambda r: pkcs12_bytes(_rand(r, 12).encode()), lambda r: pkcs12_bytes(None, False)),
            ("jks", lambda r: jks_bytes(r, (2, 1)), lambda r: jks_bytes(r, (2, 2))),
            ("jceks", lambda r: jks_bytes(r, (3,), 0xCECECECE), lambda r: jks_bytes(r, (2,), 0xCECECECE)),
            ("keytab", keytab_bytes, lambda r: base64.b64decode("BQIAAAAA")),
        )
    ],
    "slack": [
        (
            "slack-bot-token",
            lambda r: f"xoxb-{_rand(r, 12, string.digits)}-{_rand(r, 13, string.digits)}-{_rand(r, 24)}",
            lambda r: "xoxb-" + _rand(r, 6, string.digits),
            False,
        ),
        (
            "slack-user-token",
            lambda r: (
                f"xoxp-{_rand(r, 12, string.digits)}-{_rand(r, 12, string.digits)}-{_rand(r, 13, string.digits)}-{_rand(r, 32, '0123456789abcdef')}"
            ),
            lambda r: "xoxp-" + _rand(r, 6, string.digits),
            False,
        ),
        (
            "slack-legacy-token",
            lambda r: (
                f"xoxo-{_rand(r, 10, string.digits)}-{_rand(r, 10, string.digits)}-{_rand(r, 10, string.digits)}-{_rand(r, 10, '0123456789abcdef')}"
            ),
            lambda r: "xoxo-" + _rand(r, 6, string.digits),
            False,
        ),
    ],
    "aws": [
        (
            "aws-credentials-file",
            _aws_pair,
            lambda r: "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n",
            True,
        )
    ],
    "azure": [
        (
            "azure-storage-connection-string",
            _azure,
            lambda r: "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=<your-key>",
            True,
        )
    ],
    "gcp": [
        (
            "gcp-service-account-json",
            _gcp,
            lambda r: json.dumps({"type": "service_account", "private_key": "<redacted>"}),
            True,
        )
    ],
    "jwt": [("jwt-signed", _jwt(True), _jwt(False), False)],
    "private-key": [
        (
            f"pem-{k.split()[0].lower()}",
            _pem_maker(k),
            _pem_maker(k.replace("PRIVATE", "PUBLIC")),
            True,
        )
        for k in (
            "RSA PRIVATE KEY",
            "EC PRIVATE KEY",
            "PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
            "PGP PRIVATE KEY BLOCK",
        )
    ],
    "command-line": [
        (f"cli-{n}", *_cli(t), True)
        for n, t in (
            ("curl", "curl -s -u deploy:{pw} https://api.corp.local/v1/items\n"),
            ("mysql", "mysqldump -u root -p{pw} -h db01 ledger > ledger.sql\n"),
            ("sshpass", "sshpass -p '{pw}' ssh ops@fs01.corp.local\n"),
            ("net-use", "net use Z: \\\\fs01\\share /user:CORP\\svc {pw}\n"),
            ("docker-login", "docker login -u deploy -p {pw} registry.corp.local\n"),
            ("pgpassword", "PGPASSWORD={pw} psql -h db01 -U app ledger\n"),
            ("securestring", "$p = ConvertTo-SecureString '{pw}' -AsPlainText -Force\n"),
            ("openssl", "openssl pkcs12 -in c.p12 -passin pass:{pw} -out c.pem\n"),
        )
    ],
    "kubernetes": [("k8s-secret-data", _k8s(_pw), _k8s(lambda r: "changeme"), True)],
    "connection-string": [
        (
            f"url-{s}",
            _conn(s),
            _conn_placeholder(s),
            False,
        )
        for s in ("postgresql", "mysql", "mongodb", "redis", "amqp", "jdbc:sqlserver")
    ],
}

#: Where a value appears: {v} the value, {k} the variable name.
CONTEXTS = {
    "env": "{k}={v}\n",
    "yaml": "service:\n  {k_low}: {v}\n  region: eu-central-1\n",
    "json": '{{"name": "ledger-sync", "{k_low}": "{v}", "enabled": true}}\n',
    "shell": 'export {k}="{v}"\n./deploy.sh --env prod\n',
    "prose": "Hi team, the {k_low} for the staging job is {v} - please rotate it after the demo.\n",
}


def _documents(fmt_key: str, value: str, whole: bool) -> list[tuple[str, str]]:
    if whole:
        return [("file", value)]
    return [(ctx, t.format(k=fmt_key.upper(), k_low=fmt_key.lower(), v=value)) for ctx, t in CONTEXTS.items()]


def _key_name(fmt: Format) -> str:
    return fmt.keyword if fmt.keyword else f"{fmt.family}_token"


def cases(per_format: int, seed: int) -> list[tuple[str, str, str, bool, str]]:
    """(family, format, context, is_secret, text) for every fake and near miss."""
    rng = random.Random(seed)
    out = []
    for fmt in FORMATS:
        for _ in range(per_format):
            for ctx, text in _documents(_key_name(fmt), fmt.fake(rng), False):
                out.append((fmt.family, fmt.name, ctx, True, text))
            for miss in (fmt.near_miss(rng), fmt.placeholder()):
                for ctx, text in _documents(_key_name(fmt), miss, False):
                    out.append((fmt.family, fmt.name, ctx, False, text))
    for family, entries in PYTHON_FAMILIES.items():
        for name, good, bad, whole in entries:
            for _ in range(per_format):
                for ctx, text in _documents(f"{family.replace('-', '_')}_token", good(rng), whole):
                    out.append((family, name, ctx, True, text))
                for ctx, text in _documents(f"{family.replace('-', '_')}_token", bad(rng), whole):
                    out.append((family, name, ctx, False, text))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-format", type=int, default=2)
    ap.add_argument("--seed", type=int, default=20261204)
    a = ap.parse_args()
    pipeline = build_pipeline(default_policy_dirs(), key=b"bench-credentials-key-32-bytes!!")
    ref = FileRef(path="/srv/drop/config.txt", role="contractor-drop")  # type: ignore[arg-type]
    stats: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # secrets, found, near misses, FPs
    missed: list[str] = []
    fps: list[str] = []
    formats: set[str] = set()
    for family, name, ctx, is_secret, text in cases(a.per_format, a.seed):
        formats.add(name)
        findings = [f for f in pipeline.evaluate_text(text, ref).findings if f.severity in ALERTING]
        row = stats[family]
        if is_secret:
            row[0] += 1
            if findings:
                row[1] += 1
            else:
                missed.append(f"{name} ({ctx})")
        else:
            row[2] += 1
            wrong = sorted({f.rule for f in findings if f.rule in FORMAT_RULES})
            if wrong:
                row[3] += 1
                fps.append(f"{name} ({ctx}): {', '.join(wrong)}")
    print(f"{'family':<20} {'secrets':>7} {'recall':>7} {'near':>5} {'FP':>4}")
    for family in sorted(stats):
        n, found, near, fp = stats[family]
        print(f"{family:<20} {n:>7} {found / n:>7.3f} {near:>5} {fp:>4}")
    n = sum(r[0] for r in stats.values())
    found = sum(r[1] for r in stats.values())
    near = sum(r[2] for r in stats.values())
    fp = sum(r[3] for r in stats.values())
    print(f"\nmissed ({len(missed)}):" + "".join(f"\n  {m}" for m in sorted(set(missed))))
    print(f"false positives ({len(fps)}):" + "".join(f"\n  {m}" for m in sorted(set(fps))))
    print(
        f"\n{len(formats)} formats in {len(stats)} families: recall {found / n:.3f} ({found}/{n}), "
        f"near-miss false positives {fp}/{near}"
    )


if __name__ == "__main__":
    main()
