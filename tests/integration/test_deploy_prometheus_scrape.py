"""A real Prometheus server scrapes an in-process exporter and answers through its query API.

Two things are proven against one server (Prometheus 2.x picks up new scrape targets on a
fixed 5-second tick, so a server per test would cost that wait each time):

- tests/fakes/prometheus_server.py works: a value set in the exporter is read back through
  /api/v1/query (later tests reuse the helper against `ledger serve`);
- deploy/ works in a real Prometheus: the exporter publishes every metric of the ledger's
  contract with the labels the issue specifies, the server loads deploy/'s alert rules,
  every dashboard query parses and returns data, and the kill-switch and drawdown alerts
  fire. That catches what static checks cannot (PromQL only Prometheus rejects, a panel
  reading a label the metric lacks).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from tests.fakes.prometheus_server import (
    PrometheusQueryError,
    PrometheusServer,
    PrometheusTimeoutError,
    QueryResult,
    free_loopback_port,
    require_prometheus_binary,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/dashboards/ledger.json"
RULES = ROOT / "deploy/prometheus/rules/ledger.rules.yml"
# What Grafana substitutes for the dashboard's variables; 5s spans several 1s scrapes.
GRAFANA_VARIABLES = {
    "$__rate_interval": "5s",
    "$__range": "1m",
    "$instance": ".*",
    "$account": ".*",
}


@dataclasses.dataclass(frozen=True)
class Exporter:
    port: int
    equity: Gauge
    drawdown: Gauge
    killswitch_state: Gauge


def _gauge(registry: CollectorRegistry, name: str, labels: dict[str, str], value: float) -> Gauge:
    gauge = Gauge(name, name, list(labels), registry=registry)
    (gauge.labels(**labels) if labels else gauge).set(value)
    return gauge


def _publish_ledger_metrics(registry: CollectorRegistry) -> Exporter:
    """Every metric of the ledger's contract, with plausible values and the kill switch ARMED."""
    _gauge(registry, "ledger_build_info", {"version": "0.1.0"}, 1)
    Counter("ledger_events_appended", "", ["type"], registry=registry).labels("OrderFilled").inc(3)
    latency = Histogram("ledger_append_latency_seconds", "", registry=registry)
    batch = Histogram("ledger_batch_size", "", buckets=(1, 10, 100, 1000), registry=registry)
    for seconds, size in ((0.002, 5), (0.004, 50), (0.003, 500)):
        latency.observe(seconds)
        batch.observe(size)
    _gauge(registry, "ledger_global_position", {}, 1200)
    _gauge(registry, "ledger_projection_position", {"projection": "positions"}, 1190)
    _gauge(registry, "ledger_projection_lag_events", {"projection": "positions"}, 10)
    _gauge(registry, "ledger_projection_lag_seconds", {"projection": "positions"}, 0.4)
    _gauge(registry, "ledger_position_quantity", {"account": "DU1", "symbol": "GOOGL"}, 100)
    _gauge(registry, "ledger_position_value", {"account": "DU1", "symbol": "GOOGL"}, 285050)
    _gauge(registry, "ledger_realized_pnl", {"account": "DU1"}, 1250.5)
    _gauge(registry, "ledger_unrealized_pnl", {"account": "DU1"}, -300)
    equity = _gauge(registry, "ledger_equity", {"account": "DU1"}, 1_000_950.5)
    drawdown = _gauge(registry, "ledger_drawdown_ratio", {"account": "DU1"}, 0.01)
    killswitch_state = _gauge(registry, "ledger_killswitch_state", {}, 0)
    Counter("ledger_killswitch_trips", "", ["trigger"], registry=registry).labels("manual")
    _gauge(registry, "ledger_orders", {"status": "FILLED"}, 7)
    Counter("ledger_quarantined_messages", "", registry=registry).inc(2)
    _gauge(registry, "ledger_chain_verified", {}, 1)
    _gauge(registry, "ledger_chain_verified_position", {}, 1200)
    Gauge(
        "ledger_reconcile_last_success_timestamp_seconds", "", registry=registry
    ).set_to_current_time()
    _gauge(registry, "ledger_reconcile_breaks", {"kind": "position"}, 0)
    _gauge(registry, "ledger_kafka_consumer_lag", {"topic": "exec_reports", "partition": "0"}, 4)
    _gauge(registry, "ledger_ready", {}, 1)
    return Exporter(port=0, equity=equity, drawdown=drawdown, killswitch_state=killswitch_state)


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    registry = CollectorRegistry()
    metrics = _publish_ledger_metrics(registry)
    port = free_loopback_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    yield dataclasses.replace(metrics, port=port)
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def prometheus(
    exporter: Exporter, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusServer]:
    binary = require_prometheus_binary()
    with PrometheusServer(
        targets=[f"127.0.0.1:{exporter.port}"],
        rule_files=[RULES],
        workdir=tmp_path_factory.mktemp("prometheus"),
        binary=binary,
    ) as prom:
        yield prom


