"""The agent's configuration: one frozen, validated pydantic model built from YAML or from CLI flags.

Validation returns errors that name the field (``zones.0.role: ...``) instead of exiting, so the
``run`` command prints one line and exits 2 while tests can assert on the message.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from agent.daemon.errors import ConfigError as ConfigError  # raised here; named by every config user
from agent.models import Limits
from agent.policy.acks import DEFAULT_ACK_FILE
from agent.policy.shipped import BUILTIN_POLICIES, with_unscanned_rule

DEFAULT_CONFIG = "/etc/dropwarden/agent.yaml"
EXTRA_POLICY_DIR = Path("/etc/dropwarden/policies.d")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zone(_Model):
    name: str = Field(min_length=1)
    path: str
    role: Literal["contractor-drop", "outbound", "internal"] = "contractor-drop"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False
    quarantine: bool = False

    @field_validator("path")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v:
            raise ValueError("must not be empty")
        return os.path.abspath(v)


class IndexFiles(_Model):
    edm: tuple[str, ...] = ()
    fingerprint: tuple[str, ...] = ()


class LimitsModel(_Model):
    max_file_bytes: int = Field(default=Limits.max_file_bytes, gt=0)
    max_text_chars: int = Field(default=Limits.max_text_chars, gt=0)
    max_member_bytes: int = Field(default=Limits.max_member_bytes, gt=0)
    max_ratio: float = Field(default=Limits.max_ratio, gt=0)
    max_members: int = Field(default=Limits.max_members, gt=0)
    max_depth: int = Field(default=Limits.max_depth, ge=0)
    max_unpacked_bytes: int = Field(default=Limits.max_unpacked_bytes, gt=0)
    timeout_seconds: float = Field(default=Limits.timeout_seconds, gt=0)
    chunk_chars: int = Field(default=Limits.chunk_chars, gt=0)
    chunk_overlap: int = Field(default=Limits.chunk_overlap, ge=0)
    max_ocr_pages: int = Field(default=Limits.max_ocr_pages, ge=0)
    max_image_pixels: int = Field(default=Limits.max_image_pixels, gt=0)
    ocr_dpi: int = Field(default=Limits.ocr_dpi, ge=50, le=600)
    ocr_languages: str = Field(default=Limits.ocr_languages, pattern=r"^[a-z_]{3,16}(\+[a-z_]{3,16})*$")
    max_memory_bytes: int = Field(default=Limits.max_memory_bytes, ge=0)


class JsonlConfig(_Model):
    path: str
    fsync: bool = False
    format: Literal["native", "ecs"] = "native"  # ecs: Elastic Common Schema events


#: A secret file reference of the form ``credential:NAME``: systemd's ``LoadCredential=NAME:...``,
#: read from ``$CREDENTIALS_DIRECTORY/NAME`` (only the service can read it, never in the YAML).
CREDENTIAL_PREFIX = "credential:"


def secret_path(ref: str) -> Path:
    """The file a secret reference names: a path, or ``credential:NAME`` under $CREDENTIALS_DIRECTORY."""
    if not ref.startswith(CREDENTIAL_PREFIX):
        return Path(ref)
    name = ref[len(CREDENTIAL_PREFIX) :]
    base = os.environ.get("CREDENTIALS_DIRECTORY")
    if not base:
        raise ConfigError(f"{ref}: $CREDENTIALS_DIRECTORY is not set (LoadCredential= in the unit)")
    if not name or "/" in name or name in (".", ".."):
        raise ConfigError(f"{ref}: not a credential name")
    return Path(base) / name


def read_secret(ref: str) -> str:
    """A secret's value from its file (trailing newline dropped); raises ConfigError naming the reference."""
    try:
        return secret_path(ref).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{ref}: {getattr(exc, 'strerror', None) or type(exc).__name__}") from None


class WebhookConfig(_Model):
    name: str = "webhook"
    url: str
    format: Literal["generic", "alertmanager", "ecs"] = "generic"
    # plain empty defaults (copied per instance), as in agent/policy/schema.py: no tokenize at start
    headers: dict[str, str] = Field(default={})
    # header name -> secret file or credential:NAME (e.g. Authorization: credential:siem-token)
    header_files: dict[str, str] = Field(default={})
    timeout: float = Field(default=5.0, gt=0)
    ca_file: str | None = None

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v


class SyslogConfig(_Model):
    address: str = "/dev/log"
    transport: Literal["unix", "udp", "tcp", "tls"] = "unix"  # tls: RFC 5425 (port 6514 by default)
    facility: str = "auth"
    ca_file: str | None = None  # tls: CA bundle the server certificate must chain to (default: system)
    cert_file: str | None = None  # tls: client certificate (mutual TLS), with key_file
    key_file: str | None = None


class SinksConfig(_Model):
    stdout: bool = False
    jsonl: JsonlConfig | None = None
    webhooks: tuple[WebhookConfig, ...] = ()
    syslog: SyslogConfig | None = None

    @model_validator(mode="after")
    def _unique_names(self) -> SinksConfig:
        names = [w.name for w in self.webhooks]
        if len(names) != len(set(names)):
            raise ValueError("webhook names must be unique")
        return self


