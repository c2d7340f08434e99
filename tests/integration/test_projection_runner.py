"""The projection runner on the real stores (SQLite and PostgreSQL): read models equal the
in-memory ledger, checkpoints move with the rows, restarts resume, fail-stop names the event."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from uuid import UUID

import pytest
from sqlalchemy import select

from adapters.projections import ProjectionStore, make_waiter, open_projection_store
from adapters.projections.waiter import ListenWaiter
from domain import events as ev
from domain.application import LedgerApplication
from domain.killswitch import KillSwitchCommand
from domain.ledger import Operator
from projections.base import ProjectionFailed
from projections.readers import read
from projections.rebuild import rebuild
from projections.registry import ALL, table_of
from projections.runner import ProjectionRunner, set_up
from projections.schema import checkpoints, live_versions
from projections.views import killswitch_row, order_rows, position_rows
from tests.conftest import T0, make_app
from tests.support.services import postgres_schema, postgres_store_url
from tests.unit.projections.helpers import (
    append_unknown_order_event,
    catch_up,
    demo_lines,
    dump,
    ingest,
    more_messages,
)


@pytest.fixture
def app(store_url: str) -> LedgerApplication:
    return make_app(store_url)


@pytest.fixture
def store(store_url: str) -> Iterator[ProjectionStore]:
    s = open_projection_store(store_url)
    yield s
    s.close()


def fill_log(app: LedgerApplication) -> None:
    ingest(app, demo_lines(), source="file:/demo.jsonl", batch_size=7)
    ingest(app, more_messages(), source="file:/more.jsonl", batch_size=3)
    app.command_killswitch(KillSwitchCommand.TRIP, "lunch", Operator("ops"))
    app.command_killswitch(KillSwitchCommand.REDUCE_ONLY, "exits only", Operator("ops"))


def test_read_models_equal_the_in_memory_ledger(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    fill_log(app)
    catch_up(store, batch_size=9)
    ledger = app.ledger

    assert read(store.read_engine, lambda m: m.positions()) == position_rows(ledger)
    assert read(store.read_engine, lambda m: m.orders()) == order_rows(ledger)
    assert read(store.read_engine, lambda m: m.orders(open_only=True)) == order_rows(
        ledger, open_only=True
    )
    assert read(store.read_engine, lambda m: m.killswitch()) == killswitch_row(ledger)
    [account] = read(store.read_engine, lambda m: m.accounts())
    a = ledger.account
    assert (
        account.account,
        account.cash,
        account.equity,
        account.high_water_mark,
        account.drawdown,
    ) == (a.name, a.cash, a.equity(), a.high_water_mark, a.drawdown(a.equity()))
    assert read(store.read_engine, lambda m: m.marks()) == a.marks

    events = list(app.read_events())
    counts = read(store.read_engine, lambda m: m.counters())
    by_type = Counter(type(e).__name__ for _, e in events)
    assert {k: n for (m, k), n in counts.items() if m == "events_appended"} == by_type
    assert counts[("quarantined_messages", "")] == 1
    assert counts[("killswitch_trips", "manual")] == 1

    rows = dump(store, ["audit_index", "account"])
    audit = rows["audit_index"]["audit_index"]
    assert [r[0] for r in audit] == [p for p, _ in events]
    held = next(r for r in audit if r[4] == "ExecutionReportHeld")
    assert (held[1], held[5], held[6]) == ("HeldReports", str(UUID(int=21)), "SPY")
    fills = [r for r in audit if r[4] == "OrderFilled"]
    assert {(r[5], r[6]) for r in fills} >= {(str(UUID(int=21)), "SPY")}
    curve = rows["account"]["account_curve"]
    assert curve[-1][4:7] == (str(a.cash), str(a.equity()), str(a.high_water_mark))
    assert curve[0][3] == "AccountOpened"


def test_a_restarted_runner_resumes_from_its_checkpoint(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    fill_log(app)
    set_up(store.engine)
    first = ProjectionRunner(store.engine, store.source, batch_size=4)
    for _ in range(3):
        first.run_once()
    with store.engine.connect() as conn:
        versions = live_versions(conn)
        assert set(checkpoints(conn, versions.items()).values()) == {12}
    # A new process: the account state comes back from its table, nothing is applied twice.
    ProjectionRunner(store.engine, store.source, batch_size=5).catch_up()
    incremental = dump(store)

    rebuild(store.engine, store.source, ALL)
    assert dump(store) == incremental


def test_two_runners_at_once_apply_every_batch_once(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    fill_log(app)
    set_up(store.engine)
    a = ProjectionRunner(store.engine, store.source, batch_size=3)
    b = ProjectionRunner(store.engine, store.source, batch_size=7)
    a.run_once()
    b.run_once()  # b starts where a left off; a's state is now stale and must be reloaded
    errors: list[BaseException] = []

    def run(runner: ProjectionRunner) -> None:
        try:
            runner.catch_up()
        except BaseException as e:  # reported below: a thread's failure must fail the test
            errors.append(e)

    threads = [threading.Thread(target=run, args=(r,)) for r in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    both = dump(store)
    rebuild(store.engine, store.source, ALL)
    assert dump(store) == both


def test_catching_up_after_an_ingest_reads_only_the_new_events(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    ingest(app, demo_lines())
    first = catch_up(store)
    assert first == app.position
    ingest(app, more_messages(), source="file:/more.jsonl")
    assert catch_up(store) == app.position - first
    assert catch_up(store) == 0


def test_a_projection_stops_at_an_event_it_cannot_process(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    ingest(app, demo_lines())
    catch_up(store)
    bad = append_unknown_order_event(app)

    set_up(store.engine)
    runner = ProjectionRunner(store.engine, store.source, ["orders"])
    with pytest.raises(ProjectionFailed) as failed:
        runner.catch_up()
    assert (failed.value.projection, failed.value.position, failed.value.event_type) == (
        "orders",
        bad,
        "OrderAcknowledged",
    )
    assert f"global position {bad} (OrderAcknowledged)" in str(failed.value)
    assert "orders" in runner.failed

    # Restarted, it resumes from its checkpoint and stops at the same event: nothing skipped.
    with pytest.raises(ProjectionFailed) as again:
        ProjectionRunner(store.engine, store.source, ["orders"]).catch_up()
    assert again.value.position == bad
    with store.engine.connect() as conn:
        v = live_versions(conn)["orders"]
        assert checkpoints(conn, [("orders", v)])[("orders", v)] == bad - 1
        orders = table_of("orders", v, "orders")
        last = conn.scalar(select(orders.c.position).order_by(orders.c.position.desc()))
        assert last is not None and last < bad

    # Projections that do not read that event go on to the head.
    catch_up(store, ["positions", "account", "killswitch", "metrics"])
    assert read(store.read_engine, lambda m: m.marks())["AAPL"] == Decimal("230.00")


def test_a_second_intent_for_an_order_in_a_later_batch_is_named(
    app: LedgerApplication, store: ProjectionStore
) -> None:
    """The orders table's key refuses it; the projection names the event, on both stores
    (PostgreSQL's transaction survives the refused insert: a savepoint), and stops."""
    ingest(app, demo_lines())
    catch_up(store, ["orders"])
    first = next(iter(app.ledger.orders.values()))
    again = ev.OrderIntentRecorded(
        originator_id=first.intent_id,
        originator_version=app.ledger.versions[first.intent_id] + 1,
        occurred_at=T0,
        recorded_at=T0 + timedelta(days=1),
        source="test",
        status="NEW",
        symbol=first.symbol,
        side=first.side,
        quantity=first.quantity,
        order_type=first.order_type,
        limit_price=None,
        stop_price=None,
        account=first.account,
        origin="intent",
    )
    head = app.store.max_notification_id() or 0
    app.store.append([app.ledger_mapper.to_stored_event(again)], sources={}, expected_position=head)
    runner = ProjectionRunner(store.engine, store.source, ["orders"])
    with pytest.raises(ProjectionFailed) as failed:
        runner.catch_up()
    assert (failed.value.position, failed.value.event_type) == (head + 1, "OrderIntentRecorded")
    assert "already in the read model" in failed.value.reason
    with store.engine.connect() as conn:
        v = live_versions(conn)["orders"]
        assert checkpoints(conn, [("orders", v)])[("orders", v)] == head


def test_postgres_waiter_wakes_on_an_append() -> None:
    with postgres_schema() as schema:
        url = postgres_store_url(schema)
        app = make_app(url)
        store = open_projection_store(url)
        waiter = make_waiter(store, threading.Event())
        try:
            assert isinstance(waiter, ListenWaiter)
            waiter.listen()
            ingest(app, demo_lines()[:3])
            assert waiter.wait(30) is True
        finally:
            waiter.close()
            store.close()
