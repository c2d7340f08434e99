"""A small threaded HTTP server: `/metrics` (prometheus_client), `/health`, `/ready`.

- `/metrics`: the service's own CollectorRegistry (text or OpenMetrics, gzip when asked);
- `/health`: 200 while every component works, 503 with the problem otherwise (a
  projection that stopped on an event says which);
- `/ready`: 200 once the projections have caught up with the log, 503 before.
Bound to 127.0.0.1 unless told otherwise; port 0 picks a free one (`port` says which).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

Probe = Callable[[], tuple[bool, str]]  # (ok, text for the body)
StartResponse = Callable[..., Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood stderr; errors still reach the client."""


def make_app(
    registry: CollectorRegistry, health: Probe, ready: Probe
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    metrics = make_wsgi_app(registry)

    def probe(check: Probe, start_response: StartResponse) -> list[bytes]:
        ok, text = check()
        start_response(
            "200 OK" if ok else "503 Service Unavailable",
            [("Content-Type", "text/plain; charset=utf-8")],
        )
        return [(text.rstrip("\n") + "\n").encode()]

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        if path == "/health":
            return probe(health, start_response)
        if path == "/ready":
            return probe(ready, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics, /health or /ready\n"]

    return app


class MetricsServer:
    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self._app = app
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            return 0
        return int(self._server.server_address[1])

    def start(self, host: str, port: int) -> int:
        """Bind and serve in a daemon thread; returns the port. OSError when it cannot bind."""
        cls = _ThreadingServer6 if ":" in host else _ThreadingServer
        self._server = make_server(
            host, port, self._app, server_class=cls, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="ledger-metrics-http", daemon=True
        )
        self._thread.start()
        return self.port

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
