"""What the daemon does with a worker's outcome: journal ack, quarantine, alerts, evidence, metrics.

:class:`OutcomeHandler` receives every collaborator explicitly (journal, backlog, alert dispatcher,
dedup, vault, evidence store, acknowledgements, metrics, audit, the active policies, a clock), so
quarantine, alerting and acknowledgement are tested on their own with real files, a real journal and
a real vault, without a daemon process (tests/unit/daemon/test_outcome.py). The agent
(agent.daemon.app) builds one at start-up and calls :meth:`OutcomeHandler.reconfigure` after a reload.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
import signal
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, cast

import structlog

from agent.daemon.jobs import hash_file
from agent.daemon.settings import Settings, Zone
from agent.daemon.workers import Outcome
from agent.journal import FileStat, Journal, WorkItem
from agent.metrics import Metrics
from agent.models import (
    SEVERITIES,
    SEVERITY_RANK,
    Alert,
    ExtractError,
    FileRef,
    Finding,
    Severity,
    Verdict,
    ZoneRole,
)
from agent.policy import PolicySet
from agent.policy.acks import AckSet
from agent.policy.names import redact_finding
from agent.sources import longpath

if TYPE_CHECKING:  # imported lazily at run time: only a daemon with a vault or evidence needs them
    from agent.actions.quarantine import QuarantineRecord, QuarantineStore
    from agent.security.audit import AuditLog
    from agent.security.evidence import EvidenceStore

log = structlog.get_logger(__name__)

#: Name of a quarantine step (agent.actions.quarantine.FAULT_POINTS): the agent SIGKILLs itself right
#: after it, so tests can prove that a crash between any two steps loses nothing. Unset in production.
FAULT_ENV = "DROPWARDEN_FAULT_QUARANTINE"
#: The role of a file outside every configured zone (a zone removed by a reload): the strictest.
DEFAULT_ROLE: ZoneRole = "contractor-drop"


class PolicyView(Protocol):
    """What the handler asks the active policies (agent.daemon.wiring.ActivePolicies; a Pipeline fits too)."""

    @property
    def policies(self) -> PolicySet: ...

    def unscanned(self, ref: FileRef, errors: Sequence[ExtractError]) -> tuple[Finding, ...]:
        """The findings the policies raise for what could not be read (agent.policy.unscanned)."""
        ...

    def shown_path(self, ref: FileRef) -> str:
        """The path as alerts show it: values in its name masked (agent.policy.names). Only for a
        vault record from before records kept the shown path (the workers mask every other name)."""
        ...


class AlertOut(Protocol):
    """Where alerts go (agent.actions.sinks.Dispatcher)."""

    def send(self, alert: Alert) -> tuple[str, ...]: ...


class Dedup(Protocol):
    """Which alerts were already sent (agent.actions.dedup.Deduplicator)."""

    def is_new(self, alert: Alert) -> bool: ...


class Backlog(Protocol):
    """Outcomes the journal could not record (agent.daemon.backlog.JournalBacklog)."""

    def strand(self, item: WorkItem) -> None: ...


#: Appends one event to the audit chain and never raises (Agent._audit).
Audit = Callable[..., None]


def open_evidence(settings: Settings) -> EvidenceStore | None:
    """The evidence store (workers seal; the parent only stores blobs), when evidence is kept."""
    if settings.evidence != "encrypted":
        return None
    from agent.security.evidence import EvidenceStore

    return EvidenceStore(settings.state_dir)


def open_vault(settings: Settings, key: bytes, audit: AuditLog | None) -> QuarantineStore | None:
    """The quarantine vault, recovered from any interrupted operation; None when no zone quarantines."""
    if not any(z.quarantine for z in settings.zones) or not settings.quarantine_public_key:
        return None
    from agent.actions.quarantine import QuarantineStore
    from agent.security.keys import load_quarantine_public

    store = QuarantineStore(
        settings.state_dir, load_quarantine_public(settings.quarantine_public_key), hash_key=key, audit=audit
    )
    done = store.recover()
    if done:
        log.info("quarantine_recovered", incidents=len(done))
    crash_at = os.environ.get(FAULT_ENV)
    if crash_at:  # fault injection for the crash-safety tests: die like kill -9 after that step
        log.warning("fault_injection_armed", step=crash_at)
        store.fault = lambda step: os.kill(os.getpid(), signal.SIGKILL) if step == crash_at else None
    return store


def _quarantine_finding(v: Verdict) -> Finding | None:
    """The finding a quarantine is filed under: one on the top-level file first, else any member's."""
    asking = [f for f in v.findings if "quarantine" in f.actions]
    return next((f for f in asking if f.member is None), asking[0] if asking else None)


