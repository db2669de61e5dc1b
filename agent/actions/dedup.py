"""Alert de-duplication that survives restarts and rescans.

The alert id is a keyed hash of where and what (path, member, rule, value fingerprint): stable for
the same value in the same file under the same rule, and useless to anyone without the key. Seen ids
live in the journal's SQLite file, so neither a restart nor a reconcile crawl re-alerts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
import time

from agent.models import Alert
from agent.security.dirfd import private_sqlite

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts_seen (
    alert_id TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL
);
"""


def alert_id(key: bytes, path: str, member: str | None, rule: str, fingerprint: str) -> str:
    """HMAC-SHA256 of the alert's identity, 128 bits in hex. JSON framing keeps fields unambiguous."""
    msg = json.dumps([path, member, rule, fingerprint], ensure_ascii=False, separators=(",", ":"))
    # surrogatepass: a name that is not UTF-8 keeps its own identity (issue 14, item 3)
    return hmac.new(key, msg.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:32]


class Deduplicator:
    """Remembers which alert ids were already raised, in table ``alerts_seen``."""

    def __init__(self, db_path: str, busy_timeout: float = 10.0) -> None:
        self.db_path = db_path
        self._lock = threading.Lock()
        private_sqlite(db_path)  # 0600 before SQLite creates it (its -wal/-shm copy that mode)
        self._db = sqlite3.connect(
            db_path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def is_new(self, alert: Alert | str, now: float | None = None) -> bool:
        """True the first time an alert id is seen (and records it); False ever after."""
        aid = alert if isinstance(alert, str) else alert.id
        t = time.time() if now is None else now
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO alerts_seen(alert_id, first_seen, last_seen) VALUES (?, ?, ?)",
                (aid, t, t),
            )
            if cur.rowcount == 1:
                return True
            self._db.execute("UPDATE alerts_seen SET last_seen = ? WHERE alert_id = ?", (t, aid))
            return False

    def forget(self, alert_id: str) -> bool:
        """Un-record an id, e.g. when every sink failed and the alert must be raised again."""
        with self._lock:
            return self._db.execute("DELETE FROM alerts_seen WHERE alert_id = ?", (alert_id,)).rowcount == 1

    def prune(self, older_than: float) -> int:
        """Forget ids not seen since ``older_than`` (unix time), to bound the table."""
        with self._lock:
            return self._db.execute("DELETE FROM alerts_seen WHERE last_seen < ?", (older_than,)).rowcount

    def __len__(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM alerts_seen").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
