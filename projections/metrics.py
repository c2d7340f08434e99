"""Prometheus metrics: the read models at scrape time, and the serving process's own.

`LedgerCollector` reads the read models in ONE read transaction per scrape and
exports them, so every value equals what the read models say at that moment
(positions, account, kill switch, orders by status, the `metrics` projection's
counters) together with the log's head and each projection's position and lag.

`ServeMetrics` owns the registry (never the global one) and the metrics only a
running process knows: build info, append latency and batch size (observed around
the ledger's appends), the hash-chain watch, reconciliation and Kafka consumer lag
(set by the components that do that work), and readiness. Gauges that mean
something only once set (last reconciliation, chain verified) are absent until then,
so an alert on `== 0` does not fire at start-up.

Names follow the deploy/ contract (Prometheus conventions: `ledger_` prefix, base
units, `_total` counters, labels of low cardinality). Decimal values become floats
here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from domain.clock import Clock
from domain.codec import micros
from domain.order_table import OrderStatus
from projections.counters import EVENTS_APPENDED, KILLSWITCH_TRIPS, QUARANTINED
from projections.log import EventSource
from projections.readers import (
    AccountFigures,
    PositionFigures,
    Progress,
    ReadModels,
    position_value,
    read,
    unrealized_pnl,
)

KILLSWITCH_STATE = {"ARMED": 0, "REDUCING": 1, "TRIPPED": 2}
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 5, 10, 50, 100, 500, 1000, 5000, 10000, 50000)


@dataclass
class _Scrape:
    head: int = 0
    progress: list[Progress] = field(default_factory=list)
    lag_seconds: dict[str, float] = field(default_factory=dict)
    positions: list[PositionFigures] = field(default_factory=list)
    marks: dict[str, Decimal] = field(default_factory=dict)
    accounts: list[AccountFigures] = field(default_factory=list)
    killswitch: str = "ARMED"
    orders: dict[str, int] = field(default_factory=dict)
    counters: dict[tuple[str, str], int] = field(default_factory=dict)


class LedgerCollector(Collector):
    def __init__(self, engine: Engine, source: EventSource, clock: Clock) -> None:
        self._engine = engine
        self._source = source
        self._clock = clock

    def _take(self, m: ReadModels) -> _Scrape:
        s = _Scrape(
            progress=m.progress(self._source),
            positions=m.position_figures(),
            marks=m.marks(),
            accounts=m.accounts(),
            killswitch=str(m.killswitch()["state"]),
            orders=m.order_counts(),
            counters=m.counters(),
        )
        s.head = s.progress[0].head if s.progress else self._source.head(m.conn)
        now = micros(self._clock.now())
        for p in s.progress:
            oldest = self._source.first_recorded_after(m.conn, p.position) if p.behind else None
            s.lag_seconds[p.projection] = max(0, now - oldest) / 1e6 if oldest is not None else 0.0
        return s

    def collect(self) -> Iterable[Metric]:
        s = read(self._engine, self._take)
        yield _gauge(
            "ledger_global_position", "Last global position of the event log.", [((), s.head)]
        )
        for name, doc, value in (
            (
                "position",
                "Last global position each projection has processed.",
                lambda p: p.position,
            ),
            (
                "lag_events",
                "Events in the log a projection has not processed yet.",
                lambda p: p.behind,
            ),
            (
                "lag_seconds",
                "Age of the oldest event a projection has not processed.",
                lambda p: s.lag_seconds.get(p.projection, 0.0),
            ),
        ):
            yield _gauge(
                f"ledger_projection_{name}",
                doc,
                [((p.projection,), value(p)) for p in s.progress],
                ["projection"],
            )
        yield from self._positions(s)
        yield _gauge(
            "ledger_killswitch_state",
            "Kill switch: 0 ARMED, 1 REDUCING, 2 TRIPPED.",
            [((), KILLSWITCH_STATE.get(s.killswitch, 2))],
        )
        yield _gauge(
            "ledger_orders",
            "Orders by current status.",
            [((st.value,), s.orders.get(st.value, 0)) for st in OrderStatus],
            ["status"],
        )
        yield _counter(
            "ledger_events_appended",
            "Events appended to the log, by event type.",
            _labelled(s.counters, EVENTS_APPENDED),
            ["type"],
        )
        yield _counter(
            "ledger_killswitch_trips",
            "Kill-switch trips, by trigger.",
            _labelled(s.counters, KILLSWITCH_TRIPS),
            ["trigger"],
        )
        yield _counter(
            "ledger_quarantined_messages",
            "Input messages that failed validation.",
            [((), s.counters.get((QUARANTINED, ""), 0))],
        )

    def _positions(self, s: _Scrape) -> Iterable[Metric]:
        pos = s.positions
        yield _gauge(
            "ledger_position_quantity",
            "Signed position quantity.",
            [((p.account, p.symbol), p.quantity) for p in pos],
            ["account", "symbol"],
        )
        yield _gauge(
            "ledger_position_value",
            "Position value at the mark (quantity x mark x multiplier), account currency.",
            [((p.account, p.symbol), position_value(p, s.marks)) for p in pos],
            ["account", "symbol"],
        )
        accounts = sorted({p.account for p in pos} | {a.account for a in s.accounts})
        zero = Decimal(0)
        yield _gauge(
            "ledger_realized_pnl",
            "Realised PnL of the account's positions.",
            [((a,), sum((p.realized_pnl for p in pos if p.account == a), zero)) for a in accounts],
            ["account"],
        )
        yield _gauge(
            "ledger_unrealized_pnl",
            "Unrealised PnL at the marks.",
            [
                ((a,), sum((unrealized_pnl(p, s.marks) for p in pos if p.account == a), zero))
                for a in accounts
            ],
            ["account"],
        )
        yield _gauge(
            "ledger_equity",
            "Equity: cash plus positions at the marks.",
            [((a.account,), a.equity) for a in s.accounts],
            ["account"],
        )
        yield _gauge(
            "ledger_drawdown_ratio",
            "Fraction of equity below its high-water mark.",
            [((a.account,), a.drawdown) for a in s.accounts],
            ["account"],
        )


def _labelled(
    counters: Mapping[tuple[str, str], int], metric: str
) -> list[tuple[tuple[str, ...], int]]:
    return [((label,), n) for (m, label), n in sorted(counters.items()) if m == metric]


def _gauge(
    name: str,
    doc: str,
    samples: Iterable[tuple[tuple[str, ...], Decimal | float | int]],
    labels: list[str] | None = None,
) -> GaugeMetricFamily:
    g = GaugeMetricFamily(name, doc, labels=labels or [])
    for values, v in samples:
        g.add_metric(list(values), float(v))
    return g


def _counter(
    name: str,
    doc: str,
    samples: Iterable[tuple[tuple[str, ...], int]],
    labels: list[str] | None = None,
) -> CounterMetricFamily:
    c = CounterMetricFamily(name, doc, labels=labels or [])
    for values, v in samples:
        c.add_metric(list(values), float(v))
    return c


class _Optional(Collector):
    """Gauges exported only once a value was set."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, float]] = {}

    def collect(self) -> Iterable[Metric]:
        for name, (doc, value) in sorted(self.values.items()):
            yield _gauge(name, doc, [((), value)])


