"""Building the daemon's stages from settings: verified policy inputs, the pipeline, the alert sinks.

With ``require_signed`` every input a verdict depends on (policy packs, the value-set files they
name, EDM and fingerprint indexes) is read exactly once, checked against its detached Ed25519
signature (agent.security.signing) and loaded from those very bytes: no file can be swapped
between the check and the load. A refusal raises :class:`InputRejected` (one safe line); it is counted in
``dropwarden_signature_rejections_total{kind}`` and written to the audit log by the caller.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import yaml

from agent.daemon.settings import Settings, read_secret
from agent.metrics import Metrics
from agent.models import Limits
from agent.policy import PolicyError, PolicySet, load_policies
from agent.policy.shipped import default_policy_dirs

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from agent.actions.sinks import Dispatcher, Sink
    from agent.pipeline import Pipeline

log = structlog.get_logger(__name__)
#: libyaml's safe loader when PyYAML has it, as the pack loader uses (the pure-Python one took ~0.15 s).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class InputRejected(PolicyError):
    """A policy pack, value set or index refused (unsigned, tampered, unreadable index), at start-up
    or on a reload; ``str()`` is one safe line. A PolicyError, so ``dropwarden run`` reports it as a
    policy error and exits 2. (It was ReloadError, though start-up raises it too.)"""

    def __init__(self, file: str, message: str, kind: str = "policy", reason: str = "") -> None:
        super().__init__(file, "", "", message)
        self.kind = kind
        self.reason = reason


def policy_digest(
    dirs: list[Path], index_files: list[str], extra: str = "", sources: Mapping[Path, bytes] | None = None
) -> str:
    """Digest of everything a verdict depends on besides the file: a change means rescan all."""
    h = hashlib.sha256(extra.encode())
    if sources is not None:  # verified bytes: hash exactly what was loaded
        for p in sorted(sources, key=str):
            h.update(str(p).encode() + b"\0" + hashlib.sha256(sources[p]).digest())
        return h.hexdigest()[:32]
    for d in dirs:
        files = sorted(p for p in Path(d).rglob("*") if p.is_file()) if Path(d).is_dir() else [Path(d)]
        for p in files:
            h.update(str(p).encode() + b"\0")
            try:
                h.update(hashlib.sha256(p.read_bytes()).digest())
            except OSError:
                h.update(b"unreadable")
    for f in index_files:
        try:
            h.update(f.encode() + b"\0" + hashlib.sha256(Path(f).read_bytes()).digest())
        except OSError:
            h.update(b"missing")
    return h.hexdigest()[:32]


def _value_sets(pack: Path, data: bytes) -> list[Path]:
    """Value-set files a pack names (rules and overrides), relative to the pack as the loader reads them."""
    try:
        raw = yaml.load(data.decode("utf-8"), Loader=_SAFE_LOADER)  # noqa: S506
    except (UnicodeDecodeError, yaml.YAMLError):
        return []  # the loader reports the broken pack itself
    if not isinstance(raw, dict):
        return []
    out: list[Path] = []
    for key in ("rules", "override"):  # any other shape is the loader's to report, with the pack's name
        entries = raw.get(key)
        for entry in entries if isinstance(entries, list) else []:
            exc = entry.get("exceptions") if isinstance(entry, dict) else None
            sets = exc.get("value_sets") if isinstance(exc, dict) else None
            names = sets if isinstance(sets, list) else []
            out.extend(pack.parent / v for v in names if isinstance(v, str))
    return out


def _reject(exc: Exception, kind: str, metrics: Metrics | None) -> InputRejected:
    from agent.security.signing import SignatureRejected

    if metrics is not None:
        metrics.signature_rejections.labels(kind=kind).inc()
    reason = exc.reason if isinstance(exc, SignatureRejected) else str(getattr(exc, "reason", "rejected"))
    path = getattr(exc, "path", "") or ""
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if path and msg.startswith(f"{path}: "):
        msg = msg[len(path) + 2 :]
    log.error("signature_rejected", kind=kind, reason=reason, file=path)
    return InputRejected(path or kind, msg, kind=kind, reason=reason)


def verified_sources(
    settings: Settings, dirs: list[Path], metrics: Metrics | None = None, verify: bool = True
) -> dict[Path, bytes]:
    """Read every pack and value-set file once and return its bytes, signature checked; raise InputRejected.

    ``verify=False``: the same snapshot without signature checks (unreadable files are left out, the
    loader reports them)."""
    from agent.policy.loader import pack_files
    from agent.security.keys import load_signing_public
    from agent.security.signing import SignatureRejected, load_verified

    keys = [load_signing_public(p) for p in settings.signing_public_keys] if verify else []

    shipped = {d.resolve() for d in default_policy_dirs()}

    def read(f: Path) -> bytes | None:
        # a shipped pack file is part of the installed program, like the recognizers: no signature
        if verify and Path(f).resolve().parent not in shipped:
            return load_verified(f, keys)
        try:
            return Path(f).read_bytes()
        except OSError:
            return None

    files, _ = pack_files(dirs)  # a missing dir is reported by the loader
    sources: dict[Path, bytes] = {}
    try:
        if verify:  # a directory is trusted as a whole, through its signed manifest
            sources.update(manifest_sources(settings, dirs, keys))
        for f in files:
            if Path(f) not in sources and (b := read(Path(f))) is not None:
                sources[Path(f)] = b
        for f in list(sources):
            for vs in _value_sets(f, sources[f]):
                # a missing one is reported by the loader
                if vs not in sources and vs.is_file() and (b := read(vs)) is not None:
                    sources[vs] = b
    except SignatureRejected as exc:
        raise _reject(exc, "policy", metrics) from None
    return sources


def manifest_sources(settings: Settings, dirs: list[Path], keys: list[Ed25519PublicKey]) -> dict[Path, bytes]:
    """Every file of each policy directory, read once, when the directory is exactly its signed manifest
    and that manifest is not older than the last one accepted (agent.security.manifest)."""
    from agent.security.manifest import check_not_older, load_set, remember

    sources: dict[Path, bytes] = {}
    accepted = []
    for d in dirs:
        if not Path(d).is_dir():
            continue  # a single pack file keeps its own .sig; a missing dir is the loader's to report
        manifest, files = load_set(d, keys)
        check_not_older(settings.state_dir, manifest, d)
        sources.update(files)
        accepted.append(manifest)
    remember(settings.state_dir, accepted)
    return sources


@dataclass(frozen=True)
class PipelineSpec:
    """What a worker needs to build the very pipeline the agent built (picklable; called once in the
    worker, see agent.daemon.workers): the settings, the key, the pack and index bytes the agent loaded and
    checked, so a pack or index edited on disk since then never reaches a worker
    (not even one started later to replace a timed-out one) without a reload."""

    settings: Settings
    key: bytes
    sources: Mapping[Path, bytes]
    index_bytes: Mapping[str, bytes]

    def __call__(self) -> Pipeline:
        extra, _ = _index_detectors(self.settings, self.key, None, self.index_bytes)
        return build_for(self.settings, self.key, sources=self.sources, extra=tuple(extra))[0]


def build_with_spec(
    settings: Settings, key: bytes, metrics: Metrics | None = None
) -> tuple[PolicySet, str, PipelineSpec]:
    """(policies, digest, spec for the workers): the policy inputs are read once, for both.

    The agent's parent only needs the compiled policies (agent.daemon.policyview): the pipeline lives
    in the workers, built there from ``spec``. Everything a pack can break is checked here by the
    loader (schema, entities, regex compile and ReDoS shapes, re2 triggers); the indexes are read and
    their signatures checked here too. What only a build can show is checked on a reload by
    agent.daemon.policyview.check_buildable."""
    dirs = settings.policy_dirs(default_policy_dirs())
    sources = verified_sources(settings, dirs, metrics, verify=settings.require_signed)
    extra, index_bytes = _index_detectors(settings, key, metrics)
    policies = load_policies(dirs, known_entities=known_entities(extra), sources=sources)
    return policies, _digest(settings, dirs, sources), PipelineSpec(settings, key, sources, index_bytes)


def known_entities(extra: Sequence[object]) -> frozenset[str]:
    """Entities a rule may name: the built-in recognizers' and those of the index detectors. The
    constant list (kept equal to the registry by a test), so the agent's parent never imports Presidio."""
    from agent.classify.entities import KNOWN_ENTITIES

    return KNOWN_ENTITIES | frozenset(e for d in extra for e in getattr(d, "entities", ()))


