"""The composition root of the daemon: settings -> key -> pipeline -> journal -> workers -> sinks.

One main loop in the main thread claims work from the journal (only as many items as there are idle
workers, so memory stays flat under any burst), hands it to the worker pool, and turns outcomes
into journal acks, metrics and alerts. Threads around it: watchdog + the event batcher (events ->
journal), the reconciler (crawls), the metrics HTTP server and webhook delivery. Signals only set
flags and write to a self-pipe; the loop does the work.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import signal
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from agent.journal import FileStat, Journal
from agent.metrics import Metrics
from agent.models import SEVERITY_RANK, Alert
from agent.notify import Notifier
from agent.settings import Settings, Zone
from agent.sources.reconcile import Reconciler
from agent.sources.watcher import Watcher
from agent.workers import Outcome, WorkerPool

log = structlog.get_logger(__name__)

DRAIN_SECONDS = 6.0  # SIGTERM: finish in-flight files for this long (systemd's default stop timeout is 90 s)


# -- metrics exporter ---------------------------------------------------------------------------
def _basic_auth(app: Callable[..., Any], username: str, sha256_hex: str) -> Callable[..., Any]:
    want_user, want_hash = username.encode(), bytes.fromhex(sha256_hex)

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        header = environ.get("HTTP_AUTHORIZATION", "")
        ok = False
        if header.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(header[6:], validate=True).partition(b":")
                ok = hmac.compare_digest(user, want_user) & hmac.compare_digest(
                    hashlib.sha256(pw).digest(), want_hash
                )
            except ValueError:
                ok = False
        if not ok:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="dropwarden"')])
            return [b"unauthorized\n"]
        return app(environ, start_response)

    return wrapped


def start_metrics_server(settings: Settings, metrics: Metrics) -> Any:
    """prometheus_client's WSGI app on a threading server, optionally behind TLS and basic auth."""
    from wsgiref.simple_server import make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

    cfg = settings.metrics
    host, port = cfg.host_port
    app = make_wsgi_app(metrics.registry)
    if cfg.basic_auth is not None:
        digest = cfg.basic_auth.password_sha256
        if digest is None:
            assert cfg.basic_auth.password_file is not None
            pw = Path(cfg.basic_auth.password_file).read_bytes().rstrip(b"\r\n")
            digest = hashlib.sha256(pw).hexdigest()
        app = _basic_auth(app, cfg.basic_auth.username, digest)

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    httpd = make_server(host, port, app, Server, handler_class=_SilentHandler)
    if cfg.tls_cert and cfg.tls_key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True).start()
    return httpd


# -- building blocks ----------------------------------------------------------------------------
def policy_digest(dirs: list[Path], index_files: list[str], extra: str = "") -> str:
    """Digest of everything a verdict depends on besides the file: a change means rescan all."""
    h = hashlib.sha256(extra.encode())
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


class ReloadError(Exception):
    """Inputs refused before building a pipeline (unsigned pack); ``str()`` is one safe line."""


def _check_signatures(settings: Settings, dirs: list[Path], metrics: Metrics | None) -> Any:
    """With ``require_signed``: every pack file must carry a valid .sig; returns the first public key."""
    if not settings.require_signed:
        return None
    from agent.keys import load_signing_public
    from agent.policy.loader import pack_files
    from agent.signing import verify_many

    keys = [load_signing_public(p) for p in settings.signing_public_keys]
    files, _ = pack_files(dirs)
    rejected = verify_many(files, keys)
    if rejected:
        if metrics is not None:
            metrics.signature_rejections.labels(kind="policy").inc(len(rejected))
        raise ReloadError(f"policy signature rejected: {str(rejected[0]).splitlines()[0]}")
    return keys[0]