class BasicAuth(_Model):
    username: str = Field(min_length=1)
    password_sha256: str | None = None
    password_file: str | None = None

    @model_validator(mode="after")
    def _one_secret(self) -> BasicAuth:
        if (self.password_sha256 is None) == (self.password_file is None):
            raise ValueError("set exactly one of password_sha256 or password_file")
        if self.password_sha256 is not None and len(self.password_sha256) != 64:
            raise ValueError("password_sha256 must be 64 hex digits")
        return self


class MetricsConfig(_Model):
    address: str = "127.0.0.1:9808"
    tls_cert: str | None = None
    tls_key: str | None = None
    basic_auth: BasicAuth | None = None
    #: Serve /metrics beyond loopback without TLS or basic auth: only when the operator says so.
    allow_insecure_metrics: bool = False

    @field_validator("address")
    @classmethod
    def _host_port(cls, v: str) -> str:
        _host, sep, port = v.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError("must be HOST:PORT")
        return v

    @model_validator(mode="after")
    def _tls_pair(self) -> MetricsConfig:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        return self

    @model_validator(mode="after")
    def _no_open_exposure(self) -> MetricsConfig:
        """``:9808`` or ``0.0.0.0:9808`` is every interface: not without TLS or basic auth, unless
        ``allow_insecure_metrics`` says the operator means it (a host name counts as non-loopback)."""
        guarded = self.tls_cert is not None or self.basic_auth is not None
        if not guarded and not self.allow_insecure_metrics and not is_loopback(self.host_port[0]):
            raise ValueError(
                f"address {self.address!r} is not loopback: set tls_cert/tls_key or basic_auth, "
                "or allow_insecure_metrics: true"
            )
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.address.rpartition(":")
        return host.strip("[]"), int(port)


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``; an empty host (all interfaces) or any other name is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BundleConfig(_Model):
    """Where this agent pulls its signed policy bundle from (agent.daemon.bundles)."""

    source: str = Field(min_length=1)  # https://... (CA-pinned) or a local bundle file or directory
    ca_file: str | None = None  # the only CA trusted for an https source (required for https)
    poll_seconds: float = Field(default=300.0, ge=5)
    timeout: float = Field(default=30.0, gt=0)
    max_bytes: int = Field(default=256 * 1024**2, gt=0)

    @model_validator(mode="after")
    def _pinned(self) -> BundleConfig:
        if self.source.startswith("http://"):
            raise ValueError("source: plain http is not accepted; use https with ca_file")
        if self.source.startswith("https://") and not self.ca_file:
            raise ValueError(
                "an https source needs ca_file (the CA the bundle server's certificate is pinned to)"
            )
        if not self.source.startswith("https://") and not os.path.isabs(self.source):
            raise ValueError("source must be an https URL or an absolute path")
        return self


