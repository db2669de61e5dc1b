"""Documented token formats of the vendors a bank's contractors use: the shapes behind
`policies/credential-formats.yaml` and the fakes of `bench/credentials.py`.

Each shape is what the vendor documents (prefix, alphabet, length, checksum); where a vendor
documents no prefix the format needs its keyword (``keyword``) before the value, as gitleaks'
rules do. Sources: each vendor's token-format page (GitHub's 2021 format post, npm's 2021 token
announcement, PyPI's macaroon tokens, Slack/Stripe/Twilio/... API docs), as collected by the
open-source scanners' rule sets that cite them.

A segment is a literal string or ``(alphabet, min, max)``; ``checksum`` names a validator of
agent/classify/validators.py that the last segment satisfies.
"""

from __future__ import annotations

import base64
import random
import re
import uuid
import zlib
from dataclasses import dataclass

from agent.classify.tokensums import base36, grafana_checksum
from agent.classify.validators import base62_crc32, bech32_polymod

ALPHABETS = {
    "alnum": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "hex": "0123456789abcdef",
    "HEX": "0123456789ABCDEF",
    "b64url": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
    "b64": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "lower": "abcdefghijklmnopqrstuvwxyz0123456789",
    "upper": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "letters": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "digits": "0123456789",
    "bech32": "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
    "base32l": "abcdefghijklmnopqrstuvwxyz234567",
    "b64any": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-",
    "slug": "abcdefghijklmnopqrstuvwxyz0123456789-_",
}
CLASSES = {
    "alnum": "A-Za-z0-9",
    "hex": "a-f0-9",
    "HEX": "A-F0-9",
    "b64url": "A-Za-z0-9_-",
    "b64": "A-Za-z0-9+/",
    "lower": "a-z0-9",
    "upper": "A-Z0-9",
    "letters": "A-Za-z",
    "digits": "0-9",
    "bech32": "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L",
    "base32l": "a-z2-7",
    "b64any": "A-Za-z0-9+/_-",
    "slug": "a-z0-9_-",
}
Segment = str | tuple[str, int, int]


@dataclass(frozen=True)
class Format:
    family: str
    name: str
    shape: tuple[Segment, ...]
    keyword: str | None = None  # a word the vendor's variable names hold: required before the value
    checksum: str | None = None  # a validator name: crc32_base62 | bech32 | grafana_crc32 | pypi_macaroon

    def fake(self, rng: random.Random, short: int | None = None) -> str:
        """A valid-shaped value (checksum included) with random content; ``short``: the index of a
        variable segment written one character below its minimum (a near miss)."""
        parts: list[str] = []
        for i, seg in enumerate(self.shape):
            if isinstance(seg, str):
                parts.append(seg)
                continue
            alphabet, lo, hi = seg
            n = lo - 1 if i == short else rng.randint(lo, hi)
            parts.append("".join(rng.choice(ALPHABETS[alphabet]) for _ in range(n)))
        value = "".join(parts)
        if self.checksum == "crc32_base62":
            head, body = value[:-6].rsplit("_", 1)
            value = f"{head}_{body}{base62_crc32(body)}"
        elif self.checksum == "bech32":
            value = bech32_complete(value[:-6])
        elif self.checksum == "grafana_crc32":
            value = value[:-8] + grafana_checksum(value[:-9])
        elif self.checksum == "pypi_macaroon":
            value = pypi_token(rng, "test.pypi.org" if "AgENdGVzdC5weXBpLm9yZw" in value else "pypi.org")
        return value

    def near_miss(self, rng: random.Random) -> str:
        """The same shape with its last variable part one character short, or a broken checksum."""
        if self.checksum == "pypi_macaroon":  # the signature cut short: no longer a macaroon
            return self.fake(rng)[:-8]
        if self.checksum:
            value = self.fake(rng)
            return value[:-1] + ("Q" if value[-1] != "Q" else "P")
        last = max(i for i, seg in enumerate(self.shape) if not isinstance(seg, str))
        return self.fake(rng, short=last)

    def placeholder(self) -> str:
        """The shape with its variable parts written as a filler (``sk_live_xxxx...``): documentation."""
        parts = []
        for seg in self.shape:
            if isinstance(seg, str):
                parts.append(seg)
            else:
                filler = "x" if "x" in ALPHABETS[seg[0]] else ("X" if "X" in ALPHABETS[seg[0]] else "0")
                parts.append(filler * seg[2])
        return "".join(parts)

    def regex(self) -> str:
        parts = []
        for seg in self.shape:
            if isinstance(seg, str):
                parts.append(re.escape(seg))
            else:
                cls, lo, hi = CLASSES[seg[0]], seg[1], seg[2]
                parts.append(f"[{cls}]{{{lo}}}" if lo == hi else f"[{cls}]{{{lo},{hi}}}")
        return "".join(parts)

    def tail_class(self) -> str:
        last = self.shape[-1]
        return re.escape(last[-1]) if isinstance(last, str) else CLASSES[last[0]]

    def max_len(self) -> int:
        return sum(len(s) if isinstance(s, str) else s[2] for s in self.shape)

    def prefix(self) -> str:
        first = self.shape[0]
        return first if isinstance(first, str) else ""


