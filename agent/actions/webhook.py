"""HTTP webhook sink: generic JSON or Alertmanager v2, delivered from a durable outbox.

``send`` only commits the alert to the :class:`~agent.actions.outbox.Outbox` (fast, durable); a
background thread per sink POSTs batches, deletes rows after a 2xx and reschedules the rest with
exponential backoff (equal jitter, capped). Retry policy:

* connection errors, timeouts, 3xx (redirects are never followed: a POST turned into a GET would be
  a silent loss), 401/403/404 (configuration the operator will fix), 408, 429 and 5xx: retried
  forever — a receiver down for an hour still gets every alert when it returns;
* 400, 413, 422 (the receiver blames the payload): a batch is split and retried alert by alert; an
  alert rejected alone ``max_rejections`` times is dropped with an error log and a failure count.

Only the standard library speaks HTTP here (urllib), with a timeout and optional CA file. Logs
carry the sink name, status and exception type — never headers (tokens) or alert content.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import structlog

from agent import __version__
from agent.actions.ecs import ecs_document
from agent.actions.outbox import Outbox, OutboxItem
from agent.actions.sinks import alert_to_dict, iso_utc
from agent.models import Alert
from agent.redact import json_safe

if TYPE_CHECKING:
    from agent.metrics import Metrics

log = structlog.get_logger(__name__)

AM_PATH = "/api/v2/alerts"
REJECT_CODES = frozenset({400, 413, 422})
_IDLE_POLL = 5.0  # seconds between outbox checks when nothing is due (another process may enqueue)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises HTTPError(3xx): retried, never followed


def alertmanager_alert(
    item: dict[str, Any], now: float, resolve_after: float, generator_url: str | None = None
) -> dict[str, Any]:
    """One ``postableAlert`` of Alertmanager's v2 API (labels and annotations are string maps).

    ``alert_id`` is a label because Alertmanager identifies an alert by its label set: without it,
    findings in different files under the same rule would collapse into one alert. ``endsAt`` counts
    from the delivery time, so an alert delivered after an outage is not already resolved.
    """
    started = _parse_iso(item["time"])
    where = item["path"] + (f"!{item['member']}" if item.get("member") else "")
    labels = {
        "alertname": "DropwardenFinding",
        "severity": item["severity"],
        "zone": item.get("zone") or "",
        "policy": item["policy"],
        "rule": item["rule"],
        "entity": item["entity"],
        "instance": item["host"],
        "alert_id": item["id"],
    }
    summary = f"{item['entity']} found by rule {item['rule']} in {where}"
    annotations = {
        "summary": summary,
        "description": item.get("desc") or summary,
        "path": where,
        "excerpt": item["excerpt"],
        "fingerprint": item["fingerprint"],
        "count": str(item.get("count", 1)),
        "occurrences": str(item.get("occurrences", 1)),
        "line": str(item.get("line", 0)),
    }
    out: dict[str, Any] = {
        # An empty label value means "no label" to Alertmanager: leave it out instead.
        "labels": {k: str(v) for k, v in labels.items() if v not in ("", None)},
        "annotations": {k: str(v) for k, v in annotations.items() if v not in ("", None)},
        "startsAt": iso_utc(started),
        "endsAt": iso_utc(max(started, now) + resolve_after),
    }
    if generator_url:
        out["generatorURL"] = generator_url
    return out


def _parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class WebhookSink:
    """Durable, batched, retrying webhook delivery for one receiver."""

    def __init__(
        self,
        name: str,
        url: str,
        outbox: Outbox,
        fmt: Literal["generic", "alertmanager", "ecs"] = "generic",
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
        batch_size: int = 50,
        max_backoff: float = 300.0,
        ca_file: str | None = None,
        metrics: Metrics | None = None,
        resolve_after: float = 3600.0,
        *,
        min_backoff: float = 1.0,
        max_rejections: int = 5,
        generator_url: str | None = None,
        host: str | None = None,
    ) -> None:
        if fmt not in ("generic", "alertmanager", "ecs"):
            raise ValueError(f"webhook {name}: unknown format {fmt!r}")
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"webhook {name}: url must be http or https")
        if fmt == "alertmanager" and not urlsplit(url).path.rstrip("/").endswith(AM_PATH):
            url = url.rstrip("/") + AM_PATH  # accept the Alertmanager base URL too
        self.name = name
        self.url = url
        self.fmt = fmt
        self.outbox = outbox
        self.timeout = timeout
        self.batch_size = max(1, batch_size)
        self.min_backoff = min_backoff
        self.max_backoff = max(max_backoff, min_backoff)
        self.max_rejections = max_rejections
        self.resolve_after = resolve_after
        self.generator_url = generator_url
        self.host = host or socket.gethostname()
        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": f"dropwarden/{__version__}",
            **(headers or {}),
        }
        ctx = ssl.create_default_context(cafile=ca_file)
        self._opener = urllib.request.build_opener(_NoRedirect(), urllib.request.HTTPSHandler(context=ctx))
        self._metrics = metrics
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if metrics is not None:
            metrics.webhook_deliveries.labels(sink=name)
            metrics.webhook_failures.labels(sink=name)
        self._update_size()

    # --- the dispatcher side -------------------------------------------------------------------

    def send(self, alert: Alert) -> None:
        """Commit the alert to the outbox (idempotent per alert id) and wake the delivery thread."""
        payload = json_safe(json.dumps(alert_to_dict(alert), ensure_ascii=False, separators=(",", ":")))
        if self.outbox.enqueue(self.name, alert.id, payload):
            self._update_size()
        self._wake.set()

    def start(self) -> None:
        """Start the delivery thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"webhook-{self.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop the thread after its current POST; True when it ended. Queued alerts stay queued."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        stopped = not self._thread.is_alive()
        if stopped:
            self._thread = None
        return stopped

    def flush(self, timeout: float) -> bool:
        """Retry everything now and wait until this sink's outbox is empty (drain, tests)."""
        deadline = time.monotonic() + timeout
        self.outbox.expedite(self.name)
        self._wake.set()
        while time.monotonic() < deadline:
            if self.outbox.size(self.name) == 0:
                return True
            time.sleep(0.02)
        return self.outbox.size(self.name) == 0

    def close(self) -> None:
        self.stop(self.timeout + 1.0)

    # --- the delivery thread -------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                items = self.outbox.due(self.name, self.batch_size)
                if items:
                    self._deliver(items)
                    continue
                nxt = self.outbox.next_due(self.name)
            except Exception as exc:  # a locked or broken DB must not kill delivery for good
                log.error("webhook_loop_failed", sink=self.name, error=type(exc).__name__)
                nxt = None
            wait = _IDLE_POLL if nxt is None else min(_IDLE_POLL, max(0.0, nxt - time.time()))
            self._wake.wait(wait)

    def _deliver(self, items: list[OutboxItem]) -> None:
        verdict, status, error = self._post(items)
        if verdict == "ok":
            self.outbox.delete(i.id for i in items)
            self.outbox.expedite(self.name)  # the receiver is back: no need to wait out old backoffs
            if self._metrics is not None:
                self._metrics.webhook_deliveries.labels(sink=self.name).inc(len(items))
            log.info("webhook_delivered", sink=self.name, alerts=len(items), status=status)
        elif verdict == "reject" and len(items) > 1:
            self._count_failure()
            log.warning("webhook_batch_rejected", sink=self.name, alerts=len(items), status=status)
            for item in items:  # isolate the alert the receiver refuses; deliver the others
                if self._stop.is_set():
                    return
                self._deliver([item])
        elif verdict == "reject":
            self._count_failure()
            (item,) = items
            if item.rejections + 1 >= self.max_rejections:
                self.outbox.delete([item.id])
                log.error("webhook_alert_dropped", sink=self.name, alert_id=item.alert_id, status=status)
            else:
                self.outbox.defer([(item.id, time.time() + self.max_backoff)], rejected=True)
                log.warning("webhook_alert_rejected", sink=self.name, alert_id=item.alert_id, status=status)
        else:
            self._count_failure()
            now = time.time()
            self.outbox.defer([(i.id, now + self._backoff(i.attempts + 1)) for i in items])
            log.warning(
                "webhook_delivery_failed",
                sink=self.name,
                alerts=len(items),
                attempt=items[0].attempts + 1,
                status=status,
                error=error,
            )
        self._update_size()

    def _backoff(self, attempt: int) -> float:
        """Exponential backoff with equal jitter: half fixed, half random, capped at max_backoff."""
        base = min(self.max_backoff, self.min_backoff * 2 ** min(attempt - 1, 40))
        return base / 2 + random.uniform(0, base / 2)  # noqa: S311 - retry jitter, not a secret

    def _body(self, items: list[OutboxItem]) -> bytes:
        alerts = [json.loads(i.payload) for i in items]
        doc: Any
        if self.fmt == "alertmanager":
            now = time.time()
            doc = [alertmanager_alert(a, now, self.resolve_after, self.generator_url) for a in alerts]
        elif self.fmt == "ecs":  # a JSON array of ECS events
            doc = [ecs_document(a) for a in alerts]
        else:
            doc = {"alerts": alerts, "source": "dropwarden", "host": self.host}
        return json_safe(json.dumps(doc, ensure_ascii=False, separators=(",", ":"))).encode("utf-8")

    def _post(self, items: list[OutboxItem]) -> tuple[str, int | None, str | None]:
        """POST one batch; returns (ok | retry | reject, HTTP status, exception type)."""
        body = self._body(items)
        # S310: __init__ accepts only http and https URLs; no file: or custom schemes reach here
        req = urllib.request.Request(self.url, data=body, headers=self._headers, method="POST")  # noqa: S310
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                resp.read(65536)
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
            exc.close()
        except (OSError, http.client.HTTPException, ValueError) as exc:  # URLError is an OSError
            return "retry", None, type(exc).__name__
        if 200 <= status < 300:
            return "ok", status, None
        if status in REJECT_CODES:
            return "reject", status, None
        return "retry", status, None

    def _count_failure(self) -> None:
        if self._metrics is not None:
            self._metrics.webhook_failures.labels(sink=self.name).inc()

    def _update_size(self) -> None:
        if self._metrics is not None:
            self._metrics.outbox_size.labels(sink=self.name).set(self.outbox.size(self.name))
