"""`ledger serve` as a subprocess, scraped by a real Prometheus (Debian's package).

The service follows an SQLite store another process writes; Prometheus scrapes it every
second; values read back through Prometheus's query API equal the read models. The
endpoints answer as documented and SIGTERM stops the service cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.projections import open_projection_store
from projections.readers import read
from tests.conftest import make_app
from tests.fakes.prometheus_server import (
    PrometheusServer,
    free_loopback_port,
    require_prometheus_binary,
)
from tests.unit.projections.helpers import demo_lines, ingest, more_messages

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Service:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    stderr: Path

    def get(self, path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"ledger serve exited: {self.stderr.read_text()}")
            try:
                if self.get("/ready")[0] == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise AssertionError(f"ledger serve not ready: {self.stderr.read_text()}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("serve")
    url = f"sqlite:///{tmp / 'ledger.db'}"
    ingest(make_app(url), demo_lines())
    port = free_loopback_port()
    err = tmp / "serve.stderr"
    with err.open("wb") as stderr:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "replay",
                "--store",
                url,
                "serve",
                "--metrics-port",
                str(port),
                "--poll-interval",
                "0.1",
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    svc = Service(url, port, process, err)
    try:
        svc.wait_ready()
        yield svc
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def prometheus(
    service: Service, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    binary = require_prometheus_binary()
    with PrometheusServer(
        targets=[f"127.0.0.1:{service.port}"],
        binary=binary,
        workdir=tmp_path_factory.mktemp("prometheus"),
    ) as prom:
        yield prom


def test_endpoints_answer(service: Service) -> None:
    assert service.get("/ready") == (200, "ready\n")
    assert service.get("/health") == (200, "ok\n")
    status, text = service.get("/metrics")
    assert status == 200
    assert 'ledger_build_info{version="' in text
    assert service.get("/nope")[0] == 404


def test_prometheus_reads_the_equity_the_read_model_holds(
    service: Service, prometheus: PrometheusServer
) -> None:
    store = open_projection_store(service.url)
    try:
        [account] = read(store.read_engine, lambda m: m.accounts())
    finally:
        store.close()

    [sample] = prometheus.wait_for(
        'ledger_equity{account="SIM"}', lambda r: len(r) == 1, timeout=60
    )

    assert sample.decimal == account.equity
    assert sample.metric["job"] == "ledger"


def test_the_service_follows_new_writes_and_prometheus_sees_them(
    service: Service, prometheus: PrometheusServer
) -> None:
    app = make_app(service.url)
    ingest(app, more_messages(), source="file:/more.jsonl")
    head = str(app.position)

    prometheus.wait_for(
        "ledger_global_position", lambda r: len(r) == 1 and r[0].raw == head, timeout=60
    )
    prometheus.wait_for(
        'ledger_projection_position{projection="account"}',
        lambda r: len(r) == 1 and r[0].raw == head,
        timeout=60,
    )
    [spy] = prometheus.wait_for(
        'ledger_position_quantity{symbol="SPY"}', lambda r: len(r) == 1, timeout=60
    )
    assert spy.raw == "10"


def test_sigterm_stops_the_service_cleanly(service: Service) -> None:
    service.process.send_signal(signal.SIGTERM)
    assert service.process.wait(timeout=30) == 0
    assert "ledger serve: stopped" in service.stderr.read_text()