def bech32_complete(head: str) -> str:
    """Append the 6-character bech32 checksum (BIP-173) to ``HRP1data`` (upper case kept)."""
    charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
    low = head.lower()
    sep = low.rfind("1")
    hrp, data = low[:sep], [charset.index(c) for c in low[sep + 1 :]]
    chk = bech32_polymod(hrp, data + [0] * 6) ^ 1
    tail = "".join(charset[(chk >> 5 * (5 - i)) & 31] for i in range(6))
    return head + (tail.upper() if head.isupper() else tail)


def gitlab_routable(rng: random.Random, prefix: str = "glpat-") -> str:
    """A routable GitLab token as GitLab generates it (random bytes, routing lines, length, CRC)."""
    routing = "\n".join(f"{k}:{base36(rng.randrange(1, 10**7), 1)}" for k in ("c", "o", "u"))
    raw = rng.randbytes(16) + routing.encode() + bytes([len(routing)])
    payload = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    head = f"{prefix}{payload}.01.{base36(len(payload), 2)}"
    return head + base36(zlib.crc32(head.encode()), 7)


def _field(kind: int, data: bytes) -> bytes:
    return bytes([kind, len(data)]) + data  # every field here is shorter than 128 bytes: one-byte varints


def pypi_token(rng: random.Random, location: str = "pypi.org") -> str:
    """A PyPI API token: ``pypi-`` + a V2 binary macaroon (location, UUID identifier, JSON caveats,
    32-byte signature) as Warehouse issues them; random identifier and signature."""
    ident = str(uuid.UUID(bytes=rng.randbytes(16), version=4)).encode()
    caveats = [b'{"version":1,"permissions":"user"}', f'{{"nbf":{rng.randrange(10**9, 2 * 10**9)}}}'.encode()]
    raw = b"\x02" + _field(1, location.encode()) + _field(2, ident) + b"\x00"
    raw += b"".join(_field(2, c) + b"\x00" for c in caveats) + b"\x00" + _field(6, rng.randbytes(32))
    return "pypi-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def F(
    family: str, name: str, *shape: Segment, keyword: str | None = None, checksum: str | None = None
) -> Format:
    return Format(family, name, tuple(shape), keyword, checksum)