def _digest(settings: Settings, dirs: list[Path], sources: Mapping[Path, bytes] | None) -> str:
    """The policy digest of these settings (see policy_digest); ``sources`` as verified_sources read them."""
    signed = sources if settings.require_signed else None  # the digest of an unsigned set: from disk
    return policy_digest(
        dirs,
        [*settings.edm_files(), *settings.fingerprint_files()],
        extra=repr((_limits(settings), settings.ner_model)),
        sources=_with_indexes(signed, settings) if signed is not None else None,
    )


def _limits(settings: Settings) -> Limits:
    limits = settings.limits_obj()
    return type(limits)(**{**limits.__dict__, "timeout_seconds": settings.timeout})


def _load_index(load: Any, f: str, key: bytes, trusted: Any, settings: Settings, blob: bytes | None) -> Any:
    """Load one index from a private copy of its bytes (and signature); returns (index, bytes).

    The agent reads the file and its ``.sig`` once into a 0700 temp dir and checks and loads that copy,
    so the bytes it hands its workers (``blob``, loaded there from a memfd without a second check) are
    exactly the bytes it verified, whatever happens to the file on disk afterwards."""
    import tempfile

    from agent.security.signing import sig_path

    if blob is not None:  # in a worker: the agent's verified bytes
        fd = os.memfd_create("dropwarden-index", os.MFD_CLOEXEC)
        try:
            os.write(fd, blob)
            return load(f"/proc/self/fd/{fd}", key, None, False), blob
        finally:
            os.close(fd)
    try:
        data = Path(f).read_bytes()
    except OSError:
        return load(f, key, trusted, settings.require_signed), b""  # the loader names the failure
    with tempfile.TemporaryDirectory(prefix="dropwarden-index-") as tmp:
        copy = Path(tmp) / Path(f).name
        copy.write_bytes(data)
        with contextlib.suppress(OSError):
            sig_path(copy).write_bytes(sig_path(f).read_bytes())
        return load(copy, key, trusted, settings.require_signed), data


