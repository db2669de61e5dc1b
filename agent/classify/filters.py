"""Named false-positive filters: one home for "this candidate is not a secret" (as detect-secrets does).

A recognizer finds a candidate (a token, an assigned value); a filter says why it is not a leak: a
template reference, a placeholder, an encrypted value, a public key, a lock-file hash, a UUID, an
allow-list pragma. Each filter has a stable name; a recognizer that drops a candidate because of one
returns :func:`rejected` with that name, and `dropwarden explain` prints it next to the candidate.

Filters are pure, cheap and look at most :data:`~agent.classify.recognizers.base.MAX_LOOK`
characters around the candidate (the prefilter's margin covers that). YAML recognizers name the
filters they want (``filters: [placeholder, ...]``); Python recognizers call :func:`first_match`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.classify.validators import is_placeholder, shannon_entropy

MAX_LOOK = 256  # the same bound as recognizers.base.MAX_LOOK (base imports us: no cycle)


@dataclass(frozen=True)
class Candidate:
    """A value a recognizer found: the value itself and where it sits in the analysed text."""

    value: str
    text: str
    start: int
    end: int

    def line(self) -> str:
        """The candidate's line (at most MAX_LOOK characters either side)."""
        lo = self.text.rfind("\n", max(0, self.start - MAX_LOOK), self.start) + 1
        lo = max(lo, self.start - MAX_LOOK)
        hi = self.text.find("\n", self.end, self.end + MAX_LOOK)
        return self.text[lo : hi if hi >= 0 else min(len(self.text), self.end + MAX_LOOK)]

    def before(self, n: int = MAX_LOOK) -> str:
        return self.text[max(0, self.start - n) : self.start]


