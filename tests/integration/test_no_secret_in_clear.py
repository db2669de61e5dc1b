"""No matched value ever leaves in clear: every detector's positive examples go through a real agent
(and through `dropwarden scan` / `explain`), and no value shows up in logs, alerts, webhook bodies,
metrics, the journal, the audit log or the vault metadata. Hostile files (truncated zip, encrypted
documents, a file that times out) carry the same values so the error paths run too."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from agent.models import FileRef, TextChunk
from tests.helpers import fake_card, free_port, wait_for
from tests.unit.extract.builders import pdf_bytes, zip_bytes

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "policies"
#: Not a secret: a marking ("CONFIDENTIAL") is a label that rule descriptions name anyway.
NOT_SECRET = frozenset({"CONFIDENTIAL_MARKING"})

OVERRIDE = """\
pack: test-quarantine-cards
version: 1
desc: Quarantine card numbers in the test zone.
override:
  - id: payment-card-number
    actions: [alert, quarantine]
"""


def shipped_examples() -> list[tuple[str, str]]:
    """(rule id, text) of every `examples.match` of every shipped rule that runs without extra data."""
    out = []
    for f in sorted(SHIPPED.glob("*.yaml")):
        for rule in yaml.safe_load(f.read_text()).get("rules") or []:
            if rule.get("examples_require"):
                continue  # NER model / protected index: no detector here produces them
            for i, text in enumerate((rule.get("examples") or {}).get("match") or []):
                out.append((f"{rule['id']}-{i}", text))
    return out


def matched_values(examples: list[tuple[str, str]]) -> set[str]:
    """The raw values the rules accept in the example texts, with their compact and per-line forms."""
    from agent.pipeline import build_pipeline

    pipeline = build_pipeline(None, os.urandom(32))
    values: set[str] = set()
    for _, text in examples:
        dets = pipeline.classifier.detect(TextChunk(path="/x.txt", member=None, text=text))
        ev = pipeline.evaluate_text(text, FileRef(path="/x.txt", zone="z"))
        accepted = {(f.entity, f.start, f.end) for f in ev.findings}
        for d in dets:
            if (d.entity, d.start, d.end) in accepted and d.entity not in NOT_SECRET:
                values |= variants(d.value)
    return values


def variants(value: str) -> set[str]:
    out = {value} if len(value) >= 6 else set()
    compact = re.sub(r"[\s-]", "", value)
    if len(compact) >= 10:
        out.add(compact)
    out |= {ln.strip() for ln in value.splitlines() if len(ln.strip()) >= 16 and "-----" not in ln}
    return out


class Receiver(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        Receiver.bodies.append(self.rfile.read(n))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture(scope="module")
def webhook() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/hook"
    srv.shutdown()


def hostile_files(zone: Path, text: str, cards: str) -> None:
    """Files whose reading fails, each carrying secret values in its raw bytes."""
    import zipfile

    whole = zip_bytes({"inner/leak.txt": text.encode()}, compression=zipfile.ZIP_STORED)
    (zone / "truncated.zip").write_bytes(whole[: len(whole) - 40])
    (zone / "encrypted.pdf").write_bytes(pdf_bytes([text.splitlines()[0]], encrypt_with="pw"))
    # an encrypted OOXML document is an OLE compound file; this one only looks like it
    (zone / "encrypted.docx").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + text.encode())
    (zone / "bad.docx").write_bytes(zip_bytes({"word/document.xml": text.encode()})[:-30])
    (zone / "slow.txt").write_text((cards + "\n") * 80)  # over the per-file time limit


def leaks(outputs: dict[str, str], values: set[str]) -> list[str]:
    """Where each leaked value was seen, the value itself cut to its first 6 characters."""
    return [f"{where}: {v[:6]}…" for where, text in outputs.items() for v in sorted(values) if v in text]


def test_no_value_in_any_output_of_the_daemon_scan_and_explain(tmp_path: Path, webhook: str) -> None:
    """Every shipped positive example (plus hostile variants) through a real agent, `scan` in three
    formats and `explain`: none of the matched values appears in any output, store or error message."""
    t0 = time.monotonic()
    examples = shipped_examples()
    assert len(examples) >= 30
    values = matched_values(examples)
    slow_cards = " ".join(fake_card() for _ in range(2000))
    values |= set(slow_cards.split()[:50])
    assert len(values) >= 40

    zone, state, pol = tmp_path / "zone", tmp_path / "state", tmp_path / "override"
    zone.mkdir()
    pol.mkdir()
    (pol / "50-quarantine.yaml").write_text(OVERRIDE)
    for name, text in examples:
        (zone / f"ex-{name}.txt").write_text(text)
    everything = "\n\n".join(t for _, t in examples)
    hostile_files(zone, everything, slow_cards)
    n_files = len(list(zone.iterdir()))

    from agent.security.keys import write_keypair

    write_keypair(tmp_path / "keys", "quarantine")
    port = free_port()
    cfg = {
        "zones": [{"name": "drop", "path": str(zone), "quarantine": True}],
        "policies": [str(SHIPPED), str(pol)],
        "state_dir": str(state),
        "workers": 2,
        "settle_seconds": 0.2,
        "file_timeout": 2.0,
        "alert_min_severity": "low",
        "sinks": {
            "stdout": True,
            "jsonl": {"path": str(tmp_path / "alerts.jsonl")},
            "webhooks": [{"name": "hook", "url": webhook, "format": "generic"}],
        },
        "metrics": {"address": f"127.0.0.1:{port}"},
        "quarantine_public_key": str(tmp_path / "keys" / "quarantine.pub"),
        "evidence": "encrypted",
        "log_format": "json",
        "log_level": "debug",
    }
    (tmp_path / "agent.yaml").write_text(yaml.safe_dump(cfg))
    log = tmp_path / "agent.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "agent", "run", "--config", str(tmp_path / "agent.yaml")],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:

        def settled() -> bool:
            if not (state / "journal.db").exists():
                return False
            db = sqlite3.connect(f"file:{state / 'journal.db'}?mode=ro", uri=True, timeout=10)
            try:
                return (
                    db.execute("SELECT count(*) FROM files WHERE state IN ('done','error')").fetchone()[0]
                    >= n_files
                )
            except sqlite3.Error:
                return False
            finally:
                db.close()

        assert wait_for(lambda: proc.poll() is not None or settled(), 60.0, 0.2) and proc.poll() is None, (
            log.read_text()[-3000:]
        )
        assert wait_for(lambda: len(Receiver.bodies) >= len(examples), 15.0)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
    finally:
        proc.terminate()
        proc.wait(20)

    # least privilege: the agent wrote nothing into the zone but tombstones over quarantined files
    assert len(list(zone.iterdir())) == n_files
    tombstones = [
        p for p in zone.iterdir() if p.is_file() and p.read_bytes().startswith(b"This file was withheld")
    ]
    assert tombstones and all(p.name.startswith("ex-payment-card-number") for p in tombstones)
    alerts = (tmp_path / "alerts.jsonl").read_text()
    assert alerts.count("\n") >= len(examples) - 2 and '"evidence_id"' in alerts
    assert "dropwarden_scan_errors_total" in metrics and 'reason="timeout"' in metrics
    db = sqlite3.connect(state / "journal.db")
    journal = "\n".join(db.iterdump())
    db.close()
    assert "malformed" in journal or "encrypted" in journal
    vault_meta = "\n".join(p.read_text() for p in (state / "quarantine").glob("*.json"))
    assert vault_meta, "nothing was quarantined"
    sealed = b"".join(p.read_bytes() for p in (state / "evidence").glob("*.sealed"))
    assert sealed
    outputs = {
        "agent stdout/stderr": log.read_text(),
        "JSONL alerts": alerts,
        "webhook bodies": b"\n".join(Receiver.bodies).decode(),
        "/metrics": metrics,
        "journal": journal,
        "audit log": (state / "audit.jsonl").read_text(),
        "vault metadata": vault_meta,
        "sealed evidence": sealed.decode("latin-1"),
        "state files": "\n".join(p.name for p in state.rglob("*")),
    }

    t_agent = time.monotonic() - t0
    # the same files (vault originals restored from the examples) through scan and explain
    scan_dir = tmp_path / "scan"
    scan_dir.mkdir()
    for name, text in examples:
        (scan_dir / f"ex-{name}.txt").write_text(text)
    hostile_files(scan_dir, everything, slow_cards)
    (scan_dir / "slow.txt").unlink()  # scan's time limit is cooperative; the daemon ran the timeout path
    key = tmp_path / "scan.key"
    for fmt in ("jsonl", "text", "sarif"):
        r = subprocess.run(
            [sys.executable, "-m", "agent", "scan", str(scan_dir), "--format", fmt, "--key-file", str(key),
             "--no-progress", "--timeout", "1.0", "-j", "2"],
            cwd=REPO, capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert r.returncode == 1, r.stderr[-2000:]
        outputs[f"scan --format {fmt}"] = r.stdout + r.stderr
    t_scan = time.monotonic() - t0 - t_agent
    from agent.cli import main

    (scan_dir / "all.txt").write_text(everything)
    for name in ("all.txt", "truncated.zip", "encrypted.pdf", "encrypted.docx", "bad.docx"):
        buf, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(err):
            assert main(["explain", str(scan_dir / name)]) == 0
        outputs[f"explain {name}"] = buf.getvalue() + err.getvalue()
    assert "ACCEPT" in outputs["explain all.txt"]

    print(
        json.dumps(
            {
                "values": len(values),
                "files": n_files,
                "agent_s": round(t_agent, 1),
                "scan_s": round(t_scan, 1),
                "total_s": round(time.monotonic() - t0, 1),
            }
        )
    )
    found = leaks(outputs, values)
    assert found == [], "\n".join(found)
