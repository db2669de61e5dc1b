"""OutcomeHandler on its own: quarantine, alerting and acknowledgement without a daemon process.

Nothing of it is mocked: real files in a zone directory, a real SQLite journal and backlog, a real
encrypted quarantine vault and evidence store, a real JSONL alert sink behind the real Dispatcher and
Deduplicator, the real audit chain, a private Prometheus registry and the real pipeline of the
shipped policies (for the UNSCANNED_CONTENT findings and the masked names).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from agent.actions.dedup import Deduplicator
from agent.actions.jsonl import JsonlSink
from agent.actions.sinks import Dispatcher
from agent.daemon.backlog import JournalBacklog
from agent.daemon.jobs import hash_file
from agent.daemon.outcome import OutcomeHandler, PolicyView, open_evidence, open_vault, withheld_path
from agent.daemon.settings import Settings
from agent.daemon.workers import Outcome
from agent.journal import Journal, WorkItem
from agent.metrics import Metrics
from agent.models import ExtractError, FileRef, Finding, Verdict
from agent.pipeline import Pipeline, build_pipeline, default_policy_dirs
from agent.policy.acks import AckSet, parse_acks
from agent.security.audit import AuditLog
from agent.security.evidence import open_sealed, seal
from agent.security.keys import load_quarantine_private, write_keypair
from tests.helpers import fake_card

KEY = b"k" * 32
CARD = fake_card()
CONTENT = f"name,card\nAnna Muster,{CARD}\n".encode()
FINGERPRINT = "hmac-sha256:" + "f" * 32


@pytest.fixture(scope="module")
def policies() -> PolicyView:
    """The shipped policies as the agent sees them (a real pipeline: names are classified for real)."""
    return build_pipeline(default_policy_dirs(), KEY)


class World:
    """A zone directory, a state directory and one OutcomeHandler wired to real collaborators."""

    def __init__(
        self,
        tmp: Path,
        policies: PolicyView,
        *,
        role: str = "contractor-drop",
        quarantine: bool = True,
        excerpts: str | None = None,
    ) -> None:
        self.zone, self.state = tmp / "zone", tmp / "state"
        self.zone.mkdir()
        self.keys = write_keypair(tmp / "keys", "quarantine")
        self.alerts_file = tmp / "alerts.jsonl"
        config: dict[str, Any] = {
            "zones": [{"name": "drop", "path": str(self.zone), "role": role, "quarantine": quarantine}],
            "state_dir": str(self.state),
            "quarantine_public_key": str(self.keys.public),
            "evidence": "encrypted",
            "sinks": {"jsonl": {"path": str(self.alerts_file)}},
        }
        if excerpts is not None:
            config["excerpts"] = excerpts
        self.settings = Settings.model_validate(config)
        self.policies = policies
        self.journal = Journal(self.state / "journal.db")
        self.metrics = Metrics()
        self.backlog = JournalBacklog(self.journal, self.metrics, status=lambda _: None, on_lost=lambda: None)
        self.audit_log = AuditLog(self.state / "audit.jsonl", KEY)
        self.now = 1_000_000.0
        self.handler = self.new_handler()

    def new_handler(self, acks: AckSet | None = None) -> OutcomeHandler:
        """A handler as the agent builds one at start-up (a second call: a restart)."""
        return OutcomeHandler(
            settings=self.settings, digest="d1", policies=self.policies, acks=acks or AckSet(),
            journal=self.journal, backlog=self.backlog,
            alerts=Dispatcher([JsonlSink(str(self.alerts_file))], metrics=self.metrics),
            dedup=Deduplicator(str(self.state / "alerts.db")), metrics=self.metrics, key=KEY,
            host="testhost", audit=self.audit_log.append,
            vault=open_vault(self.settings, KEY, self.audit_log), evidence=open_evidence(self.settings),
            clock=lambda: self.now,
        )  # fmt: skip

    def drop(self, name: str, data: bytes = CONTENT) -> Path:
        path = self.zone / name
        path.write_bytes(data)
        return path

    def claim(self, path: Path) -> WorkItem:
        self.journal.enqueue(str(path), "drop", event_time=self.now - 2, not_before=0.0)
        (item,) = self.journal.claim(1)
        return item

    def verdict_outcome(
        self, path: Path, *findings: Finding, errors: tuple[ExtractError, ...] = ()
    ) -> Outcome:
        hashed = hash_file(str(path))
        h, st = hashed if hashed is not None else (None, None)
        v = Verdict(str(path), "drop", findings, errors, bytes=len(CONTENT), seconds=0.01)
        return Outcome(self.claim(path), "verdict", verdict=v, content_hash=h, stat=st, seconds=0.02)

    def alerts(self) -> list[dict[str, Any]]:
        if not self.alerts_file.exists():
            return []
        return [json.loads(line) for line in self.alerts_file.read_text().splitlines()]

    def audit_events(self) -> list[str]:
        return [json.loads(line)["event"] for line in (self.state / "audit.jsonl").read_text().splitlines()]

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


def finding(
    path: Path, *, severity: str = "high", actions: tuple[str, ...] = ("alert", "quarantine")
) -> Finding:
    return Finding(
        path=str(path), member=None, policy="bank-secrecy", rule="payment-card-number", entity="CREDIT_CARD",
        severity=severity, score=1.0, line=2, start=22, end=38, excerpt="Anna Muster,[CREDIT_CARD]",
        fingerprint=FINGERPRINT, desc="a card number", zone="drop", actions=actions,
    )  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, policies: PolicyView) -> Iterator[World]:
    w = World(tmp_path, policies)
    yield w
    w.journal.close()


def test_quarantine_replaces_the_file_alerts_with_the_incident_and_acks_the_tombstone(world: World) -> None:
    """A quarantining rule in an opted-in zone: vault, tombstone, one alert naming the incident, ack."""
    path = world.drop("customers.csv")
    world.handler.handle(world.verdict_outcome(path, finding(path)))

    assert path.read_bytes() != CONTENT and b"withheld by Dropwarden" in path.read_bytes()
    assert world.handler.vault is not None
    (rec,) = world.handler.vault.list()
    assert rec.alerted and rec.state == "done" and rec.rule == "payment-card-number"
    (alert,) = world.alerts()
    assert alert["incident_id"] == rec.incident_id and alert["severity"] == "high"
    row = world.journal.get(str(path))
    assert row is not None and row.state == "done" and row.findings == 1 and row.max_severity == "high"
    tombstone = hash_file(str(path))
    assert tombstone is not None and row.content_hash == tombstone[0]  # never rescanned as new content
    assert world.sample("dropwarden_quarantined_files_total", zone="drop") == 1
    assert world.sample("dropwarden_verdict_latency_seconds_count", zone="drop") == 1


def test_own_tombstone_is_never_quarantined_again_and_the_alert_is_not_repeated(world: World) -> None:
    """Rescanning our tombstone (after a restart, say) files no second incident and no second alert."""
    path = world.drop("customers.csv")
    world.handler.handle(world.verdict_outcome(path, finding(path)))
    restarted = world.new_handler()  # the tombstone set comes from the vault, not from memory
    restarted.handle(world.verdict_outcome(path, finding(path)))
    assert restarted.vault is not None and len(restarted.vault.list()) == 1
    assert len(world.alerts()) == 1


def test_a_file_swapped_after_its_scan_is_not_quarantined(world: World) -> None:
    """The verdict is about the scanned version: a different file at the path stays where it is."""
    path = world.drop("customers.csv")
    outcome = world.verdict_outcome(path, finding(path))
    path.unlink()
    path.write_bytes(b"another file, written after the scan\n")
    world.handler.handle(outcome)
    assert path.read_bytes() == b"another file, written after the scan\n"
    assert world.handler.vault is not None and world.handler.vault.list() == []
    assert "quarantine_failed" in world.audit_events()
    (alert,) = world.alerts()
    assert alert["incident_id"] is None


def test_zone_without_quarantine_alerts_and_leaves_the_file(tmp_path: Path, policies: PolicyView) -> None:
    """A zone that did not opt in keeps the file; the alert goes out without an incident id."""
    w = World(tmp_path, policies, quarantine=False)
    path = w.drop("customers.csv")
    w.handler.handle(w.verdict_outcome(path, finding(path)))
    assert path.read_bytes() == CONTENT
    (alert,) = w.alerts()
    assert alert["incident_id"] is None
    assert w.handler.vault is None


def test_findings_below_the_alert_floor_are_counted_not_alerted(world: World) -> None:
    """A low finding is a metric, never an alert (alert_min_severity medium)."""
    path = world.drop("notes.txt")
    world.handler.handle(world.verdict_outcome(path, finding(path, severity="low", actions=("alert",))))
    assert world.alerts() == []
    labels = {"zone": "drop", "policy": "bank-secrecy", "rule": "payment-card-number", "severity": "low"}
    assert world.sample("dropwarden_findings_total", **labels) == 1
    assert world.sample("dropwarden_alerts_total", **labels) == 0


def _acks(path_glob: str | None, expires: str) -> AckSet:
    entry = {
        "rule": "payment-card-number", "fingerprint": FINGERPRINT, "reason": "test fixture, TICKET-1",
        "author": "alice", "expires": expires, **({"path": path_glob} if path_glob else {}),
    }  # fmt: skip
    return parse_acks(yaml.safe_load(yaml.safe_dump({"acknowledged": [entry]})), "acks.yaml")


def test_an_acknowledged_finding_is_counted_and_not_alerted(world: World) -> None:
    """An active entry for (rule, fingerprint, path glob) silences the alert, not the counters; a file
    outside its glob and an expired entry alert as before."""
    handler = world.new_handler(acks=_acks(f"{world.zone}/payroll/*", "2999-12-31"))
    (world.zone / "payroll").mkdir()
    covered = world.drop("payroll/march.csv")
    handler.handle(world.verdict_outcome(covered, finding(covered, actions=("alert",))))
    assert world.alerts() == []
    labels = {"zone": "drop", "policy": "bank-secrecy", "rule": "payment-card-number"}
    assert world.sample("dropwarden_acknowledged_findings_total", **labels) == 1
    assert world.sample("dropwarden_findings_total", **labels, severity="high") == 1

    elsewhere = world.drop("customers.csv")
    handler.handle(world.verdict_outcome(elsewhere, finding(elsewhere, actions=("alert",))))
    assert [a["path"] for a in world.alerts()] == [str(elsewhere)]

    handler.reconfigure(world.settings, "d1", world.policies, _acks(f"{world.zone}/payroll/*", "2020-01-01"))
    handler.handle(world.verdict_outcome(covered, finding(covered, actions=("alert",))))
    assert [a["path"] for a in world.alerts()] == [str(elsewhere), str(covered)]


def test_an_acknowledged_quarantine_finding_is_still_quarantined(world: World) -> None:
    """Acknowledging silences the alert only: a rule that quarantines still moves the file."""
    handler = world.new_handler(acks=_acks(None, "2999-12-31"))
    path = world.drop("customers.csv")
    handler.handle(world.verdict_outcome(path, finding(path)))
    assert b"withheld by Dropwarden" in path.read_bytes()
    assert world.alerts() == []


def test_excerpts_none_blanks_every_excerpt(tmp_path: Path, policies: PolicyView) -> None:
    """``excerpts: none``: the alert carries no excerpt at all, even a scrubbed one."""
    w = World(tmp_path, policies, excerpts="none")
    path = w.drop("customers.csv")
    w.handler.handle(w.verdict_outcome(path, finding(path, actions=("alert",))))
    (alert,) = w.alerts()
    assert alert["excerpt"] == "" and not alert.get("excerpts")
    assert CARD not in w.alerts_file.read_text()


def test_a_failed_quarantine_is_audited_and_the_alert_still_goes_out(world: World) -> None:
    """The file vanished between scan and quarantine: audit 'quarantine_failed', alert without incident."""
    path = world.drop("customers.csv")
    outcome = world.verdict_outcome(path, finding(path))
    path.unlink()
    world.handler.handle(outcome)
    assert "quarantine_failed" in world.audit_events()
    (alert,) = world.alerts()
    assert alert["incident_id"] is None
    row = world.journal.get(str(path))
    assert row is not None and row.state == "done"


def test_a_failed_quarantine_audits_the_path_as_the_alert_shows_it(world: World) -> None:
    """The audit chain is a log too: a quarantine that fails names the file as its alert does (the
    customer's e-mail address in the name masked: the audit scrubber knows cards and keys, not that),
    never by the real path, as every other vault audit line does."""
    email = "hilde.brandt@example.org"
    path = world.drop(f"statement {email}.csv")
    shown = str(path).replace(email, "hild*.*************e.org")
    outcome = world.verdict_outcome(path, replace(finding(path), path=shown))
    path.unlink()
    world.handler.handle(outcome)
    audit = (world.state / "audit.jsonl").read_text()
    (line,) = [json.loads(x) for x in audit.splitlines() if "quarantine_failed" in x]
    assert line["fields"]["path"] == shown == world.alerts()[0]["path"]
    assert email not in audit


def test_crash_between_quarantine_and_alert_is_alerted_at_start_up(
    tmp_path: Path, policies: PolicyView
) -> None:
    """A vault record never alerted (the agent died) is alerted once, with the rule's severity for the
    zone's role and the card number in the file name masked."""
    w = World(tmp_path, policies, role="internal")
    path = w.drop(f"card {CARD}.csv")
    assert w.handler.vault is not None
    shown = w.policies.shown_path(FileRef(str(path), "drop", "internal", root=str(w.zone)))  # as the daemon
    reason, rule = "bank-secrecy/payment-card-number: CREDIT_CARD", "payment-card-number"
    rec = w.handler.vault.quarantine(path, "drop", rule, reason, root=str(w.zone), shown=shown)
    assert CARD not in rec.original_path  # the record keeps the real path only sealed
    w.new_handler().alert_unsent_quarantines()
    (alert,) = w.alerts()
    assert alert["incident_id"] == rec.incident_id and alert["severity"] == "medium"  # the rule's internal
    assert alert["policy"] == "bank-secrecy" and alert["entity"] == "CREDIT_CARD"
    assert "quarantined before its alert was sent" in str(alert["excerpt"])
    assert alert["path"] == f"{w.zone}/card {CARD[:4]}********{CARD[-4:]}.csv"
    assert CARD not in w.alerts_file.read_text()
    w.new_handler().alert_unsent_quarantines()
    assert len(w.alerts()) == 1


def test_an_unalerted_record_from_before_sealed_paths_is_alerted_with_its_name_masked(world: World) -> None:
    """A record written before vault records sealed the real path holds it in clear: the recovery
    alert masks the card number in its name itself."""
    path = world.drop(f"card {CARD}.csv")
    vault = world.handler.vault
    assert vault is not None
    rec = vault.quarantine(
        path, "drop", "payment-card-number", "bank-secrecy/payment-card-number: CREDIT_CARD"
    )
    old = json.loads(vault.meta_path(rec.incident_id).read_bytes())
    old.update(original_path=str(path), sealed_path=None, agent_path=None)
    vault.meta_path(rec.incident_id).write_text(json.dumps(old))
    world.new_handler().alert_unsent_quarantines()
    (alert,) = world.alerts()
    assert alert["incident_id"] == rec.incident_id
    assert alert["path"] == f"{world.zone}/card {CARD[:4]}********{CARD[-4:]}.csv"


def test_sealed_evidence_is_stored_and_named_by_the_alert(world: World) -> None:
    """The worker's sealed blob lands in the evidence store; the security team's key opens it."""
    path = world.drop("customers.csv")
    blob = seal(load_quarantine_private(world.keys.private).public_key(), b'{"matches": []}')
    o = world.verdict_outcome(path, finding(path, actions=("alert",)))
    world.handler.handle(
        Outcome(
            o.item, "verdict", verdict=o.verdict, content_hash=o.content_hash, stat=o.stat, evidence=(blob,)
        )
    )
    (alert,) = world.alerts()
    assert alert["evidence_id"] and world.handler.evidence is not None
    stored = world.handler.evidence.get(
        str(alert["evidence_id"]), load_quarantine_private(world.keys.private)
    )
    assert stored == b'{"matches": []}'
    assert open_sealed(load_quarantine_private(world.keys.private), blob) == stored


@pytest.mark.parametrize("kind", ["timeout", "crashed", "error"])
def test_an_outcome_without_verdict_is_recorded_as_an_error_never_as_clean(world: World, kind: str) -> None:
    """Timeout, crash, worker error: the journal row is 'error' with the reason, counted by reason, and
    the policies' UNSCANNED_CONTENT alert goes out with the file's name as the worker masked it before
    it read the file: the same findings, path and alert as the pipeline's own masking gives."""
    path = world.drop(f"big {CARD}.bin")
    ref = FileRef(str(path), "drop", "contractor-drop", root=str(world.zone))
    shown = world.policies.shown_path(ref)  # what the worker sends first (workers.Named)
    reason = "timeout" if kind == "timeout" else "internal"
    world.handler.handle(Outcome(world.claim(path), kind, reason=reason, seconds=3.0, shown=shown))
    row = world.journal.get(str(path))
    assert row is not None and row.state == "error" and row.last_error == reason and row.stat is not None
    assert world.sample("dropwarden_scan_errors_total", zone="drop", reason=reason) == 1
    (alert,) = world.alerts()
    assert alert["entity"] == "UNSCANNED_CONTENT" and alert["rule"] == "unscanned-content"
    assert alert["path"] == f"{world.zone}/big {CARD[:4]}********{CARD[-4:]}.bin"
    assert CARD not in world.alerts_file.read_text()
    err = ExtractError(str(path), None, reason, "the worker scanning this file was stopped")
    pipeline = cast("Pipeline", world.policies)
    (as_pipeline,) = pipeline.shown(ref, pipeline.unscanned(ref, (err,)))  # the masking before this change
    assert (alert["path"], alert["member"], alert["excerpt"]) == (
        as_pipeline.path, as_pipeline.member, as_pipeline.excerpt,
    )  # fmt: skip


def test_a_worker_that_died_before_naming_its_file_has_the_name_withheld(world: World) -> None:
    """No Named answer (the worker died before it masked the name): the alert still goes out, with
    everything below the zone root withheld; a keyed digest keeps two such files' alerts apart."""
    first, second = world.drop(f"big {CARD}.bin"), world.drop(f"sub {CARD}.bin")
    for path in (first, second):
        world.handler.handle(Outcome(world.claim(path), "timeout", reason="timeout", seconds=3.0))
    alerts = world.alerts()
    assert [a["entity"] for a in alerts] == ["UNSCANNED_CONTENT"] * 2
    assert len({a["path"] for a in alerts}) == 2 and len({a["id"] for a in alerts}) == 2
    withheld = re.compile(rf"{re.escape(str(world.zone))}/\[name withheld: [0-9a-f]{{16}}\]")
    assert all(withheld.fullmatch(a["path"]) for a in alerts)
    assert CARD not in world.alerts_file.read_text() and "big" not in world.alerts_file.read_text()
    ref = FileRef(str(first), "drop", "contractor-drop", root=str(world.zone))
    assert withheld_path(ref, KEY) == alerts[0]["path"]  # stable: the same file, the same alert id
    outside = FileRef("/elsewhere/x.bin", root=str(world.zone))
    assert withheld_path(outside, KEY).startswith("/[name withheld: ")


def test_a_cache_hit_keeps_the_previous_verdict(world: World) -> None:
    """'cached': the row is done again, the scan count and findings of the previous scan stand."""
    path = world.drop("customers.csv")
    world.handler.handle(world.verdict_outcome(path, finding(path, actions=("alert",))))
    hashed = hash_file(str(path))
    assert hashed is not None
    world.handler.handle(Outcome(world.claim(path), "cached", content_hash=hashed[0], stat=hashed[1]))
    row = world.journal.get(str(path))
    assert row is not None and row.state == "done" and row.scans == 1 and row.findings == 1
    assert world.sample("dropwarden_files_scanned_total", zone="drop", format="unknown") == 1


def test_a_vanished_file_is_forgotten(world: World) -> None:
    """Deleted before its scan: no verdict recorded, the journal drops its row."""
    path = world.drop("gone.txt")
    o = world.verdict_outcome(path, errors=(ExtractError(str(path), None, "vanished", "gone"),))
    path.unlink()
    world.handler.handle(o)
    assert world.journal.get(str(path)) is None


def test_an_outcome_the_journal_cannot_record_is_stranded_and_requeued(world: World, tmp_path: Path) -> None:
    """A journal that refuses writes (here: its file is no database any more) must not stop the loop:
    the alert went out, the write failure is counted, and the backlog puts the item back to pending
    once the journal takes writes again."""
    path = world.drop("customers.csv")
    o = world.verdict_outcome(path, finding(path, actions=("alert",)))
    refusing = Journal(tmp_path / "refusing.db")
    refusing.close()  # it reconnects on the next call, to what is then at the path
    for leftover in tmp_path.glob("refusing.db*"):
        leftover.unlink()
    (tmp_path / "refusing.db").write_bytes(b"this is not an SQLite database" * 100)
    world.handler.journal = refusing
    world.handler.handle_safely(o)
    assert len(world.alerts()) == 1
    assert world.sample("dropwarden_journal_write_failures_total", operation="outcome") == 1
    row = world.journal.get(str(path))
    assert row is not None and row.state == "claimed"
    world.backlog.tick()  # the backlog writes the healthy journal: the item is pending again
    row = world.journal.get(str(path))
    assert row is not None and row.state == "pending"
