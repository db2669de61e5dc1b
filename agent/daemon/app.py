"""The composition root of the daemon: settings -> key -> policies -> journal -> workers -> sinks.

One main loop in the main thread claims work from the journal (only as many items as there are idle
workers, so memory stays flat under any burst), hands it to the worker pool, and turns outcomes
into journal acks, metrics and alerts. Threads around it: watchdog + the event batcher (events ->
journal), the reconciler (crawls), the metrics HTTP server and webhook delivery. Signals only set
flags and write to a self-pipe; the loop does the work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from agent.daemon.backlog import JournalBacklog
from agent.daemon.bundles import BundlePoller
from agent.daemon.exporter import start_metrics_server
from agent.daemon.notify import Notifier
from agent.daemon.outcome import OutcomeHandler, open_evidence, open_vault
from agent.daemon.policyview import ActivePolicies, check_buildable
from agent.daemon.settings import Settings
from agent.daemon.wiring import (
    InputRejected,
    PipelineSpec,
    build_dispatcher,
    build_with_spec,
    signing_key_ids,
)
from agent.daemon.workers import WorkerPool
from agent.journal import Journal, WorkItem
from agent.metrics import Metrics
from agent.models import ERROR_REASONS, SEVERITY_RANK
from agent.security.bundle import Installed
from agent.security.dirfd import make_private_dir
from agent.sources import longpath
from agent.sources.reconcile import Reconciler
from agent.sources.watcher import Watcher

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    from agent.policy.acks import AckSet

log = structlog.get_logger(__name__)

#: Settings a SIGHUP applies (the others need a restart).
RELOADABLE = (
    "policies",
    "indexes",
    "limits",
    "alert_min_severity",
    "file_timeout",
    "ner_model",
    "acknowledged",
)

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
        self._reload_result: tuple[ActivePolicies, str, Settings, PipelineSpec] | None = None
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.host = socket.gethostname()
        self._last_overflow = 0.0
        self.bundles: BundlePoller | None = None

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
        from agent.security.audit import AuditLog, audit_path

        st = self.settings
        widened = make_private_dir(str(st.state_dir))
        if widened is not None:
            log.warning("state_dir_permissions_tightened", mode_before=oct(widened))
        self.key = load_or_create_key(st.key_path)
        self.audit = AuditLog(audit_path(st.state_dir), self.key)
        self.bundles = self._first_bundle()
        try:
            policies, self.digest, spec = build_with_spec(st, self.key, self.metrics)
            self.policies = ActivePolicies(policies, spec, self._log_setup(st))
        except InputRejected as exc:
            self._audit("signature_rejected", kind=exc.kind, reason=exc.reason, file=exc.file, at="start")
            raise
        self.journal = Journal(st.journal_path)
        self._set_acks(self._load_acks(st))
        self._audit_keys()
        back, gave_up = self.journal.requeue_claimed()
        if back or gave_up:
            log.info("journal_recovered", requeued=back, given_up=gave_up)
        if self.journal.get_meta("policy_digest") != self.digest:
            n = self.journal.rescan_all(self.digest)
            self.journal.set_meta("policy_digest", self.digest)
            log.info("policy_changed", rescan=n)
        self._install_signals()
        # workers come from a single-threaded forkserver and build their pipeline from `spec`
        # (agent.daemon.workers): never forked from this process, whatever threads it runs
        self.pool = WorkerPool(
            st.workers, st.timeout, metrics=self.metrics, seal_to=self._evidence_key(),
            log_setup=self._log_setup(st),
        )  # fmt: skip
        self.pool.start(spec)
        self.metrics.reconcile_interval.set(st.reconcile_interval)
        self._set_rules_gauge()
        self._prime_metrics()
        self.metrics.last_reload_success.set(1)
        self.metrics.loaded(self.policies.policies.digest)  # the initial load is the first successful one
        self.http = start_metrics_server(st, self.metrics)
        self.dispatcher = build_dispatcher(st, self.metrics)
        self.reconciler = Reconciler(
            self.journal, list(st.zones), st.settle_seconds, st.reconcile_interval, self.metrics, self.wake,
            dir_settle=st.close_settle_seconds, on_write_failed=lambda: self.backlog.failed("reconcile"),
        )  # fmt: skip
        recrawl = lambda: self.reconciler.request_full("journal_recovered")  # noqa: E731
        self.backlog = JournalBacklog(self.journal, self.metrics, self.notifier.status, on_lost=recrawl)
        self.outcomes = OutcomeHandler(
            settings=st, digest=self.digest, policies=self.policies, acks=self.acks, journal=self.journal,
            backlog=self.backlog, alerts=self.dispatcher, metrics=self.metrics, key=self.key, host=self.host,
            dedup=Deduplicator(str(Path(st.state_dir) / "alerts.db")), audit=self._audit,
            vault=open_vault(st, self.key, self.audit), evidence=open_evidence(st),
        )  # fmt: skip
        self.outcomes.alert_unsent_quarantines()
        self.watcher = Watcher(
            st.zones, self.journal, st.settle_seconds, on_dir=self.reconciler.request_dir,
            on_overflow=self._overflowed, wake=self.wake, close_settle=st.close_settle_seconds,
            on_write_failed=lambda: self.backlog.failed("events"), on_lost=recrawl,
        )  # fmt: skip
        self.watcher.start()
        self._zones_up()
        self.reconciler.start()
        self.reconciler.request_full("startup")
        if self.bundles is not None:  # after the SIGHUP handler: a new bundle reloads through it
            self.bundles.start()
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

    def _first_bundle(self) -> BundlePoller | None:
        """With a bundle source: fetch it once before the first build, so a new server starts on it."""
        st = self.settings
        if st.bundle is None:
            return None
        from agent.security.keys import load_signing_public

        poller = BundlePoller(
            st.bundle,
            st.state_dir,
            [load_signing_public(p) for p in st.signing_public_keys],
            self.metrics,
            on_installed=self._bundle_installed,
        )
        if (first := poller.poll_once()) is not None and first.changed:
            self._audit("bundle_installed", version=first.manifest.version, sha256=first.sha256, at="start")
        return poller

    def _bundle_installed(self, installed: Installed) -> None:
        """A new bundle is in place: audit it and reload through the SIGHUP path."""
        self._audit("bundle_installed", version=installed.manifest.version, sha256=installed.sha256)
        if self.bundles is not None and self.bundles.started:
            os.kill(os.getpid(), signal.SIGHUP)

    @staticmethod
    def _log_setup(settings: Settings) -> tuple[bool | None, str]:
        """(json, level) for agent.log.configure_logging in the processes the agent starts."""
        fmt = settings.log_format
        return (None if fmt == "auto" else fmt == "json", settings.log_level)

    def _audit(self, event: str, **fields: Any) -> None:
        """Append to the audit chain; a failing audit log is logged, never stops the agent."""
        try:
            self.audit.append(event, **fields)
        except Exception as exc:
            log.error("audit_append_failed", audit_event=event, error=type(exc).__name__)

    @staticmethod
    def _load_acks(settings: Settings) -> AckSet:
        """The acknowledgement file; a broken one is refused like a broken pack (InputRejected)."""
        from agent.policy.acks import AckError, load_acks

        try:
            return load_acks(settings.acknowledged)
        except AckError as exc:
            raise InputRejected(
                settings.acknowledged, str(exc).split(": ", 1)[-1], kind="acknowledged"
            ) from None

    def _set_acks(self, acks: AckSet) -> None:
        """Use ``acks``; when they differ from the ones in use, re-evaluate every file with findings."""
        old = getattr(self, "acks", None)
        self.acks = acks
        self._acks_expired = acks.expired_ids()
        if old is not None and old.digest != acks.digest:
            n = self.journal.rescan_flagged()
            log.info("acknowledgements_changed", entries=len(acks.entries), rescan=n)

    def _check_ack_expiry(self) -> None:
        """An entry that expired since the last check: its findings alert again (files re-evaluated)."""
        expired = self.acks.expired_ids()
        if expired - self._acks_expired:
            self._acks_expired = expired
            n = self.journal.rescan_flagged()
            log.info("acknowledgements_expired", rescan=n)

    def _audit_keys(self) -> None:
        """Record the agent's start and, when they differ from the last run, its trusted key ids."""
        from agent.security.keys import key_id, load_quarantine_public

        st = self.settings
        q = key_id(load_quarantine_public(st.quarantine_public_key)) if st.quarantine_public_key else None
        ids = f"quarantine={q} signing={','.join(signing_key_ids(st))}"
        last = self.journal.get_meta("trusted_key_ids")
        if last is not None and last != ids:
            self._audit("keys_changed", before=last, after=ids)
        self.journal.set_meta("trusted_key_ids", ids)
        self._audit("agent_started", pid=os.getpid(), keys=ids, policy_digest=self.digest)

    def _evidence_key(self) -> X25519PublicKey | None:
        if self.settings.evidence != "encrypted" or not self.settings.quarantine_public_key:
            return None
        from agent.security.keys import load_quarantine_public

        return load_quarantine_public(self.settings.quarantine_public_key)

    def _set_rules_gauge(self) -> None:
        self.metrics.policy_rules.set(len(self.policies.policies.rules))

    def _prime_metrics(self) -> None:
        """Every series the active zones and rules can produce, at 0 (again after a reload)."""
        self.metrics.prime(
            [(z.name, z.role) for z in self.settings.zones],
            self.policies.policies.rules,
            ERROR_REASONS,
            alert_floor=SEVERITY_RANK[self.settings.alert_min_severity],
            ranks=SEVERITY_RANK,
        )

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
                claimed = self._dispatch_safely(idle)
            # claimed == idle: more work may be due right now, don't sleep. Otherwise sleep until the
            # next queued file is due (new events write the wake pipe), at most 1 s: an idle agent
            # does not query the journal ten times a second.
            if idle and claimed == idle:
                timeout = 0.0
            elif idle:
                due = self.journal.next_due()
                timeout = 1.0 if due is None else min(1.0, max(0.0, due - time.time()))
            else:
                timeout = 0.1
            for o in self.pool.poll(timeout, extra=[self._wake_r]):
                self.outcomes.handle_safely(o)
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

    def _dispatch_safely(self, n: int) -> int:
        try:
            return self._dispatch(n)
        except Exception as exc:  # the journal is not writable: nothing was claimed, try again later
            self.backlog.failed("dispatch")
            log.debug("journal_write_failed", operation="dispatch", error=type(exc).__name__)
            return 0

    def _zones_up(self) -> None:
        """Re-arm zones whose folder appeared (and crawl them), and publish dropwarden_zone_up."""
        for z in self.watcher.check_zones():
            self.reconciler.request_dir(z.name, z.path)
        for z in self.settings.zones:
            self.metrics.zone_up.labels(zone=z.name).set(1 if self.watcher.is_up(z.name) else 0)

    def _gauges(self) -> None:
        self.backlog.tick()
        self._zones_up()
        self._check_ack_expiry()
        self.metrics.queue_depth.set(self.journal.depth())
        self.metrics.oldest_pending.set(self.journal.oldest_pending_age())
        self.metrics.in_flight.set(self.pool.busy())
        self.metrics.ocr_deferred.set(self.pool.waiting())

    def _dispatch(self, n: int) -> int:
        items = self.journal.claim(n, worker_id=str(os.getpid()))
        now = time.time()
        for item in items:
            zone = self.settings.zone(item.zone)
            try:
                lst = longpath.lstat(item.path)  # a path past PATH_MAX too
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
            quiet = self._quiet_needed(item)
            if 0 <= age < quiet:  # written since its last event: that event is not in yet
                self.journal.defer(item, now + quiet - age)
                continue
            self.pool.submit(item, zone.role, zone.path, self.digest)
        return len(items)

    def _quiet_needed(self, item: WorkItem) -> float:
        """The mtime age a claimed file needs: the settle its deadline was set with (the short one
        after a close-after-write, as the journal recorded it), the full one when no event said."""
        full = self.settings.settle_seconds
        return full if item.settle is None else min(max(0.0, item.settle), full)

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
        from agent.daemon.settings import load_settings

        try:
            settings = load_settings(self.config_path) if self.config_path else self.settings
            policies, digest, spec = build_with_spec(settings, self.key, self.metrics)
            # the running workers are replaced by ones built from `spec`: a set they could not build
            # is refused now, while the old ones still scan (agent.daemon.policyview)
            check_buildable(spec, self._log_setup(settings))
            self._next_acks = self._load_acks(settings)
        except Exception as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.error("reload_failed", reason=reason)
            if isinstance(exc, InputRejected):
                self._audit(
                    "signature_rejected", kind=exc.kind, reason=exc.reason, file=exc.file, at="reload"
                )
            self._audit("reload_failed", reason=reason)
            self.metrics.reloads.labels(outcome="failure").inc()
            self.metrics.last_reload_success.set(0)
            self.notifier.ready("reload failed; previous policies active")
            return
        active = ActivePolicies(policies, spec, self._log_setup(settings))
        self._reload_result = (active, digest, settings, spec)
        self.wake()

    def _apply_reload(self) -> None:
        if self._reload_result is None:
            raise RuntimeError("reload applied before one was prepared")
        policies, digest, settings, spec = self._reload_result
        self._reload_result = None
        restart_needed = [
            f
            for f in ("zones", "sinks", "metrics", "state_dir", "workers")
            if getattr(settings, f) != getattr(self.settings, f)
        ]
        self.settings = self.settings.model_copy(update={k: getattr(settings, k) for k in RELOADABLE})
        self.policies = policies
        self._set_acks(self._next_acks)
        self.outcomes.reconfigure(self.settings, digest, policies, self.acks)
        self.pool.timeout = self.settings.timeout
        self.pool.replace_pipeline(spec)
        if digest != self.digest:
            self.digest = digest
            n = self.journal.rescan_all(digest)
            self.journal.set_meta("policy_digest", digest)
        else:
            n = 0
        self._set_rules_gauge()
        self._prime_metrics()
        self.metrics.reloads.labels(outcome="success").inc()
        self.metrics.last_reload_success.set(1)
        self.metrics.loaded(self.policies.policies.digest)
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
                self.outcomes.handle_safely(o)
        for item in self.pool.stop(timeout=0.5):
            self.journal.defer(item, time.time())  # unfinished: back to pending for the next start
        if self.bundles is not None:
            self.bundles.stop()
        self.watcher.stop()
        self.reconciler.stop()
        self.dispatcher.close()
        self.http.shutdown()
        self.journal.close()
        log.info("agent_stopped")
