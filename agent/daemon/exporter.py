"""The Prometheus endpoint: prometheus_client's WSGI app on a threading server, loopback by default,
optionally behind TLS and HTTP basic auth (constant-time comparison of a SHA-256 of the password)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any

from agent.daemon.settings import Settings, read_secret
from agent.metrics import Metrics


def _basic_auth(app: Callable[..., Any], username: str, sha256_hex: str) -> Callable[..., Any]:
    want_user, want_hash = username.encode(), bytes.fromhex(sha256_hex)

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        header = environ.get("HTTP_AUTHORIZATION", "")
        ok = False
        if header.startswith("Basic "):
            try:
                user, _, pw = base64.b64decode(header[6:], validate=True).partition(b":")
                ok = hmac.compare_digest(user, want_user) & hmac.compare_digest(
                    hashlib.sha256(pw).digest(), want_hash
                )
            except ValueError:
                ok = False
        if not ok:
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="dropwarden"')])
            return [b"unauthorized\n"]
        return app(environ, start_response)

    return wrapped


def start_metrics_server(settings: Settings, metrics: Metrics) -> Any:
    """Serve /metrics in a daemon thread; returns the server (``shutdown()`` stops it)."""
    from wsgiref.simple_server import make_server

    from prometheus_client import make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

    cfg = settings.metrics
    host, port = cfg.host_port
    app = make_wsgi_app(metrics.registry)
    if cfg.basic_auth is not None:
        digest = cfg.basic_auth.password_sha256
        if digest is None:
            if cfg.basic_auth.password_file is None:  # settings validation requires one of the two
                raise ValueError("metrics basic_auth needs password_sha256 or password_file")
            pw = read_secret(cfg.basic_auth.password_file).encode()
            digest = hashlib.sha256(pw).hexdigest()
        app = _basic_auth(app, cfg.basic_auth.username, digest)

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in host else socket.AF_INET

    httpd = make_server(host, port, app, Server, handler_class=_SilentHandler)
    if cfg.tls_cert and cfg.tls_key:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True).start()
    return httpd
