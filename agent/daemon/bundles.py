"""Pull signed policy bundles (agent.security.bundle) from a fleet source and reload when one lands.

The source is an HTTPS URL, verified against the configured CA only (pinned: the system's CAs are
not consulted), or a local path (a bundle file, or a directory holding ``bundle.tar``) that
configuration management keeps up to date. Every ``poll_seconds`` the poller fetches it, and
installs it when it is new, signed, exactly its manifest and not older than the last accepted one;
then the agent (``on_installed``) sends itself SIGHUP, so the new set goes through the very reload
path (validation, audit, rollback on error) an operator's ``systemctl reload`` takes. A failed fetch
or verification keeps the bundle in force, logs ``bundle_rejected``/``bundle_fetch_failed`` and counts it.
"""

from __future__ import annotations

import ssl
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from agent.daemon.settings import BundleConfig
from agent.metrics import Metrics
from agent.security.bundle import BundleRejected, Installed, install

log = structlog.get_logger(__name__)

#: Name of the bundle inside a directory source.
DIR_BUNDLE = "bundle.tar"


class FetchFailed(Exception):
    """The source could not be read; ``reason`` is a bounded label value."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


def fetch(config: BundleConfig) -> bytes:
    """The bundle's bytes from the configured source, at most ``max_bytes``."""
    source = config.source
    if source.startswith("https://"):
        return _fetch_https(config)
    path = Path(source)
    if path.is_dir():
        path = path / DIR_BUNDLE
    try:
        with path.open("rb") as f:
            data = f.read(config.max_bytes + 1)
    except OSError as exc:
        raise FetchFailed("unreachable", f"{path}: {exc.strerror or type(exc).__name__}") from None
    return _bounded(data, config.max_bytes)


def _fetch_https(config: BundleConfig) -> bytes:
    context = ssl.create_default_context(cafile=config.ca_file)  # the pinned CA only
    # S310: the scheme is https, checked by BundleConfig
    request = urllib.request.Request(config.source, headers={"User-Agent": "dropwarden-bundle"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=config.timeout, context=context) as resp:  # noqa: S310
            data = resp.read(config.max_bytes + 1)
    except ssl.SSLError as exc:
        raise FetchFailed("tls", f"TLS: {exc.reason or type(exc).__name__}") from None
    except OSError as exc:  # URLError, HTTPError, timeouts
        raise FetchFailed(
            "unreachable", f"{type(exc).__name__}: {getattr(exc, 'reason', '') or exc}"
        ) from None
    return _bounded(data, config.max_bytes)


def _bounded(data: bytes, limit: int) -> bytes:
    if len(data) > limit:
        raise FetchFailed("too_large", f"more than {limit} bytes")
    return data


class BundlePoller:
    """A daemon thread: fetch, install, reload; never raises into the agent."""

    def __init__(
        self,
        config: BundleConfig,
        state_dir: str,
        public_keys: list[Any],
        metrics: Metrics,
        on_installed: Callable[[Installed], None],
    ) -> None:
        self.config = config
        self.state_dir = state_dir
        self.public_keys = public_keys
        self.metrics = metrics
        self.on_installed = on_installed
        self.started = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bundle-poller", daemon=True)

    def start(self) -> None:
        self.started = True
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.started:
            self._thread.join(timeout=self.config.timeout + 5)

    def poll_once(self) -> Installed | None:
        """One fetch and install; the bundle in force, or None when this attempt failed."""
        try:
            installed = install(fetch(self.config), self.state_dir, self.public_keys, self.config.max_bytes)
        except FetchFailed as exc:
            self.metrics.bundle_failures.labels(reason=exc.reason).inc()
            log.warning("bundle_fetch_failed", reason=exc.reason, detail=str(exc))
            return None
        except BundleRejected as exc:
            self.metrics.bundle_failures.labels(reason=exc.reason).inc()
            log.error("bundle_rejected", reason=exc.reason, detail=str(exc))
            return None
        except Exception as exc:  # a bug here must not stop the poller or the agent
            self.metrics.bundle_failures.labels(reason="internal").inc()
            log.error("bundle_install_failed", error=type(exc).__name__)
            return None
        self.metrics.set_bundle(str(installed.manifest.version), installed.sha256)
        self.metrics.bundle_last_success.set(time.time())
        if installed.changed:
            log.info(
                "bundle_installed",
                name=installed.manifest.name,
                version=installed.manifest.version,
                sha256=installed.sha256,
            )
            self.on_installed(installed)
        return installed

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.config.poll_seconds)
