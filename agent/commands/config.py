"""`dropwarden config check [--config FILE]`: validate everything the daemon would load (as `nginx -t`).

One line per problem on stdout, ``<file>: <field>: <message>``; exit 0 when the configuration is
usable, 1 on any problem, 2 on a usage error. The systemd unit runs it in ``ExecStartPre=`` and
before a reload, as the agent's own user, so "readable" means readable by the agent.

It never imports Presidio (a check must be quick): pack rules are layered, schema-checked and
signature-checked exactly as the daemon does, and their entity names are checked against the built-in
recognizers' (agent.classify.entities, a constant kept equal to the engine's registry by a test).
"""

from __future__ import annotations

import argparse
import os
import shutil
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # loaded when a config is read: `scan` and `policy` without --config never need it
    from agent.daemon.settings import Settings, Zone

EXIT_CODES = "exit codes: 0 configuration usable, 1 problems found (one line each), 2 usage error"


@dataclass
class Report:
    """Problems found, each naming the file and the dotted field."""

    config: str
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    zones_may_be_missing: bool = False

    def add(self, fld: str, message: str, file: str | None = None) -> None:
        self.problems.append(f"{file or self.config}: {fld}: {message}")

    def zone(self, fld: str, message: str) -> None:
        """A zone folder that is not usable now: a problem, or a warning when the daemon may wait for it."""
        if self.zones_may_be_missing:
            self.warnings.append(f"{self.config}: {fld}: warning: {message} (the agent retries it)")
        else:
            self.add(fld, message)


def register(sub: argparse._SubParsersAction) -> None:
    from agent.daemon.settings import DEFAULT_CONFIG

    cfg = sub.add_parser("config", help="check the agent configuration", epilog=EXIT_CODES)
    csub = cfg.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = csub.add_parser(
        "check",
        help="validate everything the daemon would load (zones, keys, policies, indexes, sinks)",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog=EXIT_CODES,
    )
    check.add_argument(
        "--config", "-c", default=DEFAULT_CONFIG, help=f"agent config (default {DEFAULT_CONFIG})"
    )
    check.add_argument(
        "--zones-may-be-missing",
        action="store_true",
        help="report missing or unreadable zone folders as warnings (the daemon retries them and sets "
        "dropwarden_zone_up 0): the unit's ExecStartPre= uses it, so one unmounted share does not "
        "stop the other zones from being watched",
    )
    check.set_defaults(func=cmd_check)


