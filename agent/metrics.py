"""Every Prometheus metric the agent exports, declared once.

Names follow ``dropwarden_<noun>_<unit>`` (``_total`` for counters). Label values come from bounded
sets only — zone names from the config, policy and rule ids, severities, error reasons — never file
paths or matched values. The daemon records them (agent.daemon: outcome for files, findings,
alerts, errors and quarantines; app for the queue, reloads, rules and inotify overflows; workers
for restarts). Two stages that run inside the daemon are handed the object for what only they
see: the reconciler (crawls and watched directories) and the alert sinks (deliveries, failures,
outbox size). Extraction, classification and policy evaluation never see it. A fresh
:class:`Metrics` owns its own registry, so tests never share global state.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

from agent import __version__
from agent.models import FORMATS

SCAN_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)


class Metrics:
    """The agent's metric families on a private registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        disable_created_metrics()  # no *_created series: they double every counter for no use here
        r = self.registry = registry or CollectorRegistry()
        # the standard process_* (memory against the unit's MemoryMax=, fds, CPU) and python_* series
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.build_info = Info("dropwarden_build", "Version of the running agent.", registry=r)
        self.build_info.info({"version": __version__})

        self.files_scanned = Counter(
            "dropwarden_files_scanned_total",
            "Top-level files scanned to a verdict, by zone and sniffed format.",
            ["zone", "format"],
            registry=r,
        )
        self.extracted_chars = Counter(
            "dropwarden_extracted_chars_total",
            "Characters of text extracted, by sniffed format of the file or member that held them.",
            ["format"],
            registry=r,
        )
        self.bytes_scanned = Counter(
            "dropwarden_scanned_bytes_total", "Bytes of top-level files scanned.", ["zone"], registry=r
        )
        self.findings = Counter(
            "dropwarden_findings_total",
            "Policy findings of any severity (low ones included).",
            ["zone", "policy", "rule", "severity"],
            registry=r,
        )
        self.alerts = Counter(
            "dropwarden_alerts_total",
            "Alerts raised (findings at or above the alert severity, after de-duplication).",
            ["zone", "policy", "rule", "severity"],
            registry=r,
        )
        self.errors = Counter(
            "dropwarden_scan_errors_total",
            "Files or members that could not be read completely, by reason.",
            ["zone", "reason"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "dropwarden_queue_depth", "Files waiting in the journal's work queue.", registry=r
        )
        self.oldest_pending = Gauge(
            "dropwarden_queue_oldest_age_seconds", "Age of the oldest pending work item.", registry=r
        )
        self.in_flight = Gauge(
            "dropwarden_scans_in_flight", "Files being scanned by workers now.", registry=r
        )
        self.ocr_deferred = Gauge(
            "dropwarden_ocr_deferred_scans",
            "Scans waiting for a place in the OCR lane, parked in their worker (also in flight) or put "
            "aside (claimed from the queue, so not in dropwarden_queue_depth).",
            registry=r,
        )
        self.scan_duration = Histogram(
            "dropwarden_scan_duration_seconds",
            "Wall time to extract, classify and evaluate one file.",
            ["zone"],
            buckets=SCAN_BUCKETS,
            registry=r,
        )
        self.verdict_latency = Histogram(
            "dropwarden_verdict_latency_seconds",
            "Time from the file's last change (close or move) to its verdict.",
            ["zone"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.bundle_info = Gauge(
            "dropwarden_bundle_info",
            "The signed policy bundle in force (1 for its version and SHA-256).",
            ["version", "sha256"],
            registry=r,
        )
        self.bundle_last_success = Gauge(
            "dropwarden_bundle_last_success_timestamp_seconds",
            "Unix time of the last bundle fetch that verified (new or unchanged).",
            registry=r,
        )
        self.bundle_failures = Counter(
            "dropwarden_bundle_failures_total",
            "Bundle fetches or verifications that failed; the bundle in force stays.",
            ["reason"],
            registry=r,
        )
        self.worker_restarts = Counter(
            "dropwarden_worker_restarts_total",
            "Worker processes replaced after a timeout or crash.",
            ["reason"],
            registry=r,
        )
        self.journal_write_failures = Counter(
            "dropwarden_journal_write_failures_total",
            "Failed journal writes (state volume full?), by operation; the work is kept and retried.",
            ["operation"],
            registry=r,
        )
        self.inotify_overflows = Counter(
            "dropwarden_inotify_overflows_total",
            "Kernel inotify queue overflows (each triggers a reconcile crawl).",
            registry=r,
        )
        self.zone_up = Gauge(
            "dropwarden_zone_up",
            "1 while the zone's folder is watched, 0 while it is missing or unreadable (retried).",
            ["zone"],
            registry=r,
        )
        self.watched_directories = Gauge(
            "dropwarden_watched_directories", "Directories under an inotify watch.", ["zone"], registry=r
        )
        self.reconcile_runs = Counter(
            "dropwarden_reconcile_runs_total",
            "Reconcile crawls, by trigger and outcome.",
            ["trigger", "outcome"],
            registry=r,
        )
        self.reconcile_last_success = Gauge(
            "dropwarden_reconcile_last_success_timestamp_seconds",
            "Unix time of the last successful reconcile crawl.",
            registry=r,
        )
        self.reconcile_interval = Gauge(
            "dropwarden_reconcile_interval_seconds", "Configured periodic reconcile interval.", registry=r
        )
        self.webhook_deliveries = Counter(
            "dropwarden_webhook_deliveries_total", "Webhook alerts delivered.", ["sink"], registry=r
        )
        self.webhook_failures = Counter(
            "dropwarden_webhook_failures_total", "Failed webhook delivery attempts.", ["sink"], registry=r
        )
        self.outbox_size = Gauge(
            "dropwarden_webhook_outbox_size", "Alerts waiting in the durable outbox.", ["sink"], registry=r
        )
        self.sink_failures = Counter(
            "dropwarden_sink_failures_total",
            "Alert sinks that failed to accept an alert.",
            ["sink"],
            registry=r,
        )
        self.reloads = Counter(
            "dropwarden_policy_reloads_total",
            "Config, policy and index reloads, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.last_reload_success = Gauge(
            "dropwarden_policy_last_reload_success", "1 if the last reload succeeded, 0 if not.", registry=r
        )
        self.signature_rejections = Counter(
            "dropwarden_signature_rejections_total",
            "Policy packs or indexes refused for a missing or bad signature.",
            ["kind"],
            registry=r,
        )
        self.acknowledged = Counter(
            "dropwarden_acknowledged_findings_total",
            "Findings matching an active acknowledgement (counted, not alerted).",
            ["zone", "policy", "rule"],
            registry=r,
        )
        self.quarantined = Counter(
            "dropwarden_quarantined_files_total", "Files moved to the encrypted vault.", ["zone"], registry=r
        )
        self.config_reload_timestamp = Gauge(
            "dropwarden_config_reload_timestamp_seconds",
            "Unix time of the last successful load of config, policies and indexes (start or reload).",
            registry=r,
        )
        self.policy_info = Gauge(
            "dropwarden_policy_info",
            "Always 1: sha256 of the effective policy set in use, and the agent version that compiled it.",
            ["sha256", "version"],
            registry=r,
        )
        self.policy_rules = Gauge(
            "dropwarden_policy_rules", "Active policy rules after layering.", registry=r
        )
        for outcome in ("success", "failure"):
            self.reloads.labels(outcome=outcome)

    def loaded(self, policy_sha256: str) -> None:
        """A successful start or reload: its time, and the one policy set now in use."""
        self.config_reload_timestamp.set(time.time())
        self.policy_info.clear()
        self.policy_info.labels(sha256=policy_sha256, version=__version__).set(1)

    def prime(
        self,
        zones: Iterable[tuple[str, str]],
        rules: Iterable[Any],
        reasons: Iterable[str],
        alert_floor: int = 0,
        ranks: Mapping[str, int] | None = None,
    ) -> None:
        """Create the labelled series at 0 that the active config can produce, so ``increase()`` and
        ``rate()`` see the first event (a series born at 1 counts as no increase).

        ``zones``: (name, role); ``rules``: compiled rules (id, pack, zones, severity_for(role)).
        Alerts are primed only for severities at or above ``alert_floor`` (their rank in ``ranks``).
        """
        reasons = tuple(reasons)
        rules = tuple(rules)
        for fmt in FORMATS:
            self.extracted_chars.labels(format=fmt)
        for zone, role in zones:
            for fmt in FORMATS:
                self.files_scanned.labels(zone=zone, format=fmt)
            self.bytes_scanned.labels(zone=zone)
            self.quarantined.labels(zone=zone)
            for reason in reasons:
                self.errors.labels(zone=zone, reason=reason)
            for rule in rules:
                if role not in getattr(rule, "zones", ()):
                    continue
                sev = rule.severity_for(role)
                labels = {"zone": zone, "policy": rule.pack, "rule": rule.id, "severity": sev}
                self.findings.labels(**labels)
                if ranks is None or ranks.get(sev, 0) >= alert_floor:
                    self.alerts.labels(**labels)
        for reason in ("timeout", "crash"):
            self.worker_restarts.labels(reason=reason)

    def set_bundle(self, version: str, sha256: str) -> None:
        """Exactly one bundle_info series: the bundle in force."""
        self.bundle_info.clear()
        self.bundle_info.labels(version=version, sha256=sha256).set(1)