def _index_detectors(
    settings: Settings, key: bytes, metrics: Metrics | None, blobs: Mapping[str, bytes] | None = None
) -> tuple[list[object], dict[str, bytes]]:
    """EDM and fingerprint detectors, each index read once and its signature checked on those bytes;
    with the bytes read (for the workers). ``blobs``: in a worker, the agent's bytes instead of the files."""
    from agent.classify.indexes.indexfile import IndexRejected

    trusted: list[Any] | None = None
    if settings.require_signed and blobs is None:
        from agent.security.keys import load_signing_public

        trusted = [load_signing_public(p) for p in settings.signing_public_keys]
    loaders: list[tuple[str, Any, Any]] = []
    if settings.edm_files():
        from agent.classify.indexes.edm import EdmDetector, EdmIndex

        loaders += [(f, EdmIndex.load, EdmDetector) for f in settings.edm_files()]
    if settings.fingerprint_files():
        from agent.classify.indexes.fingerprint import FingerprintDetector, FingerprintIndex

        loaders += [(f, FingerprintIndex.load, FingerprintDetector) for f in settings.fingerprint_files()]
    extra: list[object] = []
    read: dict[str, bytes] = {}
    for f, load, detector in loaders:
        try:
            index, read[f] = _load_index(load, f, key, trusted, settings, None if blobs is None else blobs[f])
            extra.append(detector(index))
        except IndexRejected as exc:
            if exc.reason in ("unsigned", "bad_signature", "no_public_key"):
                if metrics is not None:
                    metrics.signature_rejections.labels(kind="index").inc()
                log.error("signature_rejected", kind="index", reason=exc.reason, file=f)
                raise InputRejected(
                    f, f"index signature rejected ({exc.reason})", "index", exc.reason
                ) from None
            raise InputRejected(
                f, f"index rejected ({exc.reason})", kind="index", reason=exc.reason
            ) from None
    return extra, read


