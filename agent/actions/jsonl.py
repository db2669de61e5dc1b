"""An append-only JSONL alert log that survives both styles of log rotation.

``O_APPEND`` makes every write land at the current end of file, so after logrotate's
``copytruncate`` the next line starts at offset 0 instead of leaving a NUL-filled hole up to the old
offset. For the move/create style, ``reopen()`` (called on SIGHUP) switches to the new file. Each
line is written with a single ``write(2)``: no userspace buffer to flush, no interleaved halves.
"""

from __future__ import annotations

import json
import os
import threading

from agent.actions.ecs import ecs_document
from agent.actions.sinks import alert_to_dict
from agent.models import Alert
from agent.redact import json_safe


class JsonlSink:
    """One JSON object per alert and per line, appended to ``path``."""

    def __init__(
        self, path: str, fsync: bool = False, name: str = "jsonl", mode: int = 0o600, fmt: str = "native"
    ) -> None:
        if fmt not in ("native", "ecs"):
            raise ValueError(f"jsonl: unknown format {fmt!r}")
        self.name = name
        self.fmt = fmt
        self.path = path
        self._fsync = fsync
        self._mode = mode
        self._lock = threading.Lock()
        self._fd: int | None = None
        # Fail fast at start-up: a wrong path is a configuration error the operator must see now.
        self._fd = self._open()

    def _open(self) -> int:
        parent = os.path.dirname(self.path)
        if parent:
            os.makedirs(parent, mode=0o700, exist_ok=True)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        return os.open(self.path, flags, self._mode)

    def send(self, alert: Alert) -> None:
        record = alert_to_dict(alert)
        if self.fmt == "ecs":
            record = ecs_document(record)
        line = json_safe(json.dumps(record, ensure_ascii=False, separators=(",", ":"))) + "\n"
        data = line.encode("utf-8")
        with self._lock:
            if self._fd is None:  # a failed reopen: try again, raise if the path is still unusable
                self._fd = self._open()
            written = os.write(self._fd, data)
            while written < len(data):  # short writes are rare on regular files, but legal
                written += os.write(self._fd, data[written:])
            if self._fsync:
                os.fsync(self._fd)

    def reopen(self) -> None:
        """Close and reopen ``path`` (after a rename by logrotate). On failure, retry at next send."""
        with self._lock:
            self._close_fd()
            self._fd = self._open()

    def close(self) -> None:
        with self._lock:
            self._close_fd()

    def _close_fd(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