def _one_sample(results: list[QueryResult]) -> bool:
    return len(results) == 1


# --- the helper ------------------------------------------------------------------------


def test_value_set_in_exporter_is_read_back_through_query_api(
    exporter: Exporter, prometheus: PrometheusServer
) -> None:
    exporter.equity.labels(account="DU1").set(1_000_000)

    [sample] = prometheus.wait_for(
        'ledger_equity{account="DU1"}', lambda r: _one_sample(r) and r[0].raw == "1000000"
    )

    assert sample.decimal == Decimal("1000000")
    assert sample.metric == {
        "__name__": "ledger_equity",
        "account": "DU1",
        "instance": f"127.0.0.1:{exporter.port}",
        "job": "ledger",
    }


def test_a_changed_value_is_seen_on_a_later_scrape(
    exporter: Exporter, prometheus: PrometheusServer
) -> None:
    exporter.equity.labels(account="DU2").set(1_000_000)
    prometheus.wait_for('ledger_equity{account="DU2"}', _one_sample)

    exporter.equity.labels(account="DU2").set(987_654.25)

    [sample] = prometheus.wait_for(
        'ledger_equity{account="DU2"}', lambda r: _one_sample(r) and r[0].raw != "1000000"
    )
    assert sample.decimal == Decimal("987654.25")


def test_target_is_up_and_unknown_series_is_empty(prometheus: PrometheusServer) -> None:
    [up] = prometheus.wait_for('up{job="ledger"}', lambda r: _one_sample(r) and r[0].raw == "1")
    assert up.value == 1.0
    assert prometheus.query('ledger_equity{account="nobody"}') == []


def test_scalar_result_and_bad_promql(prometheus: PrometheusServer) -> None:
    [scalar] = prometheus.query("scalar(vector(42))")
    assert (scalar.metric, scalar.decimal) == ({}, Decimal("42"))
    with pytest.raises(PrometheusQueryError, match="parse error"):
        prometheus.query("sum(ledger_equity")


def test_wait_for_names_the_expression_when_it_times_out(prometheus: PrometheusServer) -> None:
    with pytest.raises(PrometheusTimeoutError, match="never_exported_metric"):
        prometheus.wait_for("never_exported_metric", _one_sample, timeout=0.5)


# --- deploy/ in a real Prometheus ------------------------------------------------------


def _walk_panels(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in node.get("panels", []):
        yield panel
        yield from _walk_panels(panel)


def _panel_queries() -> list[tuple[str, str]]:
    """(panel title, expr with Grafana's variables substituted) for every panel target."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = []
    for panel in _walk_panels(dashboard):
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            queries.append((panel["title"], expr))
    return queries


def test_every_dashboard_query_returns_data(prometheus: PrometheusServer) -> None:
    # rate() over the 5s window needs at least two scrapes in it
    prometheus.wait_for("count_over_time(ledger_ready[5s])", lambda r: r != [] and r[0].value >= 3)
    queries = _panel_queries()
    assert len(queries) >= 20
    empty = [(title, expr) for title, expr in queries if prometheus.query(expr) == []]
    assert empty == []


def test_positions_panel_groups_by_the_exported_symbol_label(prometheus: PrometheusServer) -> None:
    [quantity] = prometheus.wait_for(
        'sum by (symbol) (ledger_position_quantity{account=~".*"})', _one_sample
    )
    assert (quantity.metric, quantity.raw) == ({"symbol": "GOOGL"}, "100")


def test_kill_switch_and_drawdown_alerts_fire_in_prometheus(
    exporter: Exporter, prometheus: PrometheusServer
) -> None:
    prometheus.wait_for("ledger_killswitch_state == 0", _one_sample)
    assert (
        prometheus.query('ALERTS{alertname=~"LedgerKillSwitchTripped|LedgerDrawdownWarning"}') == []
    )

    exporter.killswitch_state.set(2)
    exporter.drawdown.labels(account="DU1").set(0.12)

    firing = 'ALERTS{alertname="%s", alertstate="firing"}'
    prometheus.wait_for(firing % "LedgerKillSwitchTripped", _one_sample)
    [drawdown] = prometheus.wait_for(firing % "LedgerDrawdownWarning", _one_sample)
    assert drawdown.metric["account"] == "DU1"
    active = {alert["labels"]["alertname"] for alert in prometheus.alerts()}
    assert "LedgerDown" not in active