def index_detectors(settings: Settings, key: bytes, metrics: Metrics | None = None) -> list[object]:
    """The EDM and fingerprint detectors of ``settings.indexes``, each checked as the daemon does."""
    return _index_detectors(settings, key, metrics)[0]


def build_for(
    settings: Settings,
    key: bytes,
    metrics: Metrics | None = None,
    sources: Mapping[Path, bytes] | None = None,
    extra: tuple[object, ...] | None = None,
    policy_cache: str | Path | None = None,
) -> tuple[Pipeline, str]:
    """(pipeline, digest) from settings; raises InputRejected / PolicyError / OSError on bad input.

    ``sources``: pack bytes already read (and, with require_signed, verified) by verified_sources;
    ``extra``: index detectors already loaded (and checked) by _index_detectors; ``policy_cache``:
    see :func:`~agent.pipeline.build_pipeline`."""
    from agent.pipeline import build_pipeline

    dirs = settings.policy_dirs(default_policy_dirs())
    if sources is None and settings.require_signed:
        sources = verified_sources(settings, dirs, metrics)
    if extra is None:
        extra = tuple(_index_detectors(settings, key, metrics)[0])
    pipeline = build_pipeline(
        dirs, key, _limits(settings), extra, settings.ner_model, sources=sources, policy_cache=policy_cache
    )
    return pipeline, _digest(settings, dirs, sources)


def _with_indexes(sources: Mapping[Path, bytes], settings: Settings) -> dict[Path, bytes]:
    out = dict(sources)
    for f in (*settings.edm_files(), *settings.fingerprint_files()):
        try:
            out[Path(f)] = hashlib.sha256(Path(f).read_bytes()).digest()
        except OSError:
            out[Path(f)] = b"missing"
    return out


def build_dispatcher(settings: Settings, metrics: Metrics) -> Dispatcher:
    """The alert sinks the settings ask for, behind one fan-out Dispatcher."""
    from agent.actions.sinks import Dispatcher

    sinks: list[Sink] = []
    s = settings.sinks
    if s.stdout:
        from agent.actions.console import ConsoleSink

        sinks.append(ConsoleSink())
    if s.jsonl is not None:
        from agent.actions.jsonl import JsonlSink

        Path(s.jsonl.path).parent.mkdir(parents=True, exist_ok=True)
        sinks.append(JsonlSink(s.jsonl.path, fsync=s.jsonl.fsync, fmt=s.jsonl.format))
    if s.webhooks:
        from agent.actions.outbox import Outbox
        from agent.actions.webhook import WebhookSink

        outbox = Outbox(str(Path(settings.state_dir) / "outbox.db"))
        for w in s.webhooks:
            headers = {**w.headers, **{h: read_secret(ref) for h, ref in w.header_files.items()}}
            sink = WebhookSink(
                w.name, w.url, outbox, fmt=w.format, headers=headers, timeout=w.timeout,
                ca_file=w.ca_file, metrics=metrics,
            )  # fmt: skip
            start = getattr(sink, "start", None)
            if start is not None:
                start()
            sinks.append(sink)
    if s.syslog is not None:
        from agent.actions.syslog import SyslogSink

        fac = {"auth": 4, "authpriv": 10, "daemon": 3, "user": 1, "local0": 16, "local7": 23}
        sl = s.syslog
        sinks.append(
            SyslogSink(
                sl.address,
                sl.transport,
                fac.get(sl.facility, 10),
                ca_file=sl.ca_file,
                cert_file=sl.cert_file,
                key_file=sl.key_file,
            )
        )
    return Dispatcher(sinks, metrics=metrics)


def signing_key_ids(settings: Settings) -> list[str]:
    """Key ids of the trusted signing keys (for the audit log's record of key changes)."""
    from agent.security.keys import key_id, load_signing_public

    return [key_id(load_signing_public(p)) for p in settings.signing_public_keys]