# fmt: off
FORMATS: tuple[Format, ...] = (
    # --- code platforms and package registries
    F("gitlab", "gitlab-feed-token", "glft-", ("b64url", 20, 20)),
    F("gitlab", "gitlab-incoming-mail-token", "glimt-", ("lower", 25, 25)),
    F("gitlab", "gitlab-agent-token", "glagent-", ("b64url", 50, 50)),
    F("gitlab", "gitlab-ci-build-token", "glcbt-", ("b64url", 1, 5), "_", ("b64url", 20, 20)),
    F("gitlab", "gitlab-oauth-app-secret", "gloas-", ("lower", 64, 64)),
    F("gitlab", "gitlab-scim-token", "glsoat-", ("b64url", 20, 20)),
    F("gitlab", "gitlab-feature-flag-token", "glffct-", ("b64url", 20, 20)),
    F("gitlab", "gitlab-runner-registration-token", "GR1348941", ("b64url", 20, 20)),
    F("bitbucket", "bitbucket-app-password", "ATBB", ("alnum", 28, 28), ("HEX", 8, 8)),
    F("bitbucket", "bitbucket-dc-http-token", "BBDC-", ("alnum", 44, 44)),
    F("atlassian", "atlassian-api-token", "ATATT3xFfGF0", ("b64url", 171, 171), "=", ("HEX", 8, 8)),
    F("atlassian", "atlassian-admin-api-key", "ATCTT3xFfGN0", ("b64url", 171, 171), "=", ("HEX", 8, 8)),
    F("jfrog", "jfrog-api-key", "AKCp", ("alnum", 69, 69)),
    F("jfrog", "jfrog-identity-token", "cmVmdGtuOjAxOj", ("alnum", 50, 50)),
    F("npm", "npm-access-token", "npm_", ("alnum", 36, 36), checksum="crc32_base62"),
    F("pypi", "pypi-upload-token", "pypi-AgEIcHlwaS5vcmc", ("b64url", 60, 1200), checksum="pypi_macaroon"),
    F("pypi", "testpypi-upload-token", "pypi-AgENdGVzdC5weXBpLm9yZw", ("b64url", 60, 1200), checksum="pypi_macaroon"),
    F("nuget", "nuget-api-key", "oy2", ("lower", 43, 43)),
    F("dockerhub", "docker-hub-pat", "dckr_pat_", ("b64url", 27, 27)),
    F("dockerhub", "docker-hub-oat", "dckr_oat_", ("b64url", 32, 32)),
    F("rubygems", "rubygems-api-key", "rubygems_", ("hex", 48, 48)),
    F("clojars", "clojars-deploy-token", "CLOJARS_", ("lower", 60, 60)),
    F("sourcegraph", "sourcegraph-access-token", "sgp_", ("hex", 40, 40)),
    F("hashicorp", "vault-service-token", "hvs.", ("b64url", 90, 120)),
    F("hashicorp", "vault-batch-token", "hvb.", ("b64url", 138, 300)),
    F("hashicorp", "vault-recovery-token", "hvr.", ("b64url", 90, 120)),
    F("hashicorp", "terraform-cloud-token", ("alnum", 14, 14), ".atlasv1.", ("b64url", 67, 67)),
    F("pulumi", "pulumi-access-token", "pul-", ("hex", 40, 40)),
    F("octopus", "octopus-deploy-api-key", "API-", ("upper", 26, 26)),
    F("prefect", "prefect-api-key", "pnu_", ("alnum", 36, 36)),
    F("readme", "readme-api-key", "rdme_", ("lower", 70, 70)),
    F("scalingo", "scalingo-api-token", "tk-us-", ("b64url", 48, 48)),
    F("infracost", "infracost-api-key", "ico-", ("alnum", 32, 32)),
    F("defined", "defined-networking-key", "dnkey-", ("lower", 26, 26), "-", ("lower", 52, 52)),
    F("planetscale", "planetscale-api-token", "pscale_tkn_", ("b64url", 43, 43)),
    F("planetscale", "planetscale-password", "pscale_pw_", ("b64url", 43, 43)),
    F("planetscale", "planetscale-oauth-token", "pscale_oauth_", ("b64url", 43, 43)),
    F("supabase", "supabase-access-token", "sbp_", ("hex", 40, 40)),
    F("render", "render-api-key", "rnd_", ("alnum", 32, 32)),
    F("tailscale", "tailscale-auth-key", "tskey-auth-", ("alnum", 12, 18), "-", ("alnum", 30, 34)),
    F("tailscale", "tailscale-api-key", "tskey-api-", ("alnum", 12, 18), "-", ("alnum", 30, 34)),
    F("tailscale", "tailscale-oauth-client-secret", "tskey-client-", ("alnum", 12, 18), "-", ("alnum", 30, 34)),
    # --- cloud providers
    F("aws", "aws-session-token", "IQoJb3JpZ2luX2Vj", ("b64", 200, 600)),
    F("aws", "aws-mws-auth-token", "amzn.mws.", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12)),
    F("gcp", "gcp-api-key", "AIza", ("b64url", 35, 35)),
    F("gcp", "gcp-oauth-client-secret", "GOCSPX-", ("b64url", 28, 28)),
    F("gcp", "gcp-oauth-refresh-token", "1//0", ("b64url", 40, 100)),
    F("gcp", "gcp-oauth-access-token", "ya29.", ("b64url", 100, 300)),
    F("azure", "azure-ad-client-secret", ("b64url", 3, 3), ("digits", 1, 1), "Q~", ("b64url", 34, 34)),
    F("azure", "azure-devops-pat", ("base32l", 52, 52), keyword="azure_devops"),
    F("azure", "azure-devops-pat-ado", ("base32l", 52, 52), keyword="ado_pat"),
    F("azure", "azure-openai-key", ("hex", 32, 32), keyword="azure_openai"),
    F("azure", "azure-apim-subscription-key", ("hex", 32, 32), keyword="ocp-apim-subscription-key"),
    F("alibaba", "alibaba-access-key-id", "LTAI", ("alnum", 20, 20)),
    F("alibaba", "alibaba-secret-key", ("alnum", 30, 30), keyword="alibaba_secret"),
    F("tencent", "tencent-secret-id", "AKID", ("alnum", 32, 32)),
    F("ibm", "ibm-cloud-api-key", ("b64url", 44, 44), keyword="ibmcloud_api_key"),
    F("digitalocean", "digitalocean-pat", "dop_v1_", ("hex", 64, 64)),
    F("digitalocean", "digitalocean-oauth-token", "doo_v1_", ("hex", 64, 64)),
    F("digitalocean", "digitalocean-refresh-token", "dor_v1_", ("hex", 64, 64)),
    F("heroku", "heroku-api-key-v2", "HRKU-AA", ("b64url", 58, 58)),
    F("heroku", "heroku-api-key", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12), keyword="heroku_api_key"),
    F("cloudflare", "cloudflare-api-token", ("b64url", 40, 40), keyword="cloudflare_api_token"),
    F("cloudflare", "cloudflare-global-api-key", ("hex", 37, 37), keyword="cloudflare_api_key"),
    F("cloudflare", "cloudflare-origin-ca-key", "v1.0-", ("hex", 24, 24), "-", ("hex", 146, 146)),
    F("fastly", "fastly-api-token", ("b64url", 32, 32), keyword="fastly_api_token"),
    F("databricks", "databricks-pat", "dapi", ("hex", 32, 32)),
    F("databricks", "databricks-oauth-secret", "dose", ("hex", 32, 32)),
    F("snowflake", "snowflake-password", ("alnum", 16, 40), keyword="snowflake_password"),
    F("linode", "linode-pat", ("hex", 64, 64), keyword="linode_token"),
    F("scaleway", "scaleway-secret-key", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12), keyword="scw_secret_key"),
    F("yandex", "yandex-cloud-api-key", "AQVN", ("b64url", 36, 36)),
    F("yandex", "yandex-cloud-iam-token", "t1.", ("b64url", 90, 90), ".", ("b64url", 86, 86)),
    # --- observability
    F("datadog", "datadog-api-key", ("hex", 32, 32), keyword="dd_api_key"),
    F("datadog", "datadog-api-key-named", ("hex", 32, 32), keyword="datadog_api_key"),
    F("datadog", "datadog-app-key", ("hex", 40, 40), keyword="dd_app_key"),
    F("newrelic", "newrelic-user-api-key", "NRAK-", ("upper", 27, 27)),
    F("newrelic", "newrelic-insights-insert-key", "NRII-", ("b64url", 32, 32)),
    F("newrelic", "newrelic-insights-query-key", "NRIQ-", ("b64url", 32, 32)),
    F("newrelic", "newrelic-browser-key", "NRJS-", ("hex", 19, 19)),
    F("newrelic", "newrelic-license-key", ("hex", 36, 36), "NRAL"),
    F("grafana", "grafana-cloud-token", "glc_", ("b64", 32, 400)),
    F("grafana", "grafana-service-account-token", "glsa_", ("alnum", 32, 32), "_", ("hex", 8, 8), checksum="grafana_crc32"),
    F("sentry", "sentry-org-token", "sntrys_", "eyJ", ("b64", 60, 300)),
    F("sentry", "sentry-user-token", "sntryu_", ("hex", 64, 64)),
    F("dynatrace", "dynatrace-api-token", "dt0c01.", ("upper", 24, 24), ".", ("upper", 64, 64)),
    F("splunk", "splunk-hec-token", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12), keyword="splunk_hec_token"),
    F("launchdarkly", "launchdarkly-sdk-key", "sdk-", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12)),
    F("launchdarkly", "launchdarkly-api-key", "api-", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12), keyword="launchdarkly"),
    # --- chat, mail, messaging
    F("slack", "slack-webhook-url", "https://hooks.slack.com/services/T", ("upper", 8, 10), "/B", ("upper", 8, 10), "/", ("alnum", 24, 24)),
    F("slack", "slack-workflow-webhook", "https://hooks.slack.com/workflows/T", ("upper", 8, 10), "/A", ("upper", 8, 10), "/", ("digits", 18, 18), "/", ("alnum", 24, 24)),
    F("slack", "slack-app-token", "xapp-1-A", ("upper", 8, 10), "-", ("digits", 13, 13), "-", ("hex", 64, 64)),
    F("teams", "teams-incoming-webhook", "https://acme.webhook.office.com/webhookb2/", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12), "@", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12), "/IncomingWebhook/", ("hex", 32, 32), "/", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12)),
    F("discord", "discord-webhook-url", "https://discord.com/api/webhooks/", ("digits", 18, 19), "/", ("b64url", 68, 68)),
    F("discord", "discord-bot-token", ("letters", 1, 1), ("b64url", 23, 25), ".", ("b64url", 6, 6), ".", ("b64url", 27, 38), keyword="discord"),
    F("telegram", "telegram-bot-token", ("digits", 8, 10), ":AA", ("b64url", 33, 33)),
    F("twilio", "twilio-api-key", "SK", ("hex", 32, 32)),
    F("twilio", "twilio-auth-token", ("hex", 32, 32), keyword="twilio_auth_token"),
    F("sendgrid", "sendgrid-api-key", "SG.", ("b64url", 22, 22), ".", ("b64url", 43, 43)),
    F("mailgun", "mailgun-api-key", "key-", ("hex", 32, 32)),
    F("mailgun", "mailgun-signing-key", ("hex", 32, 32), "-", ("hex", 8, 8), "-", ("hex", 8, 8), keyword="mailgun"),
    F("mailchimp", "mailchimp-api-key", ("hex", 32, 32), "-us", ("digits", 1, 2)),
    F("brevo", "brevo-api-key", "xkeysib-", ("hex", 64, 64), "-", ("alnum", 16, 16)),
    F("brevo", "brevo-smtp-key", "xsmtpsib-", ("hex", 64, 64), "-", ("alnum", 16, 16)),
    F("postmark", "postmark-server-token", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12), keyword="postmark"),
    F("mailjet", "mailjet-secret-key", ("hex", 32, 32), keyword="mailjet_secret"),
    F("messagebird", "messagebird-api-key", ("alnum", 25, 25), keyword="messagebird"),
    F("vonage", "vonage-api-secret", ("alnum", 16, 16), keyword="vonage_api_secret"),
    F("zendesk", "zendesk-api-token", ("alnum", 40, 40), keyword="zendesk_api_token"),
    F("intercom", "intercom-access-token", "dG9rOj", ("b64", 54, 60), keyword="intercom"),
    # --- payments and commerce
    F("stripe", "stripe-live-secret-key", "sk_live_", ("alnum", 24, 247)),
    F("stripe", "stripe-live-restricted-key", "rk_live_", ("alnum", 24, 247)),
    F("stripe", "stripe-webhook-secret", "whsec_", ("alnum", 32, 64)),
    F("paypal", "braintree-access-token", "access_token$production$", ("lower", 16, 16), "$", ("hex", 32, 32)),
    F("paypal", "paypal-client-secret", ("b64url", 80, 80), keyword="paypal_client_secret"),
    F("square", "square-access-token", "EAAA", ("b64url", 60, 60)),
    F("square", "square-oauth-secret", "sq0csp-", ("b64url", 43, 43)),
    F("square", "square-legacy-access-token", "sq0atp-", ("b64url", 22, 22)),
    F("shopify", "shopify-access-token", "shpat_", ("hex", 32, 32)),
    F("shopify", "shopify-custom-app-token", "shpca_", ("hex", 32, 32)),
    F("shopify", "shopify-private-app-token", "shppa_", ("hex", 32, 32)),
    F("shopify", "shopify-shared-secret", "shpss_", ("hex", 32, 32)),
    F("adyen", "adyen-api-key", "AQE", ("b64url", 60, 120), keyword="adyen"),
    F("flutterwave", "flutterwave-secret-key", "FLWSECK-", ("hex", 32, 32), "-X"),
    F("flutterwave", "flutterwave-encryption-key", "FLWSECK", ("hex", 12, 12), keyword="flutterwave"),
    F("gocardless", "gocardless-live-token", "live_", ("b64url", 40, 40), keyword="gocardless"),
    F("coinbase", "coinbase-api-secret", ("b64", 86, 88), keyword="coinbase_api_secret"),
    F("shippo", "shippo-live-token", "shippo_live_", ("hex", 40, 40)),
    F("easypost", "easypost-api-key", "EZAK", ("alnum", 54, 54)),
    F("duffel", "duffel-live-token", "duffel_live_", ("b64url", 43, 43)),
    F("plaid", "plaid-secret", ("hex", 30, 30), keyword="plaid_secret"),
    # --- AI vendors
    F("openai", "openai-project-key", "sk-proj-", ("b64url", 58, 74), "T3BlbkFJ", ("b64url", 58, 74)),
    F("openai", "openai-service-account-key", "sk-svcacct-", ("b64url", 58, 74), "T3BlbkFJ", ("b64url", 58, 74)),
    F("openai", "openai-admin-key", "sk-admin-", ("b64url", 58, 74), "T3BlbkFJ", ("b64url", 58, 74)),
    F("openai", "openai-legacy-key", "sk-", ("alnum", 20, 20), "T3BlbkFJ", ("alnum", 20, 20)),
    F("anthropic", "anthropic-api-key", "sk-ant-api03-", ("b64url", 93, 93), "AA"),
    F("anthropic", "anthropic-admin-key", "sk-ant-admin01-", ("b64url", 93, 93), "AA"),
    # Claude.ai OAuth access and refresh tokens: no documented length, at least 40 characters
    F("anthropic", "anthropic-oauth-token", "sk-ant-oat01-", ("b64url", 40, 400)),
    F("anthropic", "anthropic-oauth-refresh-token", "sk-ant-ort01-", ("b64url", 40, 400)),
    F("huggingface", "huggingface-access-token", "hf_", ("letters", 34, 34)),
    F("huggingface", "huggingface-org-token", "api_org_", ("letters", 34, 34)),
    F("groq", "groq-api-key", "gsk_", ("alnum", 52, 52)),
    F("perplexity", "perplexity-api-key", "pplx-", ("alnum", 48, 48)),
    F("replicate", "replicate-api-token", "r8_", ("alnum", 37, 37)),
    F("xai", "xai-api-key", "xai-", ("alnum", 80, 80)),
    F("openrouter", "openrouter-api-key", "sk-or-v1-", ("hex", 64, 64)),
    F("langsmith", "langsmith-pat", "lsv2_pt_", ("hex", 32, 32), "_", ("hex", 10, 10)),
    F("langsmith", "langsmith-service-key", "lsv2_sk_", ("hex", 32, 32), "_", ("hex", 10, 10)),
    F("mistral", "mistral-api-key", ("alnum", 32, 32), keyword="mistral_api_key"),
    F("cohere", "cohere-api-key", ("alnum", 40, 40), keyword="cohere_api_key"),
    F("deepseek", "deepseek-api-key", "sk-", ("hex", 32, 32), keyword="deepseek"),
    F("elevenlabs", "elevenlabs-api-key", "sk_", ("hex", 48, 48), keyword="elevenlabs"),
    # --- productivity and SaaS
    F("notion", "notion-integration-token", "ntn_", ("digits", 11, 11), ("alnum", 35, 35)),
    F("notion", "notion-legacy-secret", "secret_", ("alnum", 43, 43), keyword="notion"),
    F("linear", "linear-api-key", "lin_api_", ("alnum", 40, 40)),
    F("linear", "linear-oauth-token", "lin_oauth_", ("hex", 64, 64)),
    F("figma", "figma-pat", "figd_", ("b64url", 40, 40)),
    F("postman", "postman-api-key", "PMAK-", ("hex", 24, 24), "-", ("hex", 34, 34)),
    # Doppler's "Auth Token Formats" page: 40-44 alphanumerics; a service token may name its config
    F("doppler", "doppler-personal-token", "dp.pt.", ("alnum", 40, 44)),
    F("doppler", "doppler-service-token", "dp.st.", ("alnum", 40, 44)),
    F("doppler", "doppler-service-token-config", "dp.st.", ("slug", 2, 35), ".", ("alnum", 40, 44)),
    F("doppler", "doppler-service-account-token", "dp.sa.", ("alnum", 40, 44)),
    F("doppler", "doppler-service-account-identity-token", "dp.said.", ("alnum", 40, 44)),
    F("doppler", "doppler-cli-token", "dp.ct.", ("alnum", 40, 44)),
    F("doppler", "doppler-scim-token", "dp.scim.", ("alnum", 40, 44)),
    F("doppler", "doppler-audit-token", "dp.audit.", ("alnum", 40, 44)),
    # 1Password: service-account tokens are base64 JSON (often 800+ characters); secret keys come
    # grouped 6-6-5-5-5-5 (emergency kits) or 6-11-5-5-5 (the security white paper)
    F("onepassword", "onepassword-service-token", "ops_eyJ", ("b64any", 250, 4000)),
    F("onepassword", "onepassword-secret-key", "A3-", ("upper", 6, 6), "-", ("upper", 6, 6), "-", ("upper", 5, 5), "-", ("upper", 5, 5), "-", ("upper", 5, 5), "-", ("upper", 5, 5)),
    F("onepassword", "onepassword-secret-key-paper", "A3-", ("upper", 6, 6), "-", ("upper", 11, 11), "-", ("upper", 5, 5), "-", ("upper", 5, 5), "-", ("upper", 5, 5)),
    F("age", "age-secret-key", "AGE-SECRET-KEY-1", ("bech32", 58, 58), checksum="bech32"),
    F("asana", "asana-pat", "2/", ("digits", 16, 16), "/", ("digits", 16, 16), ":", ("hex", 32, 32)),
    F("airtable", "airtable-pat", "pat", ("alnum", 14, 14), ".", ("hex", 64, 64)),
    F("clickup", "clickup-api-token", "pk_", ("digits", 6, 9), "_", ("upper", 32, 32)),
    F("typeform", "typeform-pat", "tfp_", ("b64url", 44, 44), "_", ("b64url", 14, 14)),
    F("hubspot", "hubspot-private-app-token", "pat-", "na1", "-", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12)),
    F("mapbox", "mapbox-secret-token", "sk.eyJ", ("b64url", 60, 300), ".", ("b64url", 22, 22)),
    F("contentful", "contentful-pat", "CFPAT-", ("b64url", 43, 43)),
    F("frameio", "frameio-token", "fio-u-", ("b64url", 64, 64)),
    F("salesforce", "salesforce-access-token", "00D", ("alnum", 12, 15), "!", ("b64url", 90, 110), keyword="salesforce"),
    F("dropbox", "dropbox-short-lived-token", "sl.", ("b64url", 135, 140)),
    F("dropbox", "dropbox-long-lived-token", ("alnum", 11, 11), "AAAAAAAAAA", ("b64url", 43, 43), keyword="dropbox"),
    F("zoom", "zoom-client-secret", ("alnum", 32, 32), keyword="zoom_client_secret"),
    F("okta", "okta-api-token", "00", ("b64url", 40, 40), keyword="okta"),
    F("auth0", "auth0-client-secret", ("b64url", 64, 64), keyword="auth0_client_secret"),
    F("firebase", "firebase-fcm-server-key", "AAAA", ("b64url", 7, 7), ":APA91b", ("b64url", 134, 134)),
    F("facebook", "facebook-access-token", "EAACEdEose0cBA", ("alnum", 100, 200)),
    F("facebook", "facebook-app-secret", ("hex", 32, 32), keyword="facebook_app_secret"),
    F("instagram", "instagram-access-token", "IGQV", ("b64url", 160, 240)),
    F("twitter", "twitter-bearer-token", "AAAAAAAAAAAAAAAAAAAAA", ("alnum", 80, 100)),
    F("twitter", "twitter-api-secret", ("alnum", 50, 50), keyword="twitter_api_secret"),
    F("twitch", "twitch-client-secret", ("lower", 30, 30), keyword="twitch_client_secret"),
    F("atlassian", "jira-api-token", ("alnum", 24, 24), keyword="jira_api_token"),
    F("atlassian", "confluence-api-token", ("alnum", 24, 24), keyword="confluence_api_token"),
    F("snyk", "snyk-api-token", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12), keyword="snyk_token"),
    F("travis", "travis-api-token", ("b64url", 22, 22), keyword="travis_api_token"),
    F("buildkite", "buildkite-agent-token", "bkua_", ("hex", 40, 40)),
    F("codecov", "codecov-upload-token", ("hex", 8, 8), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 4, 4), "-", ("hex", 12, 12), keyword="codecov_token"),
    F("algolia", "algolia-admin-key", ("hex", 32, 32), keyword="algolia_admin_key"),
    F("segment", "segment-public-api-token", "sgp_", ("alnum", 64, 64)),
    F("mattermost", "mattermost-access-token", ("lower", 26, 26), keyword="mattermost_token"),
)
# fmt: on