def build_for(settings: Settings, key: bytes, metrics: Metrics | None = None) -> tuple[Any, str]:
    """(pipeline, digest) from settings; raises PolicyError / IndexRejected / OSError on bad input."""
    from agent.pipeline import build_pipeline, default_policy_dirs

    dirs = settings.policy_dirs(default_policy_dirs())
    pub = _check_signatures(settings, dirs, metrics)
    limits = settings.limits_obj()
    limits = type(limits)(**{**limits.__dict__, "timeout_seconds": settings.timeout})
    extra: list[object] = []
    if settings.indexes.edm:
        from agent.classify.edm import EdmDetector, EdmIndex

        for f in settings.indexes.edm:
            extra.append(EdmDetector(EdmIndex.load(f, key, pub, settings.require_signed)))
    if settings.indexes.fingerprint:
        from agent.classify.fingerprint import FingerprintDetector, FingerprintIndex

        for f in settings.indexes.fingerprint:
            extra.append(
                FingerprintDetector(FingerprintIndex.load(f, key, require_signed=settings.require_signed))
            )
    pipeline = build_pipeline(dirs, key, limits, extra_detectors=extra, ner_model=settings.ner_model)
    digest = policy_digest(
        dirs,
        [*settings.indexes.edm, *settings.indexes.fingerprint],
        extra=repr((limits, settings.ner_model)),
    )
    return pipeline, digest


def build_dispatcher(settings: Settings, metrics: Metrics) -> Any:
    from agent.actions.sinks import Dispatcher

    sinks: list[Any] = []
    s = settings.sinks
    if s.stdout:
        from agent.actions.console import ConsoleSink

        sinks.append(ConsoleSink())
    if s.jsonl is not None:
        from agent.actions.jsonl import JsonlSink

        Path(s.jsonl.path).parent.mkdir(parents=True, exist_ok=True)
        sinks.append(JsonlSink(s.jsonl.path, fsync=s.jsonl.fsync))
    if s.webhooks:
        from agent.actions.outbox import Outbox
        from agent.actions.webhook import WebhookSink

        outbox = Outbox(str(Path(settings.state_dir) / "outbox.db"))
        for w in s.webhooks:
            sink = WebhookSink(
                w.name, w.url, outbox, fmt=w.format, headers=dict(w.headers), timeout=w.timeout,
                ca_file=w.ca_file, metrics=metrics,
            )  # fmt: skip
            start = getattr(sink, "start", None)
            if start is not None:
                start()
            sinks.append(sink)
    if s.syslog is not None:
        from agent.actions.syslog import SyslogSink

        fac = {"auth": 4, "authpriv": 10, "daemon": 3, "user": 1, "local0": 16, "local7": 23}
        sinks.append(SyslogSink(s.syslog.address, s.syslog.transport, fac.get(s.syslog.facility, 10)))
    return Dispatcher(sinks, metrics=metrics)