def cmd_check(args: argparse.Namespace) -> int:
    report = check_config(args.config, zones_may_be_missing=args.zones_may_be_missing)
    for line in (*report.problems, *report.warnings):
        print(line)
    if report.problems:
        print(f"config {args.config}: {len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"config {args.config}: ok", file=sys.stderr)
    return 0


def _quiet_logs() -> None:
    """Library log events to stderr, critical only: stdout is the problems alone. Called before each
    check that loads a module which logs (signature wiring, indexes, cryptography, the extraction
    stage); the common checks and the pack loader load none, and structlog costs ~0.05 s to import."""
    from agent.cli import import_structlog_without_rich

    import_structlog_without_rich()
    from agent.log import configure_logging

    configure_logging(json=True, level="critical", stream=sys.stderr)


def check_config(path: str, zones_may_be_missing: bool = False) -> Report:
    """Every problem of the config at ``path`` and of what it names."""
    from agent.daemon.settings import ConfigError, load_settings

    report = Report(path, zones_may_be_missing=zones_may_be_missing)
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        report.problems.append(str(exc))
        return report
    for check in (_zones, _state, _keys, _metrics, _sinks, _policies, _indexes, _acks, _ocr):
        check(settings, report)
    return report


def _ocr(settings: Settings, report: Report) -> None:
    """Images are in scope whenever OCR is on (limits.max_ocr_pages > 0): Tesseract and at least one
    requested language must be there, or every scan and photo would alert as unscanned."""
    if settings.limits.max_ocr_pages == 0:
        return
    wanted = settings.limits.ocr_languages
    exe = shutil.which("tesseract")
    if exe is None:
        problem = "tesseract is not installed"
    elif not set(wanted.split("+")) & tesseract_languages(exe):
        problem = f"no Tesseract language data for {wanted}"
    else:
        return
    report.add(
        "limits.ocr_languages",
        f"{problem}: install tesseract-ocr and its language packs, or set limits.max_ocr_pages: 0 to "
        "report images as unscanned",
    )


#: Where Debian's tesseract-ocr packages put the language data: ``<version>/tessdata/*.traineddata``.
DEBIAN_TESSDATA = Path("/usr/share/tesseract-ocr")
DEBIAN_TESSERACT = "/usr/bin/tesseract"


def tesseract_languages(
    exe: str, env: Mapping[str, str] = os.environ, root: Path = DEBIAN_TESSDATA
) -> frozenset[str]:
    """The languages Tesseract at ``exe`` has data for, as ``tesseract --list-langs`` names them.

    Debian's binary reads its one ``<root>/<version>/tessdata``: its ``*.traineddata`` files are the
    answer, with no child process and without loading the extraction stage. Any other case (another
    binary, $TESSDATA_PREFIX set, no or several version directories) asks Tesseract itself through
    agent.extract.ocr, which the daemon's OCR uses (tests keep the two answers equal)."""
    if os.path.realpath(exe) == DEBIAN_TESSERACT and "TESSDATA_PREFIX" not in env:
        dirs = [d for d in root.glob("*/tessdata") if d.is_dir()]
        if len(dirs) == 1:
            return frozenset(f.name.removesuffix(".traineddata") for f in dirs[0].glob("*.traineddata"))
    _quiet_logs()
    from agent.extract.ocr import languages_installed

    return languages_installed()


# -- file system ------------------------------------------------------------------------------
def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except OSError:
        return None


def _zones(settings: Settings, report: Report) -> None:
    for i, z in enumerate(settings.zones):
        fld = f"zones.{i}.path"
        st = _stat(z.path)
        if st is None:
            report.zone(fld, f"zone {z.name!r}: {z.path} does not exist")
        elif not stat.S_ISDIR(st.st_mode):
            report.zone(fld, f"zone {z.name!r}: {z.path} is not a directory")
        elif not os.access(z.path, os.R_OK | os.X_OK):
            report.zone(fld, f"zone {z.name!r}: {z.path} is not readable by this user")
        elif z.quarantine and not os.access(z.path, os.W_OK | os.X_OK):
            report.add(f"zones.{i}.quarantine", f"zone {z.name!r}: {z.path} is not writable (quarantine)")


def _writable_dir_or_creatable(path: str) -> bool:
    p = Path(path)
    while not p.exists() and p != p.parent:
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK | os.X_OK)


def _state(settings: Settings, report: Report) -> None:
    if not _writable_dir_or_creatable(settings.state_dir):
        report.add("state_dir", f"{settings.state_dir} is not writable by this user")
    if settings.sinks.jsonl is not None:
        jsonl = settings.sinks.jsonl.path
        if os.path.isdir(jsonl):
            report.add("sinks.jsonl.path", f"{jsonl} is a directory")
        elif not (os.access(jsonl, os.W_OK) if os.path.exists(jsonl) else _writable_dir_or_creatable(jsonl)):
            report.add("sinks.jsonl.path", f"{jsonl} is not writable by this user")


# -- keys and certificates --------------------------------------------------------------------
def _keys(settings: Settings, report: Report) -> None:
    if settings.quarantine_public_key or settings.signing_public_keys:
        _public_keys(settings, report)
    if settings.key_file and not _readable_file(settings.key_file):
        report.add("key_file", f"{settings.key_file} is not a readable file")


def _public_keys(settings: Settings, report: Report) -> None:
    """Each configured public key loads (cryptography is imported only when there is one)."""
    _quiet_logs()
    from agent.security.keys import KeyFileError, load_quarantine_public, load_signing_public

    loads: list[tuple[str, str, Any]] = []
    if settings.quarantine_public_key:
        loads.append(("quarantine_public_key", settings.quarantine_public_key, load_quarantine_public))
    for i, p in enumerate(settings.signing_public_keys):
        loads.append((f"signing_public_keys.{i}", p, load_signing_public))
    for fld, p, load in loads:
        try:
            load(p)
        except (KeyFileError, OSError, ValueError) as exc:
            report.add(fld, f"{p}: {_one_line(exc)}")


def _secret(ref: str, fld: str, report: Report) -> None:
    """A secret file (or systemd credential) the agent must be able to read; its value is never shown."""
    from agent.daemon.settings import ConfigError, read_secret

    try:
        if not read_secret(ref):
            report.add(fld, f"{ref} is empty")
    except ConfigError as exc:
        report.add(fld, str(exc))