# --- the policy pack generated from the table (`python -m bench.credential_formats > policies/...`)

_TOKEN_FILTERS = ["allowlist-pragma", "template-reference", "encrypted-value", "placeholder", "low-entropy"]
#: After the keyword: an assignment (=, :, =>, :=) or prose ("... for the staging job is", "lautet").
_ASSIGN = (
    r"""[\w.-]{0,20}["']?(?:[ \t]{0,3}(?:=|:=|:|=>)|[ \t][\w \t,-]{0,40}?[ \t](?:is|ist|lautet|est|è):?)"""
    r"""[ \t]{0,3}["']?"""
)
_ASSIGN_LEN = 20 + 1 + 1 + 40 + 1 + 7 + 3 + 1


def keyword_regex(keyword: str) -> str:
    """``dd_api_key`` also as DD-API-KEY, dd.api.key, ddapikey (case is free: packs are case-insensitive)."""
    return "[_.-]?".join(re.escape(w) for w in keyword.split("_"))


def _segment_regex(seg: Segment, cap: int | None = None) -> str:
    if isinstance(seg, str):
        return re.escape(seg)
    cls, lo, hi = CLASSES[seg[0]], seg[1], seg[2]
    if cap is not None:
        return f"[{cls}]{{{min(lo, cap)}}}"
    return f"[{cls}]{{{lo}}}" if lo == hi else f"[{cls}]{{{lo},{hi}}}"