class Agent:
    """The daemon. ``run()`` blocks until SIGTERM/SIGINT (or ``request_stop()``) and returns an exit code."""

    def __init__(
        self, settings: Settings, config_path: str | None = None, notifier: Notifier | None = None
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.notifier = notifier or Notifier()
        self.metrics = Metrics()
        self._stop = False
        self._reload = False
        self._reload_thread: threading.Thread | None = None
        self._reload_result: tuple[Any, str, Settings] | None = None
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.host = socket.gethostname()
        self._last_overflow = 0.0

    # -- signals ------------------------------------------------------------------------------
    def wake(self) -> None:
        with contextlib.suppress(OSError):  # a full pipe: the loop is awake anyway
            os.write(self._wake_w, b"!")

    def request_stop(self, *_: object) -> None:
        self._stop = True
        self.wake()

    def request_reload(self, *_: object) -> None:
        self._reload = True
        self.wake()

    def _install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGHUP, self.request_reload)

    # -- start-up -----------------------------------------------------------------------------
    def run(self) -> int:
        from agent.actions.dedup import Deduplicator
        from agent.redact import load_or_create_key

        st = self.settings
        Path(st.state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key = load_or_create_key(st.key_path)
        self.pipeline, self.digest = build_for(st, self.key, self.metrics)
        self.journal = Journal(st.journal_path)
        back, gave_up = self.journal.requeue_claimed()
        if back or gave_up:
            log.info("journal_recovered", requeued=back, given_up=gave_up)
        if self.journal.get_meta("policy_digest") != self.digest:
            n = self.journal.rescan_all(self.digest)
            self.journal.set_meta("policy_digest", self.digest)
            log.info("policy_changed", rescan=n)
        self._install_signals()
        # fork the workers before any other thread exists: nothing can hold a lock at fork time
        self.pool = WorkerPool(st.workers, st.timeout, metrics=self.metrics)
        self.pool.start(self.pipeline)
        self.metrics.reconcile_interval.set(st.reconcile_interval)
        self._set_rules_gauge()
        self.http = start_metrics_server(st, self.metrics)
        self.dispatcher = build_dispatcher(st, self.metrics)
        self.dedup = Deduplicator(str(Path(st.state_dir) / "alerts.db"))
        self.vault = self._open_vault()
        self.reconciler = Reconciler(
            self.journal, list(st.zones), st.settle_seconds, st.reconcile_interval, self.metrics, self.wake
        )
        self.watcher = Watcher(
            st.zones, self.journal, st.settle_seconds, on_dir=self.reconciler.request_dir,
            on_overflow=self._overflowed, wake=self.wake,
        )  # fmt: skip
        self.watcher.start()
        self.reconciler.start()
        self.reconciler.request_full("startup")
        self.notifier.ready()
        log.info(
            "agent_ready", zones=[z.name for z in st.zones], workers=st.workers,
            metrics=st.metrics.address, pid=os.getpid(),
        )  # fmt: skip
        try:
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _open_vault(self) -> Any:
        if not any(z.quarantine for z in self.settings.zones) or not self.settings.quarantine_public_key:
            return None
        from agent.actions.quarantine import QuarantineStore
        from agent.audit import AuditLog
        from agent.keys import load_quarantine_public

        st = self.settings
        audit = AuditLog(Path(st.state_dir) / "audit.log", self.key)
        store = QuarantineStore(
            st.state_dir, load_quarantine_public(st.quarantine_public_key), hash_key=self.key, audit=audit
        )
        done = store.recover()
        if done:
            log.info("quarantine_recovered", incidents=len(done))
        return store

    def _quarantine(self, v: Any, zone: Zone | None) -> str | None:
        """Move the file to the vault when a rule asks for it and the zone opted in; the incident id."""
        if self.vault is None or zone is None or not zone.quarantine:
            return None
        f = next((f for f in v.findings if "quarantine" in f.actions and f.member is None), None)
        f = f or next((f for f in v.findings if "quarantine" in f.actions), None)
        if f is None:
            return None
        try:
            rec = self.vault.quarantine(v.path, zone.name, f.rule, f"{f.policy}/{f.rule}: {f.entity}")
        except Exception as exc:
            log.error("quarantine_failed", path=v.path, rule=f.rule, error=type(exc).__name__)
            return None
        self.metrics.quarantined.labels(zone=zone.name).inc()
        log.warning("file_quarantined", path=v.path, rule=f.rule, incident_id=rec.incident_id)
        return str(rec.incident_id)

    def _set_rules_gauge(self) -> None:
        rules = getattr(getattr(self.pipeline, "policies", None), "rules", None)
        if rules is not None:
            with contextlib.suppress(TypeError):
                self.metrics.policy_rules.set(len(rules))

    def _overflowed(self) -> None:
        # watchdog logs one record per overflow and one per recursive watch group: count them once
        now = time.monotonic()
        if now - self._last_overflow > 0.5:
            self.metrics.inotify_overflows.inc()
            log.warning("inotify_overflowed")
        self._last_overflow = now
        self.reconciler.overflowed()

    # -- the loop -----------------------------------------------------------------------------
    def _loop(self) -> None:
        next_gauges = 0.0
        while not self._stop:
            if self._reload:
                self._reload = False
                self._start_reload()
            if self._reload_result is not None:
                self._apply_reload()
            idle = self.pool.idle()
            claimed = 0
            if idle:
                claimed = self._dispatch(idle)
            # claimed == idle: more work may be due right now, don't sleep
            timeout = 0.0 if idle and claimed == idle else 0.1
            for o in self.pool.poll(timeout, extra=[self._wake_r]):
                self._handle_safely(o)
            self._drain_wake()
            now = time.monotonic()
            if now >= next_gauges:
                next_gauges = now + 1.0
                self._gauges()
            self.notifier.watchdog()

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _gauges(self) -> None:
        self.metrics.queue_depth.set(self.journal.depth())
        self.metrics.oldest_pending.set(self.journal.oldest_pending_age())
        self.metrics.in_flight.set(self.pool.busy())

    def _dispatch(self, n: int) -> int:
        items = self.journal.claim(n, worker_id=str(os.getpid()))
        now = time.time()
        for item in items:
            zone = self.settings.zone(item.zone)
            try:
                lst = os.lstat(item.path)
            except FileNotFoundError:
                self.journal.fail(item, "vanished")
                self.journal.forget(item.path)
                continue
            except OSError:
                lst = None
            if zone is None:
                self.journal.fail(item, "internal")
                continue
            age = now - (lst.st_mtime_ns / 1e9) if lst is not None else 1e9
            if 0 <= age < self.settings.settle_seconds:  # still being written: an event may be missing
                self.journal.defer(item, now + self.settings.settle_seconds - age)
                continue
            self.pool.submit(item, zone.role, zone.path, self.digest)
        return len(items)

    def _handle_safely(self, o: Outcome) -> None:
        """A failure on one outcome (journal busy, a sink bug) must not stop the loop; the item stays
        claimed and goes back to pending at the next start."""
        try:
            self._handle(o)
        except Exception as exc:
            log.error("outcome_handling_failed", path=o.item.path, kind=o.kind, error=type(exc).__name__)

    def _handle(self, o: Outcome) -> None:
        item = o.item
        zone = item.zone or ""
        m = self.metrics
        if o.kind == "cached":
            self.journal.ack(
                item, max_severity=None, findings=0, error=None, stat=o.stat, content_hash=o.content_hash,
                policy_digest=self.digest, scanned=False,
            )  # fmt: skip
            return
        if o.kind != "verdict" or o.verdict is None:
            reason = o.reason or "internal"
            try:
                fst: FileStat | None = FileStat.of(os.lstat(item.path))
            except OSError:
                fst = None
            self.journal.fail(item, reason, fst, self.digest)
            m.errors.labels(zone=zone, reason=reason).inc()
            log.warning("scan_failed", path=item.path, zone=zone, reason=reason, seconds=round(o.seconds, 3))
            return
        v = o.verdict
        reasons = sorted({e.reason for e in v.errors})
        if "vanished" in reasons and not v.findings and not os.path.lexists(item.path):
            self.journal.fail(item, "vanished")
            self.journal.forget(item.path)
            return
        incident = self._quarantine(v, self.settings.zone(item.zone))
        self._alert(v, item.zone, incident)
        self.journal.ack(
            item, max_severity=v.max_severity, findings=len(v.findings),
            error=reasons[0] if reasons else None, stat=o.stat, content_hash=o.content_hash,
            policy_digest=self.digest,
        )  # fmt: skip
        m.files_scanned.labels(zone=zone).inc()
        m.bytes_scanned.labels(zone=zone).inc(v.bytes)
        m.scan_duration.labels(zone=zone).observe(v.seconds)
        m.verdict_latency.labels(zone=zone).observe(max(0.0, time.time() - item.event_time))
        for r in reasons:
            m.errors.labels(zone=zone, reason=r).inc()
        (log.info if v.findings or reasons else log.debug)(
            "file_scanned", path=item.path, zone=zone, findings=len(v.findings), max_severity=v.max_severity,
            errors=reasons, seconds=round(v.seconds, 3),
        )  # fmt: skip

    def _alert(self, v: Any, zone_name: str | None, incident: str | None = None) -> None:
        from agent.actions.dedup import alert_id

        zone: Zone | None = self.settings.zone(zone_name)
        floor = SEVERITY_RANK[self.settings.alert_min_severity]
        now = time.time()
        for f in v.findings:
            self.metrics.findings.labels(
                zone=zone_name or "", policy=f.policy, rule=f.rule, severity=f.severity
            ).inc()
            if SEVERITY_RANK[f.severity] < floor:
                continue
            alert = Alert(
                id=alert_id(self.key, f.path, f.member, f.rule, f.fingerprint), time=now, host=self.host,
                zone=zone_name, role=zone.role if zone else "contractor-drop", path=f.path, member=f.member,
                policy=f.policy, rule=f.rule, entity=f.entity, severity=f.severity, excerpt=f.excerpt,
                fingerprint=f.fingerprint, desc=f.desc, count=f.count, tags=f.tags, line=f.line,
                incident_id=incident,
            )  # fmt: skip
            if not self.dedup.is_new(alert):
                continue
            self.dispatcher.send(alert)
            self.metrics.alerts.labels(
                zone=zone_name or "", policy=f.policy, rule=f.rule, severity=f.severity
            ).inc()
            log.info("alert_raised", path=f.path, rule=f.rule, severity=f.severity, alert_id=alert.id)

    # -- reload -------------------------------------------------------------------------------
    def _start_reload(self) -> None:
        self.dispatcher.reopen()
        if self._reload_thread is not None and self._reload_thread.is_alive():
            self._reload = True  # one more after the running one
            return
        self.notifier.reloading()
        self._reload_thread = threading.Thread(target=self._build_reload, name="reload", daemon=True)
        self._reload_thread.start()

    def _build_reload(self) -> None:
        from agent.settings import load_settings

        try:
            settings = load_settings(self.config_path) if self.config_path else self.settings
            pipeline, digest = build_for(settings, self.key, self.metrics)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("reload_failed", reason=reason)
            self.metrics.reloads.labels(outcome="failure").inc()
            self.metrics.last_reload_success.set(0)
            self.notifier.ready("reload failed; previous policies active")
            return
        self._reload_result = (pipeline, digest, settings)
        self.wake()

    def _apply_reload(self) -> None:
        assert self._reload_result is not None
        pipeline, digest, settings = self._reload_result
        self._reload_result = None
        restart_needed = [
            f
            for f in ("zones", "sinks", "metrics", "state_dir", "workers")
            if getattr(settings, f) != getattr(self.settings, f)
        ]
        self.settings = self.settings.model_copy(
            update={
                k: getattr(settings, k)
                for k in ("policies", "indexes", "limits", "alert_min_severity", "file_timeout", "ner_model")
            }
        )
        self.pipeline = pipeline
        self.pool.timeout = self.settings.timeout
        self.pool.replace_pipeline(pipeline)
        if digest != self.digest:
            self.digest = digest
            n = self.journal.rescan_all(digest)
            self.journal.set_meta("policy_digest", digest)
        else:
            n = 0
        self._set_rules_gauge()
        self.metrics.reloads.labels(outcome="success").inc()
        self.metrics.last_reload_success.set(1)
        self.notifier.ready()
        log.info("reload_succeeded", rescan=n, needs_restart=restart_needed)

    # -- shutdown -----------------------------------------------------------------------------
    def _shutdown(self) -> None:
        self.notifier.stopping()
        log.info("agent_stopping", in_flight=self.pool.busy())
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.pool.busy() and time.monotonic() < deadline:
            for o in self.pool.poll(min(0.1, deadline - time.monotonic())):
                self._handle_safely(o)
        for item in self.pool.stop(timeout=0.5):
            self.journal.defer(item, time.time())  # unfinished: back to pending for the next start
        self.watcher.stop()
        self.reconciler.stop()
        self.dispatcher.close()
        self.http.shutdown()
        self.journal.close()
        log.info("agent_stopped")
