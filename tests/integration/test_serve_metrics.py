"""The serve loop and its metrics in-process, on both stores: every exported value equals
what the read models say; readiness, health and fail-stop as `/ready` and `/health` show."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
from click.testing import CliRunner
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from adapters.projections import ProjectionStore, open_projection_store
from adapters.projections.service import (
    ChainWatch,
    ProjectionFollower,
    ServeContext,
    ServeLoop,
    instrument_appends,
)
from adapters.projections.waiter import PollWaiter
from domain.application import LedgerApplication
from domain.clock import FixedClock
from domain.killswitch import KillSwitchCommand
from domain.ledger import Operator
from projections.metrics import LedgerCollector, ServeMetrics
from projections.readers import ReadModels, position_value, read, unrealized_pnl
from replay.cli import cli
from tests.conftest import T0, make_app
from tests.unit.projections.helpers import (
    append_unknown_order_event,
    demo_lines,
    ingest,
    more_messages,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def app(store_url: str) -> LedgerApplication:
    return make_app(store_url)


@pytest.fixture
def store(store_url: str) -> Iterator[ProjectionStore]:
    s = open_projection_store(store_url)
    yield s
    s.close()


def _context(
    store: ProjectionStore, app: LedgerApplication | None = None
) -> tuple[ServeContext, ServeMetrics]:
    clock = FixedClock(T0)
    metrics = ServeMetrics("9.9.9", LedgerCollector(store.read_engine, store.source, clock))
    ctx = ServeContext(
        store,
        metrics,
        clock,
        threading.Event(),
        lambda _: None,
        open_ledger=(lambda: app) if app is not None else None,
    )
    return ctx, metrics


def _samples(metrics: ServeMetrics) -> Samples:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _run_until_idle(loop: ServeLoop) -> None:
    for c in loop.components:
        c.start(loop.ctx)
    while any([c.tick(loop.ctx) for c in loop.components]):
        pass
    loop.ready()


def test_exported_values_equal_the_read_models(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    ingest(app, demo_lines())
    ingest(app, more_messages(), source="file:/more.jsonl")
    app.command_killswitch(KillSwitchCommand.TRIP, "test", Operator("qa"))
    ctx, metrics = _context(store)
    loop = ServeLoop(
        ctx,
        [ProjectionFollower(batch_size=10), ChainWatch(rows_per_tick=7)],
        PollWaiter(ctx.stop),
        0.01,
    )
    assert loop.ready() == (False, "not ready: projections")
    _run_until_idle(loop)

    got = _samples(metrics)

    def expected(m: ReadModels) -> Samples:
        marks = m.marks()
        out: Samples = {}
        for p in m.position_figures():
            labels = (("account", p.account), ("symbol", p.symbol))
            out[("ledger_position_quantity", labels)] = float(p.quantity)
            out[("ledger_position_value", labels)] = float(position_value(p, marks))
        for a in m.accounts():
            out[("ledger_equity", (("account", a.account),))] = float(a.equity)
            out[("ledger_drawdown_ratio", (("account", a.account),))] = float(a.drawdown)
        pos = m.position_figures()
        out[("ledger_realized_pnl", (("account", "SIM"),))] = float(
            sum((p.realized_pnl for p in pos), Decimal(0))
        )
        out[("ledger_unrealized_pnl", (("account", "SIM"),))] = float(
            sum((unrealized_pnl(p, marks) for p in pos), Decimal(0))
        )
        for status, n in m.order_counts().items():
            out[("ledger_orders", (("status", status),))] = n
        for (metric, label), n in m.counters().items():
            key = {"events_appended": "type", "killswitch_trips": "trigger"}.get(metric)
            name = f"ledger_{metric}_total"
            out[(name, ((key, label),) if key else ())] = n
        for g in m.progress(store.source):
            out[("ledger_projection_position", (("projection", g.projection),))] = g.position
            out[("ledger_projection_lag_events", (("projection", g.projection),))] = 0
        return out

    want = read(store.read_engine, expected)
    assert {k: got.get(k) for k in want} == want
    head = app.position
    assert got[("ledger_global_position", ())] == head
    assert got[("ledger_killswitch_state", ())] == 2
    assert got[("ledger_orders", (("status", "EXPIRED"),))] == 0
    assert got[("ledger_build_info", (("version", "9.9.9"),))] == 1
    assert got[("ledger_chain_verified", ())] == 1
    assert got[("ledger_chain_verified_position", ())] == head
    assert got[("ledger_ready", ())] == 1
    assert loop.health() == (True, "ok")
    assert ("ledger_reconcile_last_success_timestamp_seconds", ()) not in got


def test_appends_are_timed_and_lag_is_exported(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    ctx, metrics = _context(store, app)
    loop = ServeLoop(ctx, [ProjectionFollower()], PollWaiter(ctx.stop), 0.01)
    _run_until_idle(loop)
    ingest(ctx.ledger_app(), demo_lines(), batch_size=10)

    got = _samples(metrics)
    assert got[("ledger_batch_size_count", ())] == 3
    assert got[("ledger_batch_size_sum", ())] == app.position
    assert got[("ledger_append_latency_seconds_count", ())] == 3
    lag = ("ledger_projection_lag_events", (("projection", "orders"),))
    assert got[lag] == app.position
    # The clock is fixed at T0 and the events were recorded from T0 on: no negative lag.
    assert got[("ledger_projection_lag_seconds", (("projection", "orders"),))] == 0
    metrics.reconcile_succeeded(1_763_400_000.0, {"position": 2})
    metrics.set_kafka_lag("exec_reports", 0, 4)
    got = _samples(metrics)
    assert got[("ledger_reconcile_last_success_timestamp_seconds", ())] == 1_763_400_000.0
    assert got[("ledger_reconcile_breaks", (("kind", "position"),))] == 2
    assert got[("ledger_kafka_consumer_lag", (("partition", "0"), ("topic", "exec_reports")))] == 4
    instrument_appends(app, metrics)  # a second time changes nothing
    ingest(app, more_messages(), source="file:/more.jsonl")
    assert _samples(metrics)[("ledger_batch_size_count", ())] == 4


def test_a_failing_projection_shows_in_health_and_the_others_go_on(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    ingest(app, demo_lines())
    bad = append_unknown_order_event(app)
    ctx, metrics = _context(store)
    logged: list[str] = []
    ctx.log = logged.append
    loop = ServeLoop(ctx, [ProjectionFollower()], PollWaiter(ctx.stop), 0.01)
    _run_until_idle(loop)

    ok, text = loop.health()
    assert not ok
    assert f"global position {bad} (OrderAcknowledged)" in text
    assert any("'orders'" in line for line in logged)
    assert loop.ready()[0] is False
    got = _samples(metrics)
    assert got[("ledger_ready", ())] == 0
    head = bad + 1
    for name in ("positions", "account", "killswitch", "metrics"):
        assert got[("ledger_projection_position", (("projection", name),))] == head
    assert got[("ledger_projection_position", (("projection", "orders"),))] < bad
    assert got[("ledger_projection_lag_events", (("projection", "orders"),))] > 0


def test_serve_exits_4_when_its_port_is_taken(sqlite_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["--store", sqlite_url, "serve", "--metrics-port", str(port)]
        )
    assert result.exit_code == 4
    assert result.stderr.startswith(f"ledger: error: cannot listen on 127.0.0.1:{port}")


def test_a_reconciliation_run_in_the_log_reaches_the_metrics(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    """`ledger_reconcile_last_success_timestamp_seconds` and `ledger_reconcile_breaks{kind}`
    follow the last ReconciliationRecorded event; an unreachable run is no success."""
    counts = '{"remaining": {"missing_in_ledger": 2, "quantity_mismatch": 0}}'
    app.command(
        lambda lg, now: lg.record_reconciliation("r1", "sim", "breaks", counts, "[]", False, now)
    )
    ctx, metrics = _context(store, app)
    loop = ServeLoop(ctx, [ProjectionFollower(), ChainWatch()], PollWaiter(ctx.stop), 0.01)
    _run_until_idle(loop)
    s = _samples(metrics)
    first = s[("ledger_reconcile_last_success_timestamp_seconds", ())]
    assert first == T0.timestamp()
    assert s[("ledger_reconcile_breaks", (("kind", "missing_in_ledger"),))] == 2
    app.command(
        lambda lg, now: lg.record_reconciliation("r2", "sim", "unreachable", "{}", "[]", False, now)
    )
    _run_until_idle(loop)
    s = _samples(metrics)
    assert s[("ledger_reconcile_last_success_timestamp_seconds", ())] == first