def _readable_file(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.R_OK)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _without(message: str, file: str) -> str:
    """The message without a leading ``file: `` (the line names the file already)."""
    return message.removeprefix(f"{file}: ")


def _metrics(settings: Settings, report: Report) -> None:
    from agent.daemon.settings import is_loopback

    m = settings.metrics
    host, _port = m.host_port
    if m.tls_cert and m.tls_key:
        problem = _tls_problem(cert=m.tls_cert, key=m.tls_key, server=True)
        if problem:
            report.add("metrics.tls_cert", f"{m.tls_cert} / {m.tls_key}: {problem}")
    if m.basic_auth is not None:
        pw = m.basic_auth.password_file
        if pw is not None:
            _secret(pw, "metrics.basic_auth.password_file", report)
        if not m.tls_cert and not is_loopback(host):
            report.add("metrics.basic_auth", f"a password on {m.address} without tls_cert travels in clear")


# -- sinks ------------------------------------------------------------------------------------
def _sinks(settings: Settings, report: Report) -> None:
    for i, w in enumerate(settings.sinks.webhooks):
        parts = urlsplit(w.url)
        try:
            _ = parts.port  # raises on a port that is not a number in range
            valid_port = True
        except ValueError:
            valid_port = False
        if not parts.hostname or not valid_port:
            report.add(f"sinks.webhooks.{i}.url", "not a valid URL (host, port)")
        for h, ref in w.header_files.items():
            _secret(ref, f"sinks.webhooks.{i}.header_files.{h}", report)
        problem = _tls_problem(cafile=w.ca_file) if w.ca_file else None
        if problem:
            report.add(f"sinks.webhooks.{i}.ca_file", f"{w.ca_file}: {problem}")
    sl = settings.sinks.syslog
    if sl is not None:
        _syslog(sl.transport, sl.address, report)
        problem = _tls_problem(sl.ca_file, sl.cert_file, sl.key_file) if sl.transport == "tls" else None
        if problem:
            report.add("sinks.syslog.ca_file", f"{sl.ca_file or 'system CAs'}: {problem}")


def _tls_problem(
    cafile: str | None = None, cert: str | None = None, key: str | None = None, server: bool = False
) -> str | None:
    """Why this TLS material does not load (None: it does): a server's certificate and key, or a
    client's CA bundle (default: the system's) and optional certificate. ssl is imported only here."""
    import ssl

    try:
        if server:
            ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(cert or "", key)
        else:
            ctx = ssl.create_default_context(cafile=cafile)
            if cert:
                ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        return _one_line(exc)
    return None


def _syslog(transport: str, address: str, report: Report) -> None:
    if transport == "unix":
        st = _stat(address)
        if st is None or not stat.S_ISSOCK(st.st_mode):
            report.add("sinks.syslog.address", f"{address} is not a socket")
        return
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        report.add("sinks.syslog.address", f"{address!r} is not HOST:PORT")
        return
    import socket

    try:
        socket.getaddrinfo(host.strip("[]"), int(port_text))
    except OSError:
        report.add("sinks.syslog.address", f"host {host!r} does not resolve")


def _acks(settings: Settings, report: Report) -> None:
    from agent.policy.acks import AckError, load_acks

    try:
        load_acks(settings.acknowledged)
    except AckError as exc:
        report.problems.append(str(exc))


# -- policies and indexes ---------------------------------------------------------------------
def _policies(settings: Settings, report: Report) -> None:
    from agent.classify.entities import KNOWN_ENTITIES
    from agent.policy.checkcache import checked
    from agent.policy.compiled import INDEX_ENTITIES
    from agent.policy.shipped import default_policy_dirs

    dirs = settings.policy_dirs(default_policy_dirs())
    sources = None
    if settings.require_signed:  # else the loader reads the files itself, as the daemon's does
        sources = _verified_sources(settings, dirs, report)
        if sources is None:
            return
    known = KNOWN_ENTITIES | INDEX_ENTITIES
    # the agent's state dir remembers packs checked before (when it is there, private and ours)
    issues = checked(
        "config", dirs, known, lambda src: _compiled(dirs, known, src), settings.state_dir, sources
    )
    for issue in issues:
        if issue.level == "error":
            fld = ".".join(x for x in (issue.rule, issue.field) if x) or "<pack>"
            hint = f" (did you mean {issue.suggestion}?)" if issue.suggestion else ""
            report.add(fld, issue.message + hint, file=issue.file)