class Settings(_Model):
    zones: tuple[Zone, ...] = Field(min_length=1)
    policies: tuple[str, ...] = ()  # empty: shipped packs + /etc/dropwarden/policies.d if it exists
    indexes: IndexFiles = IndexFiles()
    limits: LimitsModel = LimitsModel()
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    file_timeout: float | None = Field(default=None, gt=0)  # default: limits.timeout_seconds
    settle_seconds: float = Field(default=1.0, ge=0)  # quiet time after a create/modify event
    close_settle_seconds: float = Field(default=0.25, ge=0)  # after a close-after-write or a rename in
    reconcile_interval: float = Field(default=3600.0, ge=0)  # 0 disables the periodic crawl
    state_dir: str = "/var/lib/dropwarden"
    key_file: str | None = None
    sinks: SinksConfig = SinksConfig(stdout=True)
    metrics: MetricsConfig = MetricsConfig()
    require_signed: bool = False
    signing_public_keys: tuple[str, ...] = ()
    quarantine_public_key: str | None = None  # the security team's X25519 public key (PEM)
    evidence: Literal["none", "encrypted"] = "none"  # encrypted: match context sealed to that key
    #: masked: excerpts with values, field values and record cells masked; none: rule, location and
    #: fingerprint only (alerts often go to a third-party SOC; the context stays in sealed evidence)
    excerpts: Literal["masked", "none"] = "masked"
    ner_model: str | None = None
    acknowledged: str = DEFAULT_ACK_FILE  # acknowledged findings (`dropwarden ack`); missing = none
    alert_min_severity: Literal["low", "medium", "high", "critical"] = "medium"
    log_format: Literal["json", "console", "auto"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: pull signed policy bundles from a fleet source; their packs layer after `policies`
    bundle: BundleConfig | None = None

    @model_validator(mode="after")
    def _keys_present(self) -> Settings:
        if self.bundle is not None and not self.signing_public_keys:
            raise ValueError("bundle needs signing_public_keys (bundles are always verified)")
        if self.require_signed and not self.signing_public_keys:
            raise ValueError("require_signed needs signing_public_keys")
        if any(z.quarantine for z in self.zones) and not self.quarantine_public_key:
            raise ValueError("a zone with quarantine: true needs quarantine_public_key")
        if self.evidence == "encrypted" and not self.quarantine_public_key:
            raise ValueError("evidence: encrypted needs quarantine_public_key")
        return self

    @model_validator(mode="after")
    def _unique_zones(self) -> Settings:
        names = [z.name for z in self.zones]
        if len(names) != len(set(names)):
            raise ValueError("zone names must be unique")
        paths = [z.path for z in self.zones]
        state = os.path.abspath(self.state_dir).rstrip("/") + "/"
        for z in self.zones:
            if state.startswith(z.path.rstrip("/") + "/"):
                raise ValueError(
                    f"state_dir lies inside zone {z.name!r} (the agent would scan its own journal)"
                )
        for i, p in enumerate(paths):
            for j, q in enumerate(paths):
                if i != j and (p == q or p.startswith(q.rstrip("/") + "/")):
                    raise ValueError(f"zone {names[i]!r} overlaps zone {names[j]!r}")
        return self

    @property
    def key_path(self) -> Path:
        return Path(self.key_file) if self.key_file else Path(self.state_dir) / "agent.key"

    @property
    def journal_path(self) -> Path:
        return Path(self.state_dir) / "journal.db"

    @property
    def timeout(self) -> float:
        return self.file_timeout if self.file_timeout is not None else self.limits.timeout_seconds

    def limits_obj(self) -> Limits:
        return Limits(**self.limits.model_dump(), follow_symlinks=False)

    def policy_dirs(self, shipped: Sequence[Path]) -> list[Path]:
        """The packs in layering order; an entry ``builtin`` stands for the shipped packs. Custom packs
        without ``builtin`` get the shipped unscanned-content rule layered under them unless one of
        them has such a rule (agent.policy.shipped.with_unscanned_rule)."""
        if self.policies:
            dirs = [p for e in self.policies for p in (shipped if e == BUILTIN_POLICIES else [Path(e)])]
            if BUILTIN_POLICIES not in self.policies:  # unscanned is never clean, custom packs or not
                dirs = with_unscanned_rule(dirs)
        else:
            dirs = list(shipped)
            if EXTRA_POLICY_DIR.is_dir():
                dirs.append(EXTRA_POLICY_DIR)
        bundle = self.bundle_dir()
        if bundle is not None and bundle.is_dir():
            dirs.append(bundle)
        return dirs

    def bundle_dir(self) -> Path | None:
        """The unpacked bundle in force (None without a bundle source)."""
        if self.bundle is None:
            return None
        from agent.security.bundle import current_dir

        return current_dir(self.state_dir)

    def edm_files(self) -> tuple[str, ...]:
        """EDM index files: the configured ones, then the current bundle's."""
        return (*self.indexes.edm, *self._bundle_indexes((".edm",)))

    def fingerprint_files(self) -> tuple[str, ...]:
        """Fingerprint index files: the configured ones, then the current bundle's."""
        return (*self.indexes.fingerprint, *self._bundle_indexes((".fp", ".fpi")))

    def _bundle_indexes(self, suffixes: tuple[str, ...]) -> list[str]:
        if self.bundle is None:
            return []
        from agent.security.bundle import index_files

        return index_files(self.state_dir, suffixes)

    def zone(self, name: str | None) -> Zone | None:
        return next((z for z in self.zones if z.name == name), None)


def _format_error(source: str, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<root>"
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{source}: {loc}: {msg}{more}"


def parse_settings(data: Any, source: str = "<config>") -> Settings:
    """Validate a mapping; raise ConfigError whose message names the dotted field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: <root>: must be a mapping")
    try:
        return Settings.model_validate(data)
    except ValidationError as e:
        raise ConfigError(_format_error(source, e)) from None


def load_settings(path: str | os.PathLike[str]) -> Settings:
    """Read and validate a YAML config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{p}: <file>: {e.strerror or type(e).__name__}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "<yaml>"
        raise ConfigError(f"{p}: {where}: invalid YAML") from None
    return parse_settings(data or {}, str(p))


def parse_watch(spec: str, index: int) -> dict[str, Any]:
    """``PATH[:role]`` from ``--watch`` to a zone mapping (name from the directory's basename)."""
    path, role = spec, "contractor-drop"
    head, sep, tail = spec.rpartition(":")
    if sep and tail in ("contractor-drop", "outbound", "internal"):
        path, role = head, tail
    base = os.path.basename(os.path.abspath(path)) or f"zone{index}"
    return {"name": base if index == 0 else f"{base}-{index}", "path": path, "role": role}


def demo_settings(base: str | os.PathLike[str] = ".") -> Settings:
    """The ``--demo`` config: ./var/drop watched, state in ./var/state, alerts to console + JSONL."""
    b = Path(base).resolve() / "var"
    (b / "drop").mkdir(parents=True, exist_ok=True)
    return parse_settings(
        {
            "zones": [{"name": "drop", "path": str(b / "drop"), "role": "contractor-drop"}],
            "state_dir": str(b / "state"),
            "sinks": {"stdout": True, "jsonl": {"path": str(b / "alerts.jsonl")}},
            "metrics": {"address": "127.0.0.1:9808"},
            "log_format": "console",
        },
        "--demo",
    )