class ServeMetrics:
    def __init__(self, version: str, collector: Collector | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        Gauge(
            "ledger_build_info", "Build of the running ledger (always 1).", ["version"], registry=r
        ).labels(version).set(1)
        self.append_latency = Histogram(
            "ledger_append_latency_seconds",
            "Time to commit one batch to the log.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "ledger_batch_size", "Events per committed batch.", buckets=BATCH_BUCKETS, registry=r
        )
        self.reconcile_breaks = Gauge(
            "ledger_reconcile_breaks",
            "Breaks found by the last reconciliation, by kind.",
            ["kind"],
            registry=r,
        )
        self.kafka_lag = Gauge(
            "ledger_kafka_consumer_lag",
            "Messages behind the end of each consumed partition.",
            ["topic", "partition"],
            registry=r,
        )
        self.ready = Gauge(
            "ledger_ready", "1 once the service has caught up with the log.", registry=r
        )
        self._optional = _Optional()
        r.register(self._optional)
        if collector is not None:
            r.register(collector)

    def observe_append(self, seconds: float, events: int) -> None:
        self.append_latency.observe(seconds)
        self.batch_size.observe(events)

    def chain_checked(self, verified: bool, position: int) -> None:
        self._optional.values["ledger_chain_verified"] = (
            "1 while the hash chain verifies, 0 once a break was found.",
            1.0 if verified else 0.0,
        )
        self._optional.values["ledger_chain_verified_position"] = (
            "Last global position whose hash was verified.",
            float(position),
        )

    def reconcile_succeeded(self, at_epoch_seconds: float, breaks: Mapping[str, int]) -> None:
        self._optional.values["ledger_reconcile_last_success_timestamp_seconds"] = (
            "When the last reconciliation succeeded (Unix time).",
            at_epoch_seconds,
        )
        for kind, n in breaks.items():
            self.reconcile_breaks.labels(kind).set(n)

    def set_kafka_lag(self, topic: str, partition: int, lag: int) -> None:
        self.kafka_lag.labels(topic, str(partition)).set(lag)