_TEMPLATE = re.compile(
    r"""\$\{[^}]*\}?            # ${VAR}, ${{ secrets.X }}
      | \{\{.*?\}\}             # {{ .Values.x }}, Jinja, Mustache
      | \{%.*?%\}               # Jinja statements
      | %\([A-Za-z_]\w*\)[sd]   # %(name)s
      | ^%[A-Za-z_]\w*%$        # %VAR% (Windows)
      | ^\$\(?[A-Za-z_]\w*\)?$  # $VAR, $(VAR)
      | ^<[^<>]{1,80}>$         # <password>, <YOUR_API_KEY>
      | ^\[[A-Z_ -]{3,40}\]$    # [REDACTED], [API KEY]
      | (?:os\.environ|os\.getenv|getenv\(|process\.env|System\.getenv|ENV\[|env\()
    """,
    re.VERBOSE,
)
# fmt: off
_PLACEHOLDER_WORDS = (
    "changeme", "change_me", "change-me", "changeit", "example", "dummy", "sample", "placeholder",
    "redacted", "your_", "your-", "yourapi", "yourkey", "yourtoken", "yoursecret",
    "todo", "fixme", "replace", "xxxx", "****", "....", "####", "notreal", "not_real", "fake", "foobar",
    "insert_", "insert-", "enter_", "enter-", "lorem",
)
# fmt: on
_REPEATED = re.compile(r"(.)\1{5,}")
_SEQUENTIAL = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "1234567890")
_ENCRYPTED = re.compile(
    r"""^ENC\(.*\)$                      # Jasypt ENC(...)
      | ^ENC\[[A-Z0-9_]+,data:          # SOPS ENC[AES256_GCM,data:...]
      | ^\$ANSIBLE_VAULT;               # Ansible Vault header
      | ^AgB[A-Za-z0-9+/]{40}           # Bitnami sealed-secrets ciphertext
      | ^vault:v\d+:                     # HashiCorp Vault transit ciphertext
      | ^\{cipher\}                      # Spring Cloud Config encrypted value
    """,
    re.VERBOSE,
)
_ENCRYPTED_LINE = re.compile(r"!vault\s*\|?|\$ANSIBLE_VAULT;|sops:|encryptedData:|ENC\[AES256_GCM")
_PUBLIC_KEY = re.compile(
    r"(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-ssh-ed25519@openssh\.com)\s+AAAA"
    r"|-----BEGIN (?:CERTIFICATE|PUBLIC KEY|RSA PUBLIC KEY|PGP PUBLIC KEY BLOCK|X509 CRL"
    r"|CERTIFICATE REQUEST)-----"
    r"|(?i:public[_-]?key|pubkey|publishable[_-]?key|certificate|\bcert\b)\W{0,4}$"
)
_LOCK_HASH = re.compile(
    r"^(?:sha(?:1|224|256|384|512)|md5)[-:]"  # SRI integrity, poetry/pip "sha256:..."
    r"|^h1:"  # go.sum
    r"|^[0-9a-f]{40}$|^[0-9a-f]{64}$|^[0-9a-f]{128}$",  # Cargo/Pipfile/composer content hashes
    re.IGNORECASE,
)
_LOCK_KEY = re.compile(
    r"(?i)(?:integrity|checksum|resolved|hash(?:es)?|digest|sha\d*|h1|content-hash|--hash)[\"']?\s*[=:]?\s*[\"'\[]?$"
)
_UUID = re.compile(r"(?i)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PRAGMA = re.compile(r"pragma:\s*allowlist[ -]secret", re.IGNORECASE)


def _template_reference(c: Candidate) -> bool:
    """``{{ .Values.x }}``, ``${VAR}``, ``%(name)s``, ``<password>``, environment lookups."""
    return bool(_TEMPLATE.search(c.value.strip().strip("'\"`")))


def _placeholder(c: Candidate) -> bool:
    """changeme, your-api-key-here, xxxx, ****, example, 0123456789, one character repeated over
    much of the value (a documented literal run such as Twitter's ``AAAA...`` prefix is shorter)."""
    v = c.value.strip().strip("'\"`").lower()
    if not v or any(w in v for w in _PLACEHOLDER_WORDS) or any(seq in v for seq in _SEQUENTIAL):
        return True
    return any(len(m.group()) * 5 >= len(v) * 2 for m in _REPEATED.finditer(v))


def _filler_word(c: Candidate) -> bool:
    """Values built from filler words (password, secret, test, none, your...): for assigned values,
    not for vendor tokens whose documented prefix may hold such a word (``AGE-SECRET-KEY-1``)."""
    return is_placeholder(c.value)


def _encrypted(c: Candidate) -> bool:
    """Ciphertext, not a secret: Jasypt ENC(...), SOPS, Ansible Vault, sealed-secrets, Vault transit."""
    v = c.value.strip().strip("'\"`")
    return bool(_ENCRYPTED.search(v) or _ENCRYPTED_LINE.search(c.line()))


def _public_key(c: Candidate) -> bool:
    """Public keys and certificates (SSH public keys, PEM certificates, ``public_key =`` values)."""
    line = c.line()
    head = c.before()
    at = line.find(c.value)
    heads = (line[:at], line[: at + 4]) if at >= 0 else (line,)  # + 4: the "AAAA" of an SSH key blob
    if any(_PUBLIC_KEY.search(h) for h in heads):
        return True
    begin, end = head.rfind("-----BEGIN "), head.rfind("-----END ")
    return begin > end and bool(_PUBLIC_KEY.match(head[begin:]))


def _lock_file_hash(c: Candidate) -> bool:
    """Hashes in lock files and manifests: SRI ``sha512-...``, go.sum ``h1:``, ``checksum = "..."``."""
    v = c.value.strip().strip("'\"`")
    if re.match(r"(?i)^(?:sha(?:1|224|256|384|512)|md5)-[A-Za-z0-9+/=]{20,}$|^h1:", v):
        return True
    return bool(_LOCK_HASH.search(v) and _LOCK_KEY.search(c.before(80)))


def _uuid(c: Candidate) -> bool:
    """A value holding a UUID is an identifier (request ids, object ids), not a credential."""
    return bool(_UUID.search(c.value))


def _allowlist_pragma(c: Candidate) -> bool:
    """detect-secrets' inline ``pragma: allowlist secret`` on the candidate's line."""
    return bool(_PRAGMA.search(c.line()))


# fmt: off
_WEAK = frozenset({
    "pass", "password", "passwd", "pwd", "secret", "changeme", "user", "admin", "root", "test", "guest",
    "example", "dummy", "xxx", "pw", "passw0rd",
})
# fmt: on
_WEAK_NOISE = re.compile(r"[\d_!.-]")


def _weak_password(c: Candidate) -> bool:
    """A dictionary default (admin, root, passw0rd, secret123): a demo value, not a leaked password."""
    return _WEAK_NOISE.sub("", c.value.lower()) in _WEAK or len(set(c.value)) == 1


def _low_entropy(c: Candidate) -> bool:
    """Below 3.0 bits per character: words and repetitive strings, not generated secrets."""
    return shannon_entropy(c.value) < 3.0


#: Every filter by name, in the order they are tried (the first that matches names the rejection).
FILTERS: dict[str, Callable[[Candidate], bool]] = {
    "allowlist-pragma": _allowlist_pragma,
    "template-reference": _template_reference,
    "encrypted-value": _encrypted,
    "public-key": _public_key,
    "lock-file-hash": _lock_file_hash,
    "uuid": _uuid,
    "placeholder": _placeholder,
    "filler-word": _filler_word,
    "weak-password": _weak_password,
    "low-entropy": _low_entropy,
}
#: What token-shaped candidates go through unless a recognizer names its own list.
TOKEN_FILTERS = ("allowlist-pragma", "template-reference", "encrypted-value", "placeholder", "low-entropy")
#: What assigned values (``password = ...``, quoted strings) go through.
VALUE_FILTERS = ("allowlist-pragma", "template-reference", "encrypted-value", "placeholder", "filler-word")


def first_match(names: Iterable[str], value: str, text: str, start: int, end: int) -> str | None:
    """The name of the first filter (of ``names``, in :data:`FILTERS` order) that rejects the candidate."""
    wanted = set(names)
    c = Candidate(value, text, start, end)
    for name, check in FILTERS.items():
        if name in wanted and check(c):
            return name
    return None


def check_names(names: Iterable[str]) -> list[str]:
    """Names that are not filters (policy loading reports them)."""
    return [n for n in names if n not in FILTERS]