def trigger(fmt: Format) -> str:
    """A re2 regex every match contains: the longest literal, widened by its neighbours when short."""
    if fmt.keyword:
        return "(?i)" + keyword_regex(fmt.keyword)
    i = max(range(len(fmt.shape)), key=lambda k: len(fmt.shape[k]) if isinstance(fmt.shape[k], str) else 0)
    lit = fmt.shape[i]
    if not isinstance(lit, str):
        raise ValueError(f"{fmt.name}: a format without a keyword needs a literal part")
    if len(lit) >= 4:
        return re.escape(lit)
    before = _segment_regex(fmt.shape[i - 1], 12) if i > 0 and not isinstance(fmt.shape[i - 1], str) else ""
    after = ""
    if i + 1 < len(fmt.shape) and not isinstance(fmt.shape[i + 1], str):
        after = _segment_regex(fmt.shape[i + 1], 12)
    # a variable segment before the literal only contributes its last characters: still contained
    return f"{before}{re.escape(lit)}{after}"


def recognizer(fmt: Format, rng: random.Random) -> dict[str, object]:
    shape = fmt.regex()
    right = f"(?![{fmt.tail_class()}])"
    if fmt.keyword:
        regex = f"(?:{keyword_regex(fmt.keyword)}){_ASSIGN}(?P<secret>(?-i:{shape})){right}"
        max_len = len(fmt.keyword) * 3 + _ASSIGN_LEN + fmt.max_len()
        line = f"{fmt.keyword.upper()}={{}}"
        score = 0.8
    else:
        first = fmt.shape[0]
        left = "(?<![A-Za-z0-9])" if isinstance(first, str) else f"(?<![{CLASSES[first[0]]}])"
        regex = f"(?-i:{left}{shape}{right})"
        max_len = fmt.max_len()
        line = f"{fmt.family.upper()}_TOKEN={{}}"
        score = 0.85
    rec: dict[str, object] = {
        "name": fmt.name,
        "entity": "API_TOKEN",
        "patterns": [{"name": fmt.name, "regex": regex, "score": score}],
        "trigger": trigger(fmt),
        "max_len": max_len,
    }
    if fmt.checksum:
        rec["validator"] = fmt.checksum
    rec["filters"] = list(_TOKEN_FILTERS)
    rec["examples"] = {"match": [line.format(fmt.fake(rng))], "no_match": [line.format(fmt.near_miss(rng))]}
    return rec


