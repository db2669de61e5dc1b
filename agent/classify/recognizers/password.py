"""PASSWORD: a literal assigned to a password/secret/token/api-key name in code, config or prose.

Not reported: placeholders and template/environment references (``changeme``, ``<YOUR_API_KEY>``,
``${VAR}``, ``$VAR``, ``{{var}}``, ``os.environ[...]``, ``process.env.X``, ``xxx``, ``***``, ...), code
expressions, values shorter than 8 characters or below 3.0 bits/char, quoted prose (whitespace inside),
and lines carrying ``pragma: allowlist secret``. The span is the value only. htpasswd/shadow lines
with a crypt hash ($2y$, $6$, $apr1$, argon2) count too: the hash is cracked offline.
"""

from __future__ import annotations

import re

from agent.classify.filters import VALUE_FILTERS
from agent.classify.recognizers.base import Assessment, DwPatternRecognizer, filtered
from agent.classify.validators import shannon_entropy

_KEYWORD = (
    r"(?:passw(?:or)?d|passwort|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|auth[_-]?key|"
    r"private[_-]?key|client[_-]?secret|kennwort|mot[ _-]de[ _-]passe|contrase(?:ñ|n)a|wachtwoord|"
    r"parola[ _-]d[i'’]?[ _-]?(?:accesso|ordine)|(?<![A-Za-z])(?:pw|pass|mdp)(?![A-Za-z]))"
)
#: Short keys ("PW:", "DB_PASS=", French "MDP :") are also abbreviations: their value must look generated.
_SHORT_KEY = re.compile(r"(?i)^(?:pw|pass|mdp)(?![a-z])")
#: A key that names a reference to a secret kept elsewhere (Helm ``existingSecret: db-credentials``,
#: ``secretRef``, ``fromSecret``): the part of the identifier before the keyword.
_REFERENCE_PREFIX = re.compile(r"(?i)(?:existing|ref|from|source|mount|volume|use|kube|k8s)[_.-]?$")
_IDENT_TAIL = re.compile(r"[A-Za-z0-9_.-]{1,40}$")
_NOT_SECRET_NAME = re.compile(
    r"(?i)(?:_?id|_?ids|_?name|_?names|_?file|_?path|_?url|_?uri|_?len(?:gth)?|_?type|_?policy|_?hash|_?field|"
    r"_?expir\w*|_?timeout|_?ttl|_?prompt|_?label|_?hint|_?format|_?regex|_?pattern|_?endpoint|_?count)$"
)
#: Code expressions, not literals. "$" and "%" alone are ordinary password symbols: only ``$VAR``,
#: ``${VAR}``, ``%VAR%`` and ``%(var)s`` shapes are references.
_CODE = re.compile(
    r"[()\[\]{}<>]|^\$\w|\$\{|^%\w+%$|%\(|^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$|^(?:true|false|none|null|nil|undefined)$",
    re.I,
)


def character_classes(value: str) -> int:
    """How many of lower case, upper case, digits and other symbols ``value`` mixes."""
    return (
        any(c.islower() for c in value)
        + any(c.isupper() for c in value)
        + any(c.isdigit() for c in value)
        + any(not c.isalnum() for c in value)
    )


class PasswordRecognizer(DwPatternRecognizer):
    """Keyword-assigned literals: 0.6, +0.1 quoted, +0.1 for >= 3.5 bits/char."""

    ENTITY = "PASSWORD"
    PATTERNS = (
        (
            "assignment",
            r"(?i)(?=[pstackmwd])(?P<k>" + _KEYWORD + r"[A-Za-z0-9_.-]{0,40})[\"']?"
            r"(?:[ \t]*(?:=|:=|:|=>|->)"
            # prose: "Ihr Initialpasswort lautet: X", "La password temporanea è X", "Your password is: X"
            r"|[ \t]{1,3}(?P<cop>(?:[^\W\d_]{3,15}[ \t]{1,3})?(?:is|ist|lautet|est|è|es|luidt)[ \t]*:?))"
            r"[ \t]*(?:\r?\n[ \t]+secure:[ \t]*)?"  # Travis-style "password:\n  secure: x"
            r"(?P<q>[\"'`]?)(?P<v>[^\s\"'`,;]{1,200})(?P=q)",
            0.6,
        ),
        (  # PostgreSQL .pgpass: host:port:database:user:password, one entry a line
            "pgpass line",
            r"^(?P<k>[A-Za-z0-9_.*-]{1,64}:(?:\d{1,5}|\*):[^:\s]{1,32}:[^:\s]{1,32}):(?P<q>)(?P<v>\S{8,120})$",
            0.6,
        ),
        (  # XML element: <password>X</password>, <db.secret>X</db.secret> (Jenkins, Maven settings)
            "xml element",
            r"(?i)<(?P<k>" + _KEYWORD + r"[A-Za-z0-9_.-]{0,40})>(?P<q>)(?P<v>[^<>\s]{1,200})</",
            0.6,
        ),
        (  # htpasswd / shadow: user:$2y$10$..., root:$6$salt$hash:19800:0:... (a crypt hash is cracked
            # offline and then grants the account: credential material, like the password itself)
            "crypt hash line",
            r"^(?P<k>[A-Za-z0-9_.-]{1,32}):(?P<q>)(?P<v>\$(?P<crypt>2[abxy]|1|5|6|y|apr1|argon2id?|7)\$"
            r"[A-Za-z0-9./$=,+]{20,200})(?::|$)",
            0.7,
        ),
    )
    TRIGGER = (
        r"(?i)pass|pw|mdp|secret|token|api[_-]?key|apikey|"  # every keyword of the pattern
        r"(?:access|auth|private)[_-]?key|kennwort|mot[ _-]de[ _-]passe|contrase|wachtwoord|parola|"
        r":(?:\d{1,5}|\*):[^:\s]{1,32}:[^:\s]{1,32}:\S|"  # .pgpass
        r":\$(?:2[abxy]|1|5|6|y|apr1|argon2id?|7)\$"  # htpasswd / shadow hash
    )
    MAX_LEN = 320

    def assess(self, text: str, match: re.Match[str], base_score: float) -> Assessment | None:
        value, quoted = match.group("v"), bool(match.group("q"))
        if match.groupdict().get("crypt"):
            # a crypt hash: salt and digest after the scheme; "$6$rounds=..." placeholders are too short
            if len(value.rsplit("$", 1)[-1]) < 20:
                return None
            s, e = match.span("v")
            dropped = filtered(("allowlist-pragma",), value, text, s, e)
            return dropped or Assessment(base_score, start=s, end=e)
        key = match.group("k")
        if _NOT_SECRET_NAME.search(key) or len(value) < 8:
            return None
        s, e = match.span("v")
        dropped = filtered(VALUE_FILTERS, value, text, s, e)
        if dropped:
            return dropped
        head = _IDENT_TAIL.search(text, max(0, match.start() - 40), match.start())
        if head and _REFERENCE_PREFIX.search(head.group()):
            return None  # existingSecret: db-credentials names a secret, it is not one
        if _SHORT_KEY.match(key) and character_classes(value) < 3:
            return None
        if not quoted and _CODE.search(value):
            return None
        if match.groupdict().get("cop") and character_classes(value) < 3:
            return None  # "the password is case-sensitive": prose needs a password-shaped value
        entropy = shannon_entropy(value)
        # short random passwords repeat characters: three character classes count as much as entropy
        if entropy < 3.0 and character_classes(value) < 3:
            return None
        score = base_score + (0.1 if quoted else 0.0) + (0.1 if entropy >= 3.5 else 0.0)
        return Assessment(score, start=s, end=e)
