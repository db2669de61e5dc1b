"""The composition root of the daemon: settings -> key -> pipeline -> journal -> workers -> sinks.

One main loop in the main thread claims work from the journal (only as many items as there are idle
workers, so memory stays flat under any burst), hands it to the worker pool, and turns outcomes
into journal acks, metrics and alerts. Threads around it: watchdog + the event batcher (events ->
journal), the reconciler (crawls), the metrics HTTP server and webhook delivery. Signals only set
flags and write to a self-pipe; the loop does the work.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import signal
import socket
import stat as stat_mod
import threading
import time
from pathlib import Path
from typing import Any

import structlog

from agent.exporter import start_metrics_server
from agent.journal import FileStat, Journal
from agent.metrics import Metrics
from agent.models import SEVERITY_RANK, Alert
from agent.notify import Notifier
from agent.settings import Settings, Zone
from agent.sources.reconcile import Reconciler
from agent.sources.watcher import Watcher
from agent.wiring import ReloadError, build_dispatcher, build_for, policy_digest, signing_key_ids
from agent.workers import Outcome, WorkerPool, hash_file

__all__ = ["Agent", "ReloadError", "build_dispatcher", "build_for", "policy_digest", "start_metrics_server"]

log = structlog.get_logger(__name__)

#: Name of a quarantine step (agent.actions.quarantine.FAULT_POINTS): the agent SIGKILLs itself right
#: after it, so tests can prove that a crash between any two steps loses nothing. Unset in production.
FAULT_ENV = "DROPWARDEN_FAULT_QUARANTINE"
DRAIN_SECONDS = 6.0  # SIGTERM: finish in-flight files for this long (systemd's default stop timeout is 90 s)


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
        from agent.audit import AuditLog, audit_path
        from agent.redact import load_or_create_key

        st = self.settings
        Path(st.state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
        self.key = load_or_create_key(st.key_path)
        self.audit = AuditLog(audit_path(st.state_dir), self.key)
        try:
            self.pipeline, self.digest = build_for(st, self.key, self.metrics)
        except ReloadError as exc:
            self._audit("signature_rejected", kind=exc.kind, reason=exc.reason, file=exc.file, at="start")
            raise
        self.journal = Journal(st.journal_path)
        self._audit_keys()
        back, gave_up = self.journal.requeue_claimed()
        if back or gave_up:
            log.info("journal_recovered", requeued=back, given_up=gave_up)
        if self.journal.get_meta("policy_digest") != self.digest:
            n = self.journal.rescan_all(self.digest)
            self.journal.set_meta("policy_digest", self.digest)
            log.info("policy_changed", rescan=n)
        self._install_signals()
        # fork the workers before any other thread exists: nothing can hold a lock at fork time
        self.pool = WorkerPool(st.workers, st.timeout, metrics=self.metrics, seal_to=self._evidence_key())
        self.pool.start(self.pipeline)
        self.metrics.reconcile_interval.set(st.reconcile_interval)
        self._set_rules_gauge()
        self.http = start_metrics_server(st, self.metrics)
        self.dispatcher = build_dispatcher(st, self.metrics)
        self.dedup = Deduplicator(str(Path(st.state_dir) / "alerts.db"))
        self.vault = self._open_vault()
        self.evidence = self._open_evidence()
        self._alert_unsent_quarantines()
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

    def _audit(self, event: str, **fields: Any) -> None:
        """Append to the audit chain; a failing audit log is logged, never stops the agent."""
        try:
            self.audit.append(event, **fields)
        except Exception as exc:
            log.error("audit_append_failed", audit_event=event, error=type(exc).__name__)

    def _audit_keys(self) -> None:
        """Record the agent's start and, when they differ from the last run, its trusted key ids."""
        from agent.keys import key_id, load_quarantine_public

        st = self.settings
        q = key_id(load_quarantine_public(st.quarantine_public_key)) if st.quarantine_public_key else None
        ids = f"quarantine={q} signing={','.join(signing_key_ids(st))}"
        last = self.journal.get_meta("trusted_key_ids")
        if last is not None and last != ids:
            self._audit("keys_changed", before=last, after=ids)
        self.journal.set_meta("trusted_key_ids", ids)
        self._audit("agent_started", pid=os.getpid(), keys=ids, policy_digest=self.digest)

    def _evidence_key(self) -> Any:
        if self.settings.evidence != "encrypted" or not self.settings.quarantine_public_key:
            return None
        from agent.keys import load_quarantine_public

        return load_quarantine_public(self.settings.quarantine_public_key)

    def _open_evidence(self) -> Any:
        if self.settings.evidence != "encrypted":
            return None
        from agent.evidence import EvidenceStore

        return EvidenceStore(self.settings.state_dir)  # the workers seal; the parent only stores blobs

    def _open_vault(self) -> Any:
        self._tombstones: set[str] = set()
        if not any(z.quarantine for z in self.settings.zones) or not self.settings.quarantine_public_key:
            return None
        from agent.actions.quarantine import QuarantineStore
        from agent.keys import load_quarantine_public

        st = self.settings
        store = QuarantineStore(
            st.state_dir,
            load_quarantine_public(st.quarantine_public_key),
            hash_key=self.key,
            audit=self.audit,
        )
        done = store.recover()
        if done:
            log.info("quarantine_recovered", incidents=len(done))
        self._tombstones = {r.tombstone_sha256 for r in store.list()}
        crash_at = os.environ.get(FAULT_ENV)
        if crash_at:  # fault injection for the crash-safety tests: die like kill -9 after that step
            log.warning("fault_injection_armed", step=crash_at)
            store.fault = lambda step: os.kill(os.getpid(), signal.SIGKILL) if step == crash_at else None
        return store

    def _alert_unsent_quarantines(self) -> None:
        """A crash between quarantine and alert: alert from the vault record (no excerpt: the file is
        sealed), so no quarantined file ever goes unreported."""
        if self.vault is None:
            return
        from agent.actions.dedup import alert_id

        rules = {r.id: r for r in getattr(self.pipeline.policies, "rules", ())}
        for rec in self.vault.unalerted():
            policy_rule, _, entity = rec.reason.partition(": ")
            rule = rules.get(rec.rule)
            policy = rule.pack if rule else policy_rule.rpartition("/")[0]
            zone = self.settings.zone(rec.zone)
            role = zone.role if zone else "contractor-drop"
            severity = dict(rule.severity_by_zone).get(role, rule.severity) if rule else "high"
            alert = Alert(
                id=alert_id(self.key, rec.original_path, None, rec.rule, rec.content_hash), time=time.time(),
                host=self.host, zone=rec.zone, role=role, path=rec.original_path, member=None,
                policy=policy or "", rule=rec.rule, entity=entity or "", severity=severity,  # type: ignore[arg-type]
                excerpt="[quarantined before its alert was sent]", fingerprint=rec.content_hash,
                desc=rule.desc if rule else "", incident_id=rec.incident_id,
            )  # fmt: skip
            if self.dedup.is_new(alert):
                self.dispatcher.send(alert)
            self.vault.mark_alerted(rec.incident_id)
            log.warning("quarantine_alert_recovered", incident_id=rec.incident_id, rule=rec.rule)

    def _is_tombstone(self, path: str) -> bool:
        """Our own tombstone (rescanned after a restart, say) is never quarantined again."""
        if not self._tombstones:
            return False
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            st = os.fstat(fd)
            if not stat_mod.S_ISREG(st.st_mode) or st.st_size > 64 * 1024:
                return False
            return hashlib.sha256(os.read(fd, 64 * 1024 + 1)).hexdigest() in self._tombstones
        except OSError:
            return False
        finally:
            os.close(fd)

    def _quarantine(self, v: Any, zone: Zone | None) -> str | None:
        """Move the file to the vault when a rule asks for it and the zone opted in; the incident id."""
        if self.vault is None or zone is None or not zone.quarantine:
            return None
        f = next((f for f in v.findings if "quarantine" in f.actions and f.member is None), None)
        f = f or next((f for f in v.findings if "quarantine" in f.actions), None)
        if f is None or self._is_tombstone(v.path):
            return None
        try:
            rec = self.vault.quarantine(v.path, zone.name, f.rule, f"{f.policy}/{f.rule}: {f.entity}")
        except Exception as exc:
            reason = str(getattr(exc, "reason", type(exc).__name__))
            log.error("quarantine_failed", path=v.path, rule=f.rule, error=type(exc).__name__, reason=reason)
            self._audit("quarantine_failed", path=v.path, zone=zone.name, rule=f.rule, reason=reason)
            return None
        self._tombstones.add(rec.tombstone_sha256)
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
        self._alert(v, item.zone, incident, o.evidence)
        if incident is not None:
            self.vault.mark_alerted(incident)
        stat, content_hash = o.stat, o.content_hash
        if incident is not None:  # the path now holds our tombstone: record it, so it is never rescanned
            hashed = hash_file(item.path)
            if hashed is not None:
                content_hash, stat = hashed
        self.journal.ack(
            item, max_severity=v.max_severity, findings=len(v.findings),
            error=reasons[0] if reasons else None, stat=stat, content_hash=content_hash,
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

    def _alert(
        self, v: Any, zone_name: str | None, incident: str | None = None, evidence: tuple[Any, ...] = ()
    ) -> None:
        from agent.actions.dedup import alert_id

        zone: Zone | None = self.settings.zone(zone_name)
        floor = SEVERITY_RANK[self.settings.alert_min_severity]
        now = time.time()
        for i, f in enumerate(v.findings):
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
            sealed = evidence[i] if i < len(evidence) else None
            if sealed and self.evidence is not None:
                try:
                    alert = dataclasses.replace(alert, evidence_id=self.evidence.put_sealed(sealed))
                except Exception as exc:
                    log.error("evidence_store_failed", alert_id=alert.id, error=type(exc).__name__)
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
            if isinstance(exc, ReloadError):
                self._audit(
                    "signature_rejected", kind=exc.kind, reason=exc.reason, file=exc.file, at="reload"
                )
            self._audit("reload_failed", reason=reason)
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
        self._audit("reload_succeeded", policy_digest=digest, rescan=n, needs_restart=restart_needed)

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
