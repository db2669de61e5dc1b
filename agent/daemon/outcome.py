"""What the daemon does with a worker's outcome: journal ack, quarantine, alerts, evidence, metrics.

A mixin of :class:`agent.daemon.app.Agent` (split out to keep the composition root short); it relies on
the agent's ``settings``, ``metrics``, ``journal``, ``dispatcher``, ``dedup``, ``key``, ``host``,
``digest``, ``pipeline``, ``audit`` and ``_audit``, all set in ``Agent.run`` before the first outcome.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import time
from typing import Any

import structlog

from agent.daemon.settings import Zone
from agent.daemon.workers import Outcome, hash_file
from agent.journal import FileStat
from agent.models import ERROR_REASONS, SEVERITY_RANK, Alert

log = structlog.get_logger(__name__)

#: Name of a quarantine step (agent.actions.quarantine.FAULT_POINTS): the agent SIGKILLs itself right
#: after it, so tests can prove that a crash between any two steps loses nothing. Unset in production.
FAULT_ENV = "DROPWARDEN_FAULT_QUARANTINE"


class VerdictHandling:
    """Outcome -> journal, vault, alert sinks and metrics (see the module docstring)."""

    settings: Any
    metrics: Any
    journal: Any
    dispatcher: Any
    dedup: Any
    key: bytes
    host: str
    digest: str
    pipeline: Any
    audit: Any
    vault: Any
    evidence: Any
    backlog: Any
    acks: Any

    def _audit(self, event: str, **fields: Any) -> None:  # pragma: no cover - defined by Agent
        raise NotImplementedError

    def _prime_metrics(self) -> None:
        """Every series the active zones and rules can produce, at 0 (again after a reload)."""
        rules = getattr(getattr(self.pipeline, "policies", None), "rules", None) or ()
        self.metrics.prime(
            [(z.name, z.role) for z in self.settings.zones],
            rules,
            ERROR_REASONS,
            alert_floor=SEVERITY_RANK[self.settings.alert_min_severity],
            ranks=SEVERITY_RANK,
        )

    def _open_evidence(self) -> Any:
        if self.settings.evidence != "encrypted":
            return None
        from agent.security.evidence import EvidenceStore

        return EvidenceStore(self.settings.state_dir)  # the workers seal; the parent only stores blobs

    def _open_vault(self) -> Any:
        self._tombstones: set[str] = set()
        if not any(z.quarantine for z in self.settings.zones) or not self.settings.quarantine_public_key:
            return None
        from agent.actions.quarantine import QuarantineStore
        from agent.security.keys import load_quarantine_public

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
                host=self.host, zone=rec.zone, role=role, path=self._shown_path(rec.original_path, zone),
                member=None,
                policy=policy or "", rule=rec.rule, entity=entity or "", severity=severity,  # type: ignore[arg-type]
                excerpt="[quarantined before its alert was sent]", fingerprint=rec.content_hash,
                desc=rule.desc if rule else "", incident_id=rec.incident_id,
            )  # fmt: skip
            if self.dedup.is_new(alert):
                self.dispatcher.send(alert)
            self.vault.mark_alerted(rec.incident_id)
            log.warning("quarantine_alert_recovered", incident_id=rec.incident_id, rule=rec.rule)

    def _shown_path(self, path: str, zone: Zone | None) -> str:
        """The path as alerts show it: values in its name masked (agent.policy.names)."""
        from agent.models import FileRef

        root = zone.path if zone else None
        return str(self.pipeline.shown_path(FileRef(path, zone.name if zone else None, root=root)))

    def _is_tombstone(self, path: str, root: str) -> bool:
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

    def _quarantine(self, v: Any, zone: Zone | None, scanned: FileStat | None = None) -> str | None:
        """Move the file to the vault when a rule asks for it and the zone opted in; the incident id."""
        if self.vault is None or zone is None or not zone.quarantine:
            return None
        f = next((f for f in v.findings if "quarantine" in f.actions and f.member is None), None)
        f = f or next((f for f in v.findings if "quarantine" in f.actions), None)
        if f is None or self._is_tombstone(v.path, zone.path):
            return None
        try:
            expect = (scanned.dev, scanned.ino, scanned.size, scanned.mtime_ns) if scanned else None
            rec = self.vault.quarantine(
                v.path, zone.name, f.rule, f"{f.policy}/{f.rule}: {f.entity}", root=zone.path, expect=expect,
                shown=f.path,  # as alerts show it: the record keeps the real path only sealed
            )  # fmt: skip
        except Exception as exc:
            reason = str(getattr(exc, "reason", type(exc).__name__))
            log.error("quarantine_failed", path=v.path, rule=f.rule, error=type(exc).__name__, reason=reason)
            self._audit("quarantine_failed", path=v.path, zone=zone.name, rule=f.rule, reason=reason)
            return None
        self._tombstones.add(rec.tombstone_sha256)
        self.metrics.quarantined.labels(zone=zone.name).inc()
        log.warning("file_quarantined", path=v.path, rule=f.rule, incident_id=rec.incident_id)
        return str(rec.incident_id)

    def _handle_safely(self, o: Outcome) -> None:
        """A failure on one outcome (journal busy, a sink bug) must not stop the loop; the item stays
        claimed and goes back to pending at the next start."""
        try:
            self._handle(o)
        except Exception as exc:
            log.error("outcome_handling_failed", path=o.item.path, kind=o.kind, error=type(exc).__name__)
            self.backlog.strand(o.item)  # requeued once the journal takes writes again

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
            self._alert_unscanned(item, reason, o.seconds)
            return
        v = o.verdict
        reasons = sorted({e.reason for e in v.errors})
        if "vanished" in reasons and not v.findings and not os.path.lexists(item.path):
            self.journal.fail(item, "vanished")
            self.journal.forget(item.path)
            return
        incident = self._quarantine(v, self.settings.zone(item.zone), o.stat)
        self._alert(v, item.zone, incident, o.evidence)
        if incident is not None:
            self.vault.mark_alerted(incident)
        stat, content_hash = o.stat, o.content_hash
        if incident is not None:  # the path now holds our tombstone: record it, so it is never rescanned
            zone_cfg = self.settings.zone(item.zone)
            hashed = hash_file(item.path, zone_cfg.path if zone_cfg else None)
            if hashed is not None:
                content_hash, stat = hashed
        self.journal.ack(
            item, max_severity=v.max_severity, findings=len(v.findings),
            error=reasons[0] if reasons else None, stat=stat, content_hash=content_hash,
            policy_digest=self.digest,
        )  # fmt: skip
        files = getattr(v, "files", ())
        m.files_scanned.labels(zone=zone, format=files[0].format if files else "unknown").inc()
        for rec in files:
            if rec.chars:
                m.extracted_chars.labels(format=rec.format).inc(rec.chars)
        m.bytes_scanned.labels(zone=zone).inc(v.bytes)
        m.scan_duration.labels(zone=zone).observe(v.seconds)
        m.verdict_latency.labels(zone=zone).observe(max(0.0, time.time() - item.event_time))
        for r in reasons:
            m.errors.labels(zone=zone, reason=r).inc()
        (log.info if v.findings or reasons else log.debug)(
            "file_scanned", path=item.path, zone=zone, findings=len(v.findings), max_severity=v.max_severity,
            errors=reasons, seconds=round(v.seconds, 3),
        )  # fmt: skip

    def _alert_unscanned(self, item: Any, reason: str, seconds: float) -> None:
        """A file whose worker was killed (hard timeout, memory) or crashed was not read at all: it still
        raises the UNSCANNED_CONTENT alert of the policies, as a verdict with that one error would."""
        from agent.models import ExtractError, FileRef, Verdict

        zone = self.settings.zone(item.zone)
        ref = FileRef(item.path, item.zone, zone.role if zone else "contractor-drop")
        err = ExtractError(item.path, None, reason, "the worker scanning this file was stopped")
        findings = self.pipeline.shown(ref, self.pipeline.unscanned(ref, (err,)))
        if findings:
            self._alert(Verdict(item.path, item.zone, findings, (err,), 0, seconds), item.zone)

    def _acknowledged(self, f: Any, zone_name: str | None) -> bool:
        """True (counted and logged, not alerted) when an active acknowledgement covers the finding."""
        ack = self.acks.match(f)
        if ack is None:
            return False
        self.metrics.acknowledged.labels(zone=zone_name or "", policy=f.policy, rule=f.rule).inc()
        log.info("finding_acknowledged", path=f.path, rule=f.rule, ack_id=ack.id, author=ack.author)
        return True

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
            if SEVERITY_RANK[f.severity] < floor or self._acknowledged(f, zone_name):
                continue
            alert = Alert(
                id=alert_id(self.key, f.path, f.member, f.rule, f.fingerprint), time=now, host=self.host,
                zone=zone_name, role=zone.role if zone else "contractor-drop", path=f.path, member=f.member,
                policy=f.policy, rule=f.rule, entity=f.entity, severity=f.severity, excerpt=f.excerpt,
                fingerprint=f.fingerprint, desc=f.desc, count=f.count, tags=f.tags, line=f.line,
                incident_id=incident, occurrences=f.occurrences, members=f.members, excerpts=f.excerpts,
            )  # fmt: skip
            if not self.dedup.is_new(alert):
                continue
            if self.settings.excerpts == "none":
                alert = dataclasses.replace(alert, excerpt="", excerpts=())
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
