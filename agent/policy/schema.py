"""Pydantic models of a policy pack (policies/*.yaml): the only shape a pack may have.

Unknown fields are errors (``extra="forbid"``) so a typo such as ``min_scor`` is reported instead of
silently ignored; the loader turns validation errors into one-line :class:`PolicyError` messages.

Empty collections are plain defaults (pydantic copies a default for each instance), not
``default_factory=list``: pydantic reads a factory's signature, and a builtin's goes through
``tokenize``, whose first use compiles its large regex (~0.015 s of `policy lint` and `config check`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Severity = Literal["low", "medium", "high", "critical"]
ZoneRole = Literal["contractor-drop", "outbound", "internal"]
Action = Literal["alert", "quarantine"]
Validator = Literal[
    "none", "luhn", "iban", "mod11", "mod97", "entropy", "crc32_base62", "bech32",
    "gitlab_routable", "grafana_crc32", "pypi_macaroon",
]  # fmt: skip
#: The named false-positive filters of agent/classify/filters.py (a test keeps the two lists equal).
FilterName = Literal[
    "allowlist-pragma",
    "template-reference",
    "encrypted-value",
    "public-key",
    "lock-file-hash",
    "uuid",
    "placeholder",
    "filler-word",
    "weak-password",
    "low-entropy",
]
#: Why a rule's examples cannot run on every machine: they need data only an operator has.
ExamplesRequire = Literal["protected-index", "ner-model"]

KEBAB = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Window(_Strict):
    """How close a context word must be to the value: characters or tokens on either side."""

    chars: int | None = Field(default=None, ge=1, le=10_000)
    tokens: int | None = Field(default=None, ge=1, le=1_000)

    @model_validator(mode="after")
    def _exactly_one(self) -> Window:
        if (self.chars is None) == (self.tokens is None):
            raise ValueError("give exactly one of 'chars' or 'tokens'")
        return self


class Exceptions(_Strict):
    """Structured exceptions (Falco style): values or places a rule never alerts on."""

    paths: list[str] = Field(default=[])  # fnmatch globs on the file path or member
    values: list[str] = Field(default=[])  # exact, compared after normalise_value()
    value_patterns: list[str] = Field(default=[])  # regex, re.search on the raw value
    value_sets: list[str] = Field(default=[])  # files of values, one a line, relative to the pack


class Examples(_Strict):
    match: list[str] = Field(default=[])
    no_match: list[str] = Field(default=[])


class RuleModel(_Strict):
    id: str = Field(pattern=KEBAB)
    desc: str = Field(min_length=1)
    severity: Severity
    severity_by_zone: dict[ZoneRole, Severity] = Field(default={})
    zones: list[ZoneRole] | None = None  # None: every zone role
    entities: list[str] = Field(min_length=1)
    min_score: float = Field(default=0.5, ge=0.0)
    min_count: int = Field(default=1, ge=1)
    context: list[str] = Field(default=[])
    window: Window = Field(default_factory=lambda: Window(chars=120))
    not_context: list[str] = Field(default=[])
    not_context_window: Window | None = None  # default: the same as window
    attributes: dict[str, list[str]] = Field(default={})  # detection attribute must be one of
    min_attributes: dict[str, float] = Field(default={})  # numeric detection attribute >= value
    exceptions: Exceptions = Field(default_factory=Exceptions)
    tags: list[str] = Field(default=[])
    actions: list[Action] = Field(default_factory=lambda: list[Action](["alert"]))
    enabled: bool = True
    examples: Examples = Field(default_factory=Examples)
    examples_require: ExamplesRequire | None = None

    @field_validator("context", "not_context")
    @classmethod
    def _non_blank(cls, words: list[str]) -> list[str]:
        if any(not w.strip() for w in words):
            raise ValueError("context words must not be blank")
        return words


class OverrideModel(_Strict):
    """Replace fields of a rule defined by an earlier pack; absent fields are kept."""

    id: str = Field(pattern=KEBAB)
    desc: str | None = None
    severity: Severity | None = None
    severity_by_zone: dict[ZoneRole, Severity] | None = None
    zones: list[ZoneRole] | None = None
    entities: list[str] | None = None
    min_score: float | None = Field(default=None, ge=0.0)
    min_count: int | None = Field(default=None, ge=1)
    context: list[str] | None = None
    window: Window | None = None
    not_context: list[str] | None = None
    not_context_window: Window | None = None
    attributes: dict[str, list[str]] | None = None
    min_attributes: dict[str, float] | None = None
    exceptions: Exceptions | None = None
    tags: list[str] | None = None
    actions: list[Action] | None = None
    enabled: bool | None = None
    examples: Examples | None = None
    examples_require: ExamplesRequire | None = None


class PatternModel(_Strict):
    name: str = Field(min_length=1)
    regex: str = Field(min_length=1)
    score: float = Field(ge=0.0, le=1.0)


class RecognizerModel(_Strict):
    """A custom recognizer declared without Python; the classifier compiles it."""

    name: str = Field(pattern=KEBAB)
    entity: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    patterns: list[PatternModel] = Field(min_length=1)
    context: list[str] = Field(default=[])
    validator: Validator = "none"
    min_entropy: float = Field(default=0.0, ge=0.0, le=8.0)
    languages: list[str] = Field(default_factory=lambda: ["en"])
    #: Optional prefilter contract (agent/classify/prefilter.py): a google-re2 regex that every match of
    #: every pattern contains, and the longest possible match (or null: matches never hold whitespace).
    #: Without it the recognizer runs over the whole text of every file.
    trigger: str | None = Field(default=None, min_length=1)
    max_len: int | None = Field(default=None, ge=1, le=100_000)
    #: Named false-positive filters a match (its ``secret`` group, if any) must pass.
    filters: list[FilterName] = Field(default=[])
    #: Run by `policy test`: each match example yields a detection of this recognizer scoring >= 0.5,
    #: each no_match example none.
    examples: Examples = Field(default_factory=Examples)


class PackModel(_Strict):
    pack: str = Field(pattern=KEBAB)
    version: str | int = "1"
    desc: str = ""
    rules: list[RuleModel] = Field(default=[])
    recognizers: list[RecognizerModel] = Field(default=[])
    disable: list[str] = Field(default=[])
    override: list[OverrideModel] = Field(default=[])


RULE_FIELDS: tuple[str, ...] = tuple(RuleModel.model_fields)
PACK_FIELDS: tuple[str, ...] = tuple(PackModel.model_fields)
RECOGNIZER_FIELDS: tuple[str, ...] = tuple(RecognizerModel.model_fields)
