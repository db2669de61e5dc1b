"""Vault records keep the real path only sealed (issue 14, item 4): a card number in a file name is never
in clear in the record, the tombstone or the audit chain; restore and recovery still find the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agent.actions.quarantine import QuarantineError, QuarantineStore
from agent.security.audit import AuditLog
from tests.helpers import fake_card

AGENT_KEY = b"a" * 32


@pytest.fixture
def carded(tmp_path: Path) -> tuple[Path, str, str]:
    """A file whose name holds a card number, the number, and the path as alerts show it."""
    card = fake_card()
    zone = tmp_path / "zone"
    (zone / "clients").mkdir(parents=True)
    f = zone / "clients" / f"refund-{card}.txt"
    f.write_text("see the name\n")
    shown = str(f).replace(card, f"{card[:4]}********{card[-4:]}")
    return f, card, shown


def _everything_kept(state: Path, zone: Path) -> bytes:
    """Every byte the vault, the audit chain and the zone's tombstones hold."""
    return b"".join(p.read_bytes() for p in [*state.rglob("*"), *zone.rglob("*")] if p.is_file())


def test_record_tombstone_and_audit_keep_the_real_path_only_sealed(keys, tmp_path, carded) -> None:
    f, card, shown = carded
    zone, state = tmp_path / "zone", tmp_path / "state"
    store = QuarantineStore(state, keys.q_pub, hash_key=AGENT_KEY, audit=AuditLog(state / "audit.jsonl"))
    rec = store.quarantine(f, "drop", "r", "why", root=str(zone), shown=shown)
    assert rec.original_path == shown and rec.sealed_path and rec.agent_path is None
    raw = json.loads(store.meta_path(rec.incident_id).read_bytes())
    assert raw["original_path"] == shown
    kept = _everything_kept(state, zone)
    assert card.encode() not in kept  # the vault, the audit line, the tombstone text
    # restore beside the tombstone: the real name comes back, the record and audit note the masked one
    out = store.restore(rec.incident_id, keys.q_priv)
    assert out.name.startswith(f.name + ".restored-") and out.read_text() == "see the name\n"
    out.unlink()
    assert card.encode() not in _everything_kept(state, zone)
    assert store.restore(rec.incident_id, keys.q_priv, in_place=True) == f
    assert f.read_text() == "see the name\n"
    assert card.encode() not in b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())


def test_without_the_private_key_nothing_reads_the_path(keys, tmp_path, carded) -> None:
    """The agent (public key and agent key only) cannot tell a finished record's path; a sealed path
    moved into another record does not open there."""
    f, card, shown = carded
    store = QuarantineStore(tmp_path / "state", keys.q_pub, hash_key=AGENT_KEY)
    one = store.quarantine(f, "drop", "r", "why", root=str(tmp_path / "zone"), shown=shown)
    assert store.agent_real_path(one) is None
    f.write_text("second\n")
    other = f.with_name("other.txt")
    other.write_text("x\n")
    two = store.quarantine(other, "drop", "r", "why", root=str(tmp_path / "zone"), shown=str(other))
    doc = json.loads(store.meta_path(two.incident_id).read_bytes())
    doc["sealed_path"] = one.sealed_path  # swap: restore `two` over `one`'s path
    store.meta_path(two.incident_id).write_text(json.dumps(doc))
    with pytest.raises(QuarantineError) as exc:
        store.restore(two.incident_id, keys.q_priv, in_place=True, force=True)
    assert exc.value.reason == "tampered" and card not in str(exc.value)
    assert f.read_text() == "second\n"


def test_records_from_before_sealed_paths_still_list_and_restore(keys, tmp_path) -> None:
    """An older record (real path in ``original_path``, no sealed path): listed, restored, recovered."""
    zone = tmp_path / "zone"
    zone.mkdir()
    f = zone / "old.txt"
    f.write_text("old content\n")
    store = QuarantineStore(tmp_path / "state", keys.q_pub)
    rec = store.quarantine(f, "drop", "r", "why", root=str(zone), shown=str(f))
    doc = json.loads(store.meta_path(rec.incident_id).read_bytes())
    for added in ("sealed_path", "agent_path"):
        del doc[added]
    store.meta_path(rec.incident_id).write_text(json.dumps(doc))
    (old,) = store.list()
    assert old.sealed_path is None and store.agent_real_path(old) == str(f)
    assert store.recover() == []
    assert store.restore(rec.incident_id, keys.q_priv, in_place=True) == f
    assert f.read_text() == "old content\n"


def test_a_caller_that_does_not_say_how_to_show_the_path_gets_the_zone_only(keys, tmp_path, carded) -> None:
    f, card, _ = carded
    store = QuarantineStore(tmp_path / "state", keys.q_pub)
    rec = store.quarantine(f, "drop", "r", "why", root=str(tmp_path / "zone"))
    assert card not in rec.original_path and rec.original_path.startswith(str(tmp_path / "zone"))
    assert card not in f.read_text()
