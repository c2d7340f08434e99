"""The HTTP endpoint of `ledger serve`: /metrics from the given registry, /health and /ready
from their probes, 404 elsewhere; bound to loopback on a port the OS picks."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry, Gauge

from adapters.http import MetricsServer, make_app


@pytest.fixture
def server() -> Iterator[tuple[MetricsServer, dict[str, tuple[bool, str]]]]:
    registry = CollectorRegistry()
    Gauge("ledger_ready", "ready", registry=registry).set(1)
    state = {"health": (True, "ok"), "ready": (False, "not ready: projections")}
    srv = MetricsServer(make_app(registry, lambda: state["health"], lambda: state["ready"]))
    srv.start("127.0.0.1", 0)
    yield srv, state
    srv.stop()


def get(srv: MetricsServer, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.port}{path}", timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_routes(server: tuple[MetricsServer, dict[str, tuple[bool, str]]]) -> None:
    srv, state = server
    assert srv.port > 0
    status, text = get(srv, "/metrics")
    assert status == 200 and "ledger_ready 1.0" in text
    assert get(srv, "/health") == (200, "ok\n")
    assert get(srv, "/ready") == (503, "not ready: projections\n")
    state["ready"] = (True, "ready")
    state["health"] = (False, "projections: stopped at global position 7 (OrderFilled)")
    assert get(srv, "/ready") == (200, "ready\n")
    assert get(srv, "/health") == (503, "projections: stopped at global position 7 (OrderFilled)\n")
    assert get(srv, "/")[0] == 404


def test_a_taken_port_is_an_os_error(
    server: tuple[MetricsServer, dict[str, tuple[bool, str]]],
) -> None:
    srv, _ = server
    other = MetricsServer(make_app(CollectorRegistry(), lambda: (True, ""), lambda: (True, "")))
    with pytest.raises(OSError):
        other.start("127.0.0.1", srv.port)
    srv.stop()
    srv.stop()  # stopping twice is harmless
