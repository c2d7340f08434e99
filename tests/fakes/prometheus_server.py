"""A real Prometheus server for tests: started on a free loopback port, scraping given targets.

Not a fake: it runs the Debian package's `/usr/bin/prometheus` with a temporary config and
storage, so tests read metrics back through the real query API exactly as Grafana and the
alert rules do. Typical use in a test::

    with PrometheusServer(targets=[f"127.0.0.1:{port}"], workdir=tmp_path) as prom:
        [sample] = prom.wait_for('ledger_equity{account="DU1"}', lambda r: len(r) == 1)
        assert sample.decimal == Decimal("1000000")

`require_prometheus_binary()` skips the calling test locally when the binary is missing and
fails it when CI=true (CI must never skip). Install with `apt-get install prometheus`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from tests.support.services import unavailable

DEFAULT_BINARY = "/usr/bin/prometheus"
_POLL_SECONDS = 0.2
_START_ATTEMPTS = 3


class PrometheusError(Exception):
    """Base class for errors of the test Prometheus server."""


class PrometheusNotFoundError(PrometheusError):
    """The prometheus binary is not installed."""


class PrometheusStartError(PrometheusError):
    """The server exited or did not become ready; carries the tail of its log."""


class PrometheusQueryError(PrometheusError):
    """The query API answered with an error (bad PromQL, unsupported result type...)."""


class PrometheusTimeoutError(PrometheusError):
    """wait_for() gave up; carries the last result for the failure message."""


@dataclass(frozen=True)
class QueryResult:
    """One element of an instant-query result: its labels and its value as Prometheus sent it."""

    metric: dict[str, str]
    timestamp: float
    raw: str

    @property
    def value(self) -> float:
        return float(self.raw)

    @property
    def decimal(self) -> Decimal:
        # Prometheus stores float64; its text form is the shortest exact round-trip, so
        # Decimal(raw) equals the Decimal the exporter started from when that had <= 15 digits.
        return Decimal(self.raw)


def find_prometheus_binary() -> str | None:
    """Path of the prometheus server binary, or None if it is not installed."""
    if os.access(DEFAULT_BINARY, os.X_OK):
        return DEFAULT_BINARY
    return shutil.which("prometheus")


def require_prometheus_binary() -> str:
    """The binary's path; otherwise fail under CI=true, skip elsewhere (pytest helpers)."""
    binary = find_prometheus_binary()
    if binary is not None:
        return binary
    unavailable(
        "prometheus (Debian package `prometheus`)",
        "apt-get install -y --no-install-recommends prometheus",
    )


def free_loopback_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PrometheusServer:
    """Runs /usr/bin/prometheus scraping `targets` ("host:port") every `scrape_interval`.

    `rule_files` are loaded too (evaluated every `scrape_interval`), so a test can watch
    alerts through `alerts()`. Use as a context manager, or call start() and stop().
    """

    targets: Sequence[str]
    job_name: str = "ledger"
    metrics_path: str = "/metrics"
    scrape_interval: str = "1s"
    rule_files: Sequence[Path] = ()
    workdir: Path | None = None
    binary: str | None = None
    startup_timeout: float = 30.0
    port: int = field(default=0, init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _tempdir: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False, repr=False)
    _log_path: Path | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> PrometheusServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        binary = self.binary or find_prometheus_binary()
        if binary is None:
            raise PrometheusNotFoundError(
                "prometheus binary not found (apt-get install prometheus)"
            )
        base = self._make_workdir()
        config = base / "prometheus.yml"
        config.write_text(yaml.safe_dump(self._config()), encoding="utf-8")
        # The free port is only free until someone else binds it: retry on that one race.
        for attempt in range(_START_ATTEMPTS):
            try:
                self._launch(binary, config, base)
                return
            except PrometheusStartError as e:
                if attempt + 1 == _START_ATTEMPTS or "address already in use" not in str(e):
                    self.stop()
                    raise

    def _launch(self, binary: str, config: Path, base: Path) -> None:
        self.port = free_loopback_port()
        self._log_path = base / "prometheus.log"
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={base / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        try:
            self._wait_ready()
        except BaseException:
            self._terminate()
            raise

    def stop(self) -> None:
        self._terminate()
        if self._tempdir is not None:
            self._tempdir.cleanup()
            self._tempdir = None

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()  # SIGTERM: Prometheus shuts down cleanly and quickly
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)

    def query(self, expr: str) -> list[QueryResult]:
        """Instant query through /api/v1/query; vector and scalar results."""
        data = self._api("/api/v1/query", {"query": expr})
        result_type, result = data["resultType"], data["result"]
        if result_type == "vector":
            return [
                QueryResult(
                    metric=dict(item["metric"]), timestamp=item["value"][0], raw=item["value"][1]
                )
                for item in result
            ]
        if result_type == "scalar":
            return [QueryResult(metric={}, timestamp=result[0], raw=result[1])]
        raise PrometheusQueryError(f"{expr!r}: unsupported result type {result_type!r}")

    def wait_for(
        self,
        expr: str,
        predicate: Callable[[list[QueryResult]], bool],
        timeout: float = 30.0,
    ) -> list[QueryResult]:
        """Poll `query(expr)` until `predicate` holds for its result; return that result."""
        deadline = time.monotonic() + timeout
        last: list[QueryResult] = []
        while True:
            last = self.query(expr)
            if predicate(last):
                return last
            if time.monotonic() >= deadline:
                raise PrometheusTimeoutError(
                    f"{expr!r} did not satisfy the predicate within {timeout}s; last result: {last}"
                )
            time.sleep(_POLL_SECONDS)

    def alerts(self) -> list[dict[str, Any]]:
        """Active (pending or firing) alerts from /api/v1/alerts."""
        alerts: list[dict[str, Any]] = self._api("/api/v1/alerts", {})["alerts"]
        return alerts

    def log_tail(self, chars: int = 4000) -> str:
        if self._log_path is None or not self._log_path.exists():
            return ""
        return self._log_path.read_text(encoding="utf-8", errors="replace")[-chars:]

    def _make_workdir(self) -> Path:
        if self.workdir is not None:
            base = self.workdir / f"prometheus-{os.getpid()}-{time.monotonic_ns()}"
            base.mkdir(parents=True)
            return base
        self._tempdir = tempfile.TemporaryDirectory(prefix="prometheus-")
        return Path(self._tempdir.name)

    def _config(self) -> dict[str, Any]:
        return {
            "global": {
                "scrape_interval": self.scrape_interval,
                "scrape_timeout": self.scrape_interval,
                "evaluation_interval": self.scrape_interval,
            },
            "rule_files": [str(Path(p).resolve()) for p in self.rule_files],
            "scrape_configs": [
                {
                    "job_name": self.job_name,
                    "metrics_path": self.metrics_path,
                    "static_configs": [{"targets": list(self.targets)}],
                }
            ],
        }

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                raise PrometheusStartError(f"prometheus exited during start-up:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet
            if time.monotonic() >= deadline:
                raise PrometheusStartError(
                    f"prometheus not ready after {self.startup_timeout}s:\n{self.log_tail()}"
                )
            time.sleep(_POLL_SECONDS)

    def _api(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as e:
            # 400/422 carry a JSON error body naming the problem (e.g. a PromQL parse error).
            detail = e.read().decode("utf-8", errors="replace")
            raise PrometheusQueryError(f"{path} {params}: HTTP {e.code}: {detail}") from e
        if body.get("status") != "success":
            raise PrometheusQueryError(f"{path} {params}: {body}")
        data: dict[str, Any] = body["data"]
        return data