HEADER = """\
# GENERATED by `python -m bench.credential_formats > policies/credential-formats.yaml` from the
# documented token formats in bench/credential_formats.py: edit the table there, not this file.
# One recognizer per vendor format (entity API_TOKEN): the vendor's documented prefix, alphabet and
# length (and checksum: npm's base62 CRC32, age's bech32); formats without a prefix need the vendor's
# variable name before the value. Each has a prefilter trigger (`policy lint` checks the contract),
# named false-positive filters (agent/classify/filters.py), and a match and a near-miss example that
# `policy test` runs. All example values are random fakes.
"""

RULE = {
    "id": "vendor-api-token",
    "desc": "Vendor API token, access key or webhook secret in a documented format.",
    "severity": "high",
    "entities": ["API_TOKEN"],
    "min_score": 0.5,
    "tags": ["secret"],
}


def pack(seed: int = 15) -> dict[str, object]:
    rng = random.Random(seed)
    recs = [recognizer(f, rng) for f in FORMATS]
    stripe = next(f for f in FORMATS if f.name == "stripe-live-secret-key")
    npm = next(f for f in FORMATS if f.name == "npm-access-token")
    rule = dict(RULE)
    rule["examples"] = {
        "match": [
            f"payments:\n  stripe_secret: {stripe.fake(rng)}\n",
            f"//registry.npmjs.org/:_authToken={npm.fake(rng)}\n",
        ],
        "no_match": [
            "payments:\n  stripe_secret: sk_live_xxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
            f"//registry.npmjs.org/:_authToken={npm.near_miss(rng)}\n",
        ],
    }
    return {
        "pack": "credential-formats",
        "version": 1,
        "desc": "API tokens and keys of the SaaS and cloud vendors a bank's contractors use.",
        "recognizers": recs,
        "rules": [rule],
    }


def main() -> None:
    import yaml

    print(
        HEADER
        + yaml.safe_dump(pack(), sort_keys=False, width=250, allow_unicode=True, default_flow_style=None),
        end="",
    )


if __name__ == "__main__":
    main()
