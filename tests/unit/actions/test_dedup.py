"""Alert ids and their persistent de-duplication."""

from __future__ import annotations

from pathlib import Path

from agent.actions.dedup import Deduplicator, alert_id
from tests.unit.actions.conftest import make_alert

KEY = b"k" * 32


def test_alert_id_is_stable_keyed_and_unambiguous() -> None:
    """The id depends on every identity field and on the key, and field boundaries cannot be shifted."""
    base = alert_id(KEY, "/srv/a.txt", None, "rule-a", "fp1")
    assert base == alert_id(KEY, "/srv/a.txt", None, "rule-a", "fp1")
    assert len(base) == 32 and int(base, 16) >= 0
    others = {
        alert_id(b"x" * 32, "/srv/a.txt", None, "rule-a", "fp1"),
        alert_id(KEY, "/srv/b.txt", None, "rule-a", "fp1"),
        alert_id(KEY, "/srv/a.txt", "m.txt", "rule-a", "fp1"),
        alert_id(KEY, "/srv/a.txt", "", "rule-a", "fp1"),
        alert_id(KEY, "/srv/a.txt", None, "rule-b", "fp1"),
        alert_id(KEY, "/srv/a.txt", None, "rule-a", "fp2"),
        alert_id(KEY, "/srv/a.txtrule-a", None, "", "fp1"),
    }
    assert base not in others and len(others) == 7


def test_dedup_persists_across_instances(tmp_path: Path) -> None:
    """An alert seen before a restart is not new for a Deduplicator opened later on the same file."""
    db = str(tmp_path / "journal.db")
    d1 = Deduplicator(db)
    assert d1.is_new(make_alert(1))
    assert not d1.is_new(make_alert(1))
    assert d1.is_new(make_alert(2))
    d1.close()
    d2 = Deduplicator(db)
    assert not d2.is_new(make_alert(1))
    assert not d2.is_new(make_alert(2).id)
    assert d2.is_new(make_alert(3))
    assert len(d2) == 3
    d2.close()


def test_forget_and_prune(tmp_path: Path) -> None:
    """forget() makes an id new again; prune() drops ids not seen since a cut-off."""
    d = Deduplicator(str(tmp_path / "j.db"))
    d.is_new("a", now=100.0)
    d.is_new("b", now=100.0)
    d.is_new("b", now=500.0)  # seen again: last_seen moves forward
    assert d.forget("a") and not d.forget("a")
    assert d.is_new("a", now=100.0)
    assert d.prune(older_than=200.0) == 1
    assert d.is_new("a") and not d.is_new("b")
    d.close()
