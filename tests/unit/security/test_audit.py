"""Audit hash chain: appends verify, and any edit, deletion, reordering or truncation is caught."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from agent.security.audit import AuditError, AuditLog, verify_chain


def _log(tmp_path: Path, n: int = 5, key: bytes | None = None) -> Path:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, key=key)
    for i in range(n):
        log.append("file_quarantined", incident_id=f"id-{i}", zone="drop", size=i)
    return path


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines(keepends=True)


def test_intact_chain_verifies_and_is_0600(tmp_path) -> None:
    """A freshly written chain verifies and the log file is private."""
    path = _log(tmp_path)
    report = verify_chain(path)
    assert report.ok and report.lines == 5
    assert path.stat().st_mode & 0o777 == 0o600
    first = json.loads(_lines(path)[0])
    assert first["seq"] == 1 and first["prev"] == "0" * 64 and first["alg"] == "sha256"


def test_modified_line_is_detected(tmp_path) -> None:
    """Changing a field in line 3 is reported at line 3."""
    path = _log(tmp_path)
    lines = _lines(path)
    lines[2] = lines[2].replace('"zone":"drop"', '"zone":"dorp"')
    path.write_text("".join(lines))
    report = verify_chain(path)
    assert (report.ok, report.reason, report.line) == (False, "hash_mismatch", 3)


def test_rehashed_line_breaks_the_next_link(tmp_path) -> None:
    """An attacker who recomputes line 2's hash (no key) still breaks line 3's prev link."""
    from agent.security.audit import _digest

    path = _log(tmp_path)
    lines = _lines(path)
    entry = json.loads(lines[1])
    entry["fields"]["zone"] = "elsewhere"
    entry["hash"] = _digest(entry, None)
    lines[1] = json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n"
    path.write_text("".join(lines))
    report = verify_chain(path)
    assert (report.reason, report.line) == ("chain_broken", 3)


@pytest.mark.parametrize(
    ("edit", "reason", "line"),
    [
        (lambda ls: ls[:1] + ls[2:], "seq_gap", 2),  # delete line 2
        (lambda ls: [ls[0], ls[2], ls[1], *ls[3:]], "seq_gap", 2),  # reorder
        (lambda ls: ls[:-1], "truncated", 5),  # cut the last line
        (lambda ls: [*ls[:-1], ls[-1][:-10]], "malformed", 5),  # torn last line
        (lambda ls: [], "truncated", 1),  # emptied
    ],
)
def test_deletion_reorder_truncation_detected(tmp_path, edit, reason: str, line: int) -> None:
    """Removing, swapping or cutting lines is reported with the first broken line."""
    path = _log(tmp_path)
    path.write_text("".join(edit(_lines(path))))
    report = verify_chain(path)
    assert (report.ok, report.reason, report.line) == (False, reason, line)


def test_missing_head_is_reported(tmp_path) -> None:
    """Deleting the head file (to hide a truncation) is itself reported."""
    path = _log(tmp_path)
    (tmp_path / "audit.jsonl.head").unlink()
    assert verify_chain(path).reason == "head_missing"


def test_keyed_chain_resists_rewrite_and_downgrade(tmp_path) -> None:
    """With a key, a chain rebuilt without it fails, and verifying needs the key."""
    key = b"agent-key-" * 4
    path = _log(tmp_path, key=key)
    assert verify_chain(path, key=key).ok
    assert verify_chain(path).reason == "key_required"
    assert verify_chain(path, key=b"other-key-" * 4).reason == "hash_mismatch"
    forged = tmp_path / "forged"
    forged.mkdir()
    fpath = _log(forged)  # attacker rewrites the whole chain without the key
    assert verify_chain(fpath, key=key).reason == "downgraded"
    with pytest.raises(AuditError):
        AuditLog(path).append("x")  # an un-keyed writer may not extend a keyed chain
    with pytest.raises(AuditError):
        AuditLog(path, key=b"other-key-" * 4).check_key()


def test_concurrent_appends_keep_the_chain(tmp_path) -> None:
    """Eight threads appending at once produce one unbroken chain."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)

    def work() -> None:
        for _ in range(25):
            log.append("policy_reloaded", rules=3)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify_chain(path)
    assert report.ok and report.lines == 200


def test_torn_tail_is_repaired_on_next_append(tmp_path) -> None:
    """A half-written last line from a crash is cut off by the next append, and the chain verifies again."""
    path = _log(tmp_path, 3)
    with open(path, "a") as f:
        f.write('{"seq":4,"tim')
    AuditLog(path).append("agent_started")
    report = verify_chain(path)
    assert report.ok and report.lines == 4


def test_secret_looking_fields_are_scrubbed(tmp_path) -> None:
    """A caller's mistake (a token in a field) never reaches the audit file in clear."""
    path = tmp_path / "audit.jsonl"
    token = "ghp_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5"
    AuditLog(path).append("key_rotated", note=f"old token {token}", nested={"list": [token]})
    assert token not in path.read_text()
    assert verify_chain(path).ok