def _as_severity(value: str) -> Severity:
    """A rule's severity as the alert's type (the loader admits only these; anything else: high)."""
    return next((s for s in SEVERITIES if s == value), "high")


def withheld_path(ref: FileRef, key: bytes) -> str:
    """The path an alert shows when no worker said how to show it (it died before it masked the name,
    see agent.daemon.jobs.Named): everything below the zone root is withheld, since any part of it
    may hold a value, and a keyed digest of the real path keeps two such files' alerts apart."""
    digest = hmac.new(key, ref.path.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:16]
    root = (ref.root or "").rstrip("/")
    inside = bool(root) and ref.path.startswith(root + "/")
    return f"{root if inside else ''}/[name withheld: {digest}]"


def _zone_ref(path: str, zone_name: str | None, zone: Zone | None) -> FileRef:
    return FileRef(path, zone_name, zone.role if zone else DEFAULT_ROLE, root=zone.path if zone else None)


class OutcomeHandler:
    """Outcome -> journal ack, vault, alert sinks, evidence store and metrics.

    ``settings``, ``digest``, ``policies`` and ``acks`` change on a reload (:meth:`reconfigure`);
    everything else lives as long as the agent.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        digest: str,
        policies: PolicyView,
        acks: AckSet,
        journal: Journal,
        backlog: Backlog,
        alerts: AlertOut,
        dedup: Dedup,
        metrics: Metrics,
        key: bytes,
        host: str,
        audit: Audit,
        vault: QuarantineStore | None = None,
        evidence: EvidenceStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.digest, self.policies, self.acks = settings, digest, policies, acks
        self.journal, self.backlog, self.alerts, self.dedup = journal, backlog, alerts, dedup
        self.metrics, self.key, self.host, self.audit, self.clock = metrics, key, host, audit, clock
        self.vault, self.evidence = vault, evidence
        self._tombstones: set[str] = {r.tombstone_sha256 for r in vault.list()} if vault else set()

    def reconfigure(self, settings: Settings, digest: str, policies: PolicyView, acks: AckSet) -> None:
        """A reload: new policies (and their digest), acknowledgements and tuning settings."""
        self.settings, self.digest, self.policies, self.acks = settings, digest, policies, acks

    # -- outcomes -----------------------------------------------------------------------------
    def handle_safely(self, o: Outcome) -> None:
        """A failure on one outcome (journal busy or full, a sink bug) must not stop the loop; the
        backlog requeues the item once the journal takes writes again."""
        try:
            self.handle(o)
        except Exception as exc:
            path, kind = self.logged_path(o), o.kind
            log.error("outcome_handling_failed", path=path, kind=kind, error=type(exc).__name__)
            self.backlog.strand(o.item)

    def handle(self, o: Outcome) -> None:
        if o.kind == "cached":
            self.journal.ack(
                o.item, max_severity=None, findings=0, error=None, stat=o.stat, content_hash=o.content_hash,
                policy_digest=self.digest, scanned=False,
            )  # fmt: skip
        elif o.kind != "verdict" or o.verdict is None:
            self._failed(o)
        else:
            self._verdict(o, o.verdict)

    def _failed(self, o: Outcome) -> None:
        """No verdict (timeout, crash, worker error): the journal records why, the file is not clean."""
        item, zone, reason = o.item, o.item.zone or "", o.reason or "internal"
        try:
            fst: FileStat | None = FileStat.of(longpath.lstat(item.path))
        except OSError:
            fst = None
        self.journal.fail(item, reason, fst, self.digest)
        self.metrics.errors.labels(zone=zone, reason=reason).inc()
        log.warning(
            "scan_failed", path=self.logged_path(o), zone=zone, reason=reason,
            seconds=round(o.seconds, 3),
        )  # fmt: skip
        self._alert_unscanned(item, reason, o.seconds, o.shown)

    def _alert_unscanned(self, item: WorkItem, reason: str, seconds: float, shown: str | None) -> None:
        """A file whose worker was killed (hard timeout, memory) or crashed was not read at all: it still
        raises the UNSCANNED_CONTENT alert of the policies, as a verdict with that one error would.
        Its path is shown as the worker masked it before reading (``shown``); no recognizer runs here."""
        ref = _zone_ref(item.path, item.zone, self.settings.zone(item.zone))
        err = ExtractError(item.path, None, reason, "the worker scanning this file was stopped")
        findings = self.policies.unscanned(ref, (err,))
        if findings:
            if shown is None:
                shown = withheld_path(ref, self.key)
                log.warning("name_withheld", path=shown, zone=item.zone, reason=reason)
            masked = tuple(redact_finding(f, shown, {}) for f in findings)
            self.alert(Verdict(item.path, item.zone, masked, (err,), 0, seconds), item.zone)

    def _verdict(self, o: Outcome, v: Verdict) -> None:
        item = o.item
        reasons = sorted({e.reason for e in v.errors})
        if "vanished" in reasons and not v.findings and not os.path.lexists(item.path):
            self.journal.fail(item, "vanished")
            self.journal.forget(item.path)
            return
        zone = self.settings.zone(item.zone)
        incident = self.quarantine(v, zone, o.stat)
        self.alert(v, item.zone, incident, o.evidence)
        stat, content_hash = o.stat, o.content_hash
        if incident is not None and self.vault is not None:
            self.vault.mark_alerted(incident)
            # the path now holds our tombstone: record it, so it is never rescanned
            hashed = hash_file(item.path, zone.path if zone else None)
            if hashed is not None:
                content_hash, stat = hashed
        self.journal.ack(
            item, max_severity=v.max_severity, findings=len(v.findings),
            error=reasons[0] if reasons else None, stat=stat, content_hash=content_hash,
            policy_digest=self.digest,
        )  # fmt: skip
        self._count_scan(item, v, reasons, self.logged_path(o))

    def logged_path(self, o: Outcome) -> str:
        """The outcome's file as log lines name it: as its alerts show it (the verdict's inventory
        holds the path masked by the worker's scan; else the worker's ``Named``), withheld when the
        worker never said. Never the real path, whose name may hold a customer's name or a card
        number: the parent has no recognizers to mask it."""
        if o.verdict is not None and o.verdict.files:
            return o.verdict.files[0].path
        if o.shown is not None:
            return o.shown
        item = o.item
        return withheld_path(_zone_ref(item.path, item.zone, self.settings.zone(item.zone)), self.key)

    def _count_scan(self, item: WorkItem, v: Verdict, reasons: Sequence[str], shown: str) -> None:
        zone, m = item.zone or "", self.metrics
        files = v.files
        m.files_scanned.labels(zone=zone, format=files[0].format if files else "unknown").inc()
        for rec in files:
            if rec.chars:
                m.extracted_chars.labels(format=rec.format).inc(rec.chars)
        m.bytes_scanned.labels(zone=zone).inc(v.bytes)
        m.scan_duration.labels(zone=zone).observe(v.seconds)
        m.verdict_latency.labels(zone=zone).observe(max(0.0, self.clock() - item.event_time))
        for r in reasons:
            m.errors.labels(zone=zone, reason=r).inc()
        (log.info if v.findings or reasons else log.debug)(
            "file_scanned", path=shown, zone=zone, findings=len(v.findings), max_severity=v.max_severity,
            errors=list(reasons), seconds=round(v.seconds, 3),
        )  # fmt: skip

    # -- quarantine ---------------------------------------------------------------------------
    def is_tombstone(self, path: str, root: str) -> bool:
        """Our own tombstone (rescanned after a restart, say) is never quarantined again."""
        if not self._tombstones:
            return False
        from agent.actions.quarantine import small_file_sha256
        from agent.security.dirfd import PathRefused, located

        try:
            with located(root, path) as d:
                return small_file_sha256(d) in self._tombstones
        except (PathRefused, OSError):
            return False

    def quarantine(self, v: Verdict, zone: Zone | None, scanned: FileStat | None = None) -> str | None:
        """Move the file to the vault when a rule asks for it and the zone opted in; the incident id.
        ``scanned``: the file version the verdict is about (a different one at the path is left)."""
        if self.vault is None or zone is None or not zone.quarantine:
            return None
        f = _quarantine_finding(v)
        if f is None or self.is_tombstone(v.path, zone.path):
            return None
        expect = (scanned.dev, scanned.ino, scanned.size, scanned.mtime_ns) if scanned else None
        try:
            rec = self.vault.quarantine(
                v.path, zone.name, f.rule, f"{f.policy}/{f.rule}: {f.entity}", root=zone.path, expect=expect,
                shown=f.path,  # as alerts show it: the record keeps the real path only sealed
            )  # fmt: skip
        except Exception as exc:
            reason = str(getattr(exc, "reason", type(exc).__name__))
            log.error("quarantine_failed", path=f.path, rule=f.rule, error=type(exc).__name__, reason=reason)
            self.audit("quarantine_failed", path=f.path, zone=zone.name, rule=f.rule, reason=reason)  # shown
            return None
        self._tombstones.add(rec.tombstone_sha256)
        self.metrics.quarantined.labels(zone=zone.name).inc()
        log.warning("file_quarantined", path=f.path, rule=f.rule, incident_id=rec.incident_id)
        return str(rec.incident_id)

    def alert_unsent_quarantines(self) -> None:
        """A crash between quarantine and alert: alert from the vault record (no excerpt: the file is
        sealed), so no quarantined file ever goes unreported."""
        if self.vault is None:
            return
        # cast: QuarantineStore's method `list` shadows the builtin in its own annotations (its mypy
        # baseline, agent.actions.quarantine valid-type), so mypy cannot read the declared list type
        for rec in cast("list[QuarantineRecord]", self.vault.unalerted()):
            alert = self._vault_alert(rec)
            if self.dedup.is_new(alert):
                self.alerts.send(alert)
            self.vault.mark_alerted(rec.incident_id)
            log.warning("quarantine_alert_recovered", incident_id=rec.incident_id, rule=rec.rule)

    def _vault_alert(self, rec: QuarantineRecord) -> Alert:
        """The alert a vault record stands for, with what the current rules still say about it."""
        from agent.actions.dedup import alert_id

        policy_rule, _, entity = rec.reason.partition(": ")
        rule = next((r for r in self.policies.policies.rules if r.id == rec.rule), None)
        policy = rule.pack if rule else policy_rule.rpartition("/")[0]
        zone = self.settings.zone(rec.zone)
        role = zone.role if zone else DEFAULT_ROLE
        severity = _as_severity(rule.severity_for(role)) if rule else "high"
        # a record holds the path as alerts show it; one from before that (no sealed path) the real one
        shown = rec.original_path
        if rec.sealed_path is None:
            shown = self.policies.shown_path(_zone_ref(rec.original_path, rec.zone, zone))
        return Alert(
            id=alert_id(self.key, rec.original_path, None, rec.rule, rec.content_hash), time=self.clock(),
            host=self.host, zone=rec.zone, role=role,
            path=shown, member=None,
            policy=policy or "", rule=rec.rule, entity=entity or "", severity=severity,
            excerpt="[quarantined before its alert was sent]", fingerprint=rec.content_hash,
            desc=rule.desc if rule else "", incident_id=rec.incident_id,
        )  # fmt: skip

    # -- alerts -------------------------------------------------------------------------------
    def acknowledged(self, f: Finding, zone_name: str | None) -> bool:
        """True (counted and logged, not alerted) when an active acknowledgement covers the finding."""
        ack = self.acks.match(f)
        if ack is None:
            return False
        self.metrics.acknowledged.labels(zone=zone_name or "", policy=f.policy, rule=f.rule).inc()
        log.info("finding_acknowledged", path=f.path, rule=f.rule, ack_id=ack.id, author=ack.author)
        return True

    def alert(
        self,
        v: Verdict,
        zone_name: str | None,
        incident: str | None = None,
        evidence: Sequence[bytes | None] = (),
    ) -> None:
        """Count every finding; alert (once per alert id) those at or above the alert floor that no
        acknowledgement covers."""
        zone = self.settings.zone(zone_name)
        floor = SEVERITY_RANK[self.settings.alert_min_severity]
        now = self.clock()
        for i, f in enumerate(v.findings):
            labels = {"zone": zone_name or "", "policy": f.policy, "rule": f.rule, "severity": f.severity}
            self.metrics.findings.labels(**labels).inc()
            if SEVERITY_RANK[f.severity] < floor or self.acknowledged(f, zone_name):
                continue
            alert = self._finding_alert(f, zone_name, zone, incident, now)
            if not self.dedup.is_new(alert):
                continue
            if self.settings.excerpts == "none":
                alert = dataclasses.replace(alert, excerpt="", excerpts=())
            alert = self._with_evidence(alert, evidence[i] if i < len(evidence) else None)
            self.alerts.send(alert)
            self.metrics.alerts.labels(**labels).inc()
            log.info("alert_raised", path=f.path, rule=f.rule, severity=f.severity, alert_id=alert.id)

    def _finding_alert(
        self, f: Finding, zone_name: str | None, zone: Zone | None, incident: str | None, now: float
    ) -> Alert:
        from agent.actions.dedup import alert_id

        return Alert(
            id=alert_id(self.key, f.path, f.member, f.rule, f.fingerprint), time=now, host=self.host,
            zone=zone_name, role=zone.role if zone else DEFAULT_ROLE, path=f.path, member=f.member,
            policy=f.policy, rule=f.rule, entity=f.entity, severity=f.severity, excerpt=f.excerpt,
            fingerprint=f.fingerprint, desc=f.desc, count=f.count, tags=f.tags, line=f.line,
            incident_id=incident, occurrences=f.occurrences, members=f.members, excerpts=f.excerpts,
        )  # fmt: skip

    def _with_evidence(self, alert: Alert, sealed: bytes | None) -> Alert:
        """Store the worker's sealed evidence blob; the alert names it. A failing store loses no alert."""
        if not sealed or self.evidence is None:
            return alert
        try:
            return dataclasses.replace(alert, evidence_id=self.evidence.put_sealed(sealed))
        except Exception as exc:
            log.error("evidence_store_failed", alert_id=alert.id, error=type(exc).__name__)
            return alert