def _compiled(dirs: list[Path], known: frozenset[str], sources: Mapping[Path, bytes]) -> list[Any]:
    """The issues of layering and compiling the packs, as the daemon does (the cache's miss path;
    the loader logs nothing)."""
    from agent.policy.loader import compile_policies

    return compile_policies(dirs, known, sources=sources)[1]


def _verified_sources(settings: Settings, dirs: list[Path], report: Report) -> dict[Path, bytes] | None:
    """Every pack and value-set file, signature-checked as the daemon reads them (None: reported)."""
    _quiet_logs()
    from agent.daemon.wiring import InputRejected, verified_sources

    try:
        return verified_sources(settings, dirs)
    except InputRejected as exc:
        report.add("policies", _without(_one_line(exc), exc.file), file=exc.file)
    except (OSError, ValueError) as exc:
        report.add("signing_public_keys", _one_line(exc))
    return None


def _indexes(settings: Settings, report: Report) -> None:
    files = [("indexes.edm", f) for f in settings.indexes.edm]
    files += [("indexes.fingerprint", f) for f in settings.indexes.fingerprint]
    if not files:
        return
    try:
        key = settings.key_path.read_bytes()
    except OSError as exc:
        report.add(
            "key_file", f"indexes are keyed: cannot read the agent key {settings.key_path}: {_one_line(exc)}"
        )
        return
    _quiet_logs()
    from agent.daemon.settings import IndexFiles
    from agent.daemon.wiring import InputRejected, index_detectors

    for fld, f in files:
        kind = fld.split(".")[1]
        one = settings.model_copy(update={"indexes": IndexFiles(**{kind: (f,)})})
        try:
            index_detectors(one, key)
        except (InputRejected, OSError, ValueError) as exc:
            report.add(fld, f"{f}: {_without(_one_line(exc), f)}")


# -- the daemon's view for the tuning tools (scan, explain, policy test|lint) -----------------------
CONFIG_HELP = "load the daemon's policies, indexes, limits and NER setting from this agent config"


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """``--config FILE`` for a tuning tool: then it sees exactly what the daemon runs."""
    parser.add_argument("--config", "-c", metavar="FILE", help=CONFIG_HELP)


def tool_settings(path: str, extra_policies: list[str] | None = None) -> Settings:
    """The daemon's settings, with ``extra_policies`` layered on top of its packs (raises ConfigError)."""
    from agent.daemon.settings import load_settings
    from agent.policy.shipped import default_policy_dirs

    settings = load_settings(path)
    dirs = [str(p) for p in settings.policy_dirs(default_policy_dirs())]
    return settings.model_copy(update={"policies": (*dirs, *(extra_policies or ()))})


def tool_key(settings: Settings) -> bytes:
    """The agent key when indexes need it (they are keyed), else this user's scan key."""
    from agent.daemon.settings import ConfigError
    from agent.redact import default_key_path, load_or_create_key

    if settings.edm_files() or settings.fingerprint_files():  # configured and bundled
        try:
            return settings.key_path.read_bytes()
        except OSError as exc:
            raise ConfigError(
                f"{settings.key_path}: key_file: indexes are keyed with the agent key: {_one_line(exc)}"
            ) from None
    return load_or_create_key(default_key_path())


def tool_pipeline(settings: Settings, key: bytes | None = None) -> Any:
    """The pipeline the daemon would build from ``settings`` (signatures checked when it requires them).
    Its compiled packs are remembered in the agent's state dir when it is ours and private, as
    `config check` remembers its checks there (agent.policy.setcache)."""
    from agent.daemon.wiring import build_for

    key = key if key is not None else tool_key(settings)
    return build_for(settings, key, policy_cache=settings.state_dir)[0]


def zone_of(settings: Settings | None, path: str) -> Zone | None:
    """The configured zone ``path`` lies in (None without settings or outside every zone)."""
    if settings is None:
        return None
    full = os.path.abspath(path)
    for z in settings.zones:
        if full == z.path or full.startswith(z.path.rstrip("/") + "/"):
            return z
    return None


def zone_role_of(settings: Settings | None, path: str) -> str | None:
    zone = zone_of(settings, path)
    return zone.role if zone is not None else None
