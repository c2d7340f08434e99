"""Reconciliation against IBKR: the real ib_async client, the fake TWS, a SQLite ledger.

The ledger's state is made the way production makes it: intents routed to
the fake TWS by the router, reports coming back. Then the broker's side is
changed behind the ledger's back (a fill while disconnected, a correction,
an order placed in TWS by hand, ...) and `reconcile` must find it, with
evidence, and `--apply` must book it through the normal path, once.
"""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import orjson
import pytest

from adapters.broker.port import BrokerUnreachable
from adapters.reconcile import ReconcileReport, reconcile
from adapters.routing import BrokerRouter
from domain import events as ev
from domain.application import LedgerApplication
from tests.fakes.fake_tws import FakeTws
from tests.fakes.tws_state import TwsCommission, TwsExecution, TwsOrder, TwsPosition
from tests.integration.test_reconcile_support import (
    ACCOUNT,
    Intents,
    events_of,
    ibkr,
    open_app,
    run,
    status,
    until,
)


async def routed(
    app: LedgerApplication, fake: FakeTws, *orders: tuple[str, str], **kw: object
) -> list[UUID]:
    """Route (qty, limit) intents through a router until each is settled, then hang up."""
    router = BrokerRouter(app, ibkr(fake.port, **kw))
    await router.start()
    intents = Intents(app)
    ids = [intents.send(qty=qty, limit=limit) for qty, limit in orders]
    settled = {"FILLED", "ACKNOWLEDGED", "REJECTED"}
    await until(lambda: all(status(app, i) in settled for i in ids), "settled orders")
    await router.idle()
    await router.stop()
    return ids


async def reconciled(app: LedgerApplication, fake: FakeTws, apply: bool = False) -> ReconcileReport:
    return await reconcile(app, ibkr(fake.port), broker_name="ibkr", apply=apply)


def kinds(report: ReconcileReport, *, remaining: bool = False) -> list[tuple[str, str]]:
    breaks = report.remaining.breaks if remaining else report.breaks
    return sorted((b.kind.value, b.item) for b in breaks)


def test_clean_agreement_is_recorded(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            app = open_app(sqlite_url)
            await routed(app, fake, ("10", "150.5"), ("5", "151"))
            fake.on_place = "rest"
            await routed(app, fake, ("7", "149"))
            report = await reconciled(app, fake)
            assert report.breaks == []
            assert report.result == "agreed"
            assert report.found.compared == {"positions": 1, "executions": 2, "orders": 3}
            (record,) = events_of(app, ev.ReconciliationRecorded)
            assert (record.run_id, record.broker, record.result, record.applied) == (
                report.run_id,
                "ibkr",
                "agreed",
                False,
            )
            counts = orjson.loads(record.counts)
            assert counts["remaining"]["missing_in_ledger"] == 0
            assert set(counts["remaining"]) >= {"unknown_order", "status_mismatch"}
            assert record.recorded_at == report.as_of or record.recorded_at > report.as_of
            assert report.run_id.startswith("ibkr-") and report.account == ACCOUNT

    run(scenario)


def test_fill_missed_during_a_disconnect_is_found_and_booked_once(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            fake.on_place = "rest"
            app = open_app(sqlite_url)
            (intent,) = await routed(app, fake, ("10", "150.5"))
            # Filled while the ledger was not connected.
            missed = await fake.fill(fake.order_by_ref(str(intent)), Decimal(10), Decimal("150.4"))
            report = await reconciled(app, fake)
            assert kinds(report) == [
                ("missing_in_ledger", "execution"),
                ("missing_in_ledger", "position"),
            ]
            fill = next(b for b in report.breaks if b.item == "execution")
            assert fill.key == missed.exec_id
            assert fill.broker["price"] == "150.4" and fill.broker["commission"] == "1"
            assert fill.ledger["order_status"] == "ACKNOWLEDGED"
            assert fill.remedy == f"book fill {missed.exec_id}"
            assert status(app, intent) == "ACKNOWLEDGED"  # without --apply nothing is booked

            applied = await reconciled(app, fake, apply=True)
            assert (applied.result, applied.booking.booked) == ("applied", 1)
            assert applied.remaining.breaks == []
            assert status(app, intent) == "FILLED"
            filled = events_of(app, ev.OrderFilled)[-1]
            assert filled.source == f"broker:ibkr:reconcile:{applied.run_id}@1"
            assert (filled.exec_id, filled.commission) == (missed.exec_id, Decimal(1))
            assert app.ledger.positions[(ACCOUNT, "AAPL")].quantity == 10

            before = len(list(app.read_events()))
            again = await reconciled(app, fake, apply=True)
            assert (again.result, again.booking.booked) == ("agreed", 0)
            new = [e for _, e in app.read_events()][before:]
            assert [type(e) for e in new] == [ev.ReconciliationRecorded]

    run(scenario)


def test_execution_correction_is_booked_as_the_corrected_exec_id(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            app = open_app(sqlite_url)
            (intent,) = await routed(app, fake, ("10", "150.5"))
            original = fake.state.executions[-1]
            corrected = await fake.correct(original, Decimal("150.45"))  # nobody connected
            fake.state.positions[0].avg_cost = Decimal("150.45")
            report = await reconciled(app, fake)
            assert kinds(report) == [
                ("avg_cost_mismatch", "position"),
                ("correction_pending", "execution"),
            ]
            pending = next(b for b in report.breaks if b.kind.value == "correction_pending")
            assert (pending.key, pending.ledger["exec_id"]) == (corrected.exec_id, original.exec_id)
            assert pending.broker["supersedes"] == original.exec_id
            applied = await reconciled(app, fake, apply=True)
            assert applied.result == "applied"
            (event,) = events_of(app, ev.OrderFillCorrected)
            assert (event.replaced_exec_id, event.exec_id) == (original.exec_id, corrected.exec_id)
            assert list(app.ledger.orders[intent].fills) == [corrected.exec_id]
            assert app.ledger.positions[(ACCOUNT, "AAPL")].avg_price == Decimal("150.45")
            assert (await reconciled(app, fake)).result == "agreed"

    run(scenario)


def test_commission_known_only_to_the_broker_is_booked(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            fake.on_place = "rest"
            app = open_app(sqlite_url)
            (intent,) = await routed(app, fake, ("10", "150.5"))
            router = BrokerRouter(app, ibkr(fake.port, commission_wait=0))
            await router.start()
            order = fake.order_by_ref(str(intent))
            execution = await fake.fill(order, Decimal(10), Decimal("150.5"), commission=False)
            await until(lambda: status(app, intent) == "FILLED", "the fill")
            await router.stop()
            # The commission report TWS sends again after a reconnect.
            fake.state.commissions[execution.exec_id] = TwsCommission(
                execution.exec_id, Decimal("1.30")
            )
            report = await reconciled(app, fake, apply=True)
            assert kinds(report) == [("commission_mismatch", "execution")]
            (found,) = report.breaks
            assert (found.ledger["commission"], found.broker["commission"]) == ("0", "1.3")
            assert report.result == "applied"
            assert app.ledger.orders[intent].fills[execution.exec_id].commission == Decimal("1.3")
            assert app.ledger.positions[(ACCOUNT, "AAPL")].commission == Decimal("1.3")

    run(scenario)


def _script_manual_order(fake: FakeTws, order_ref: str = "") -> TwsExecution:
    """An order placed in TWS by hand (no intent id), filled, with its position."""
    msft = fake.contract("MSFT")
    perm = fake.next_perm_id()
    order = TwsOrder(
        order_id=0,
        perm_id=perm,
        client_id=0,
        account=ACCOUNT,
        contract=msft,
        action="SELL",
        quantity=Decimal(20),
        lmt_price=Decimal("402.5"),
        order_ref=order_ref,
        status="Filled",
        filled=Decimal(20),
        avg_fill_price=Decimal("402.5"),
        completed_time="20240102 10:30:05 US/Eastern",
    )
    execution = TwsExecution(
        exec_id=fake.new_exec_id(perm),
        order_id=0,
        perm_id=perm,
        client_id=0,
        account=ACCOUNT,
        contract=msft,
        side="SLD",
        shares=Decimal(20),
        price=Decimal("402.5"),
        cum_qty=Decimal(20),
        avg_price=Decimal("402.5"),
        time=datetime.now(UTC),
        order_ref=order_ref,
    )
    fake.state.completed_orders.append(order)
    fake.state.executions.append(execution)
    fake.state.commissions[execution.exec_id] = TwsCommission(execution.exec_id, Decimal(1))
    fake.state.apply_fill(ACCOUNT, msft, Decimal(-20), Decimal("402.5"))
    return execution


@pytest.mark.parametrize("order_ref", ["", "lost-intent"])
def test_order_the_ledger_does_not_know_is_booked_as_external(
    sqlite_url: str, order_ref: str
) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            app = open_app(sqlite_url)
            await routed(app, fake, ("10", "150.5"))
            ref = str(uuid4()) if order_ref == "lost-intent" else order_ref
            execution = _script_manual_order(fake, ref)
            report = await reconciled(app, fake)
            assert kinds(report) == [("missing_in_ledger", "position"), ("unknown_order", "order")]
            unknown = next(b for b in report.breaks if b.kind.value == "unknown_order")
            assert unknown.key == f"perm:{execution.perm_id}"
            assert unknown.broker["executions"] == execution.exec_id
            assert unknown.broker["order_ref"] == ref
            applied = await reconciled(app, fake, apply=True)
            assert applied.result == "applied", applied.remaining.breaks
            (external,) = [o for o in app.ledger.orders.values() if o.origin == "broker"]
            if ref:
                assert external.intent_id == UUID(ref)
            assert (external.status.value, external.side, external.filled) == (
                "FILLED",
                "SELL",
                Decimal(20),
            )
            assert external.broker_order_id == str(execution.perm_id)
            assert app.ledger.positions[(ACCOUNT, "MSFT")].quantity == -20
            again = await reconciled(app, fake, apply=True)
            assert (again.result, again.booking.booked) == ("agreed", 0)

    run(scenario)


def test_position_mismatch_is_reported_not_booked(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            app = open_app(sqlite_url)
            await routed(app, fake, ("10", "150.5"))
            aapl = fake.state.positions[0]
            fake.state.positions[0] = replace(aapl, quantity=Decimal(12))
            fake.state.positions.append(
                TwsPosition(ACCOUNT, fake.contract("IBM"), Decimal(3), Decimal(120))
            )
            report = await reconciled(app, fake, apply=True)
            assert kinds(report) == [
                ("missing_in_ledger", "position"),
                ("quantity_mismatch", "position"),
            ]
            mismatch = next(b for b in report.breaks if b.kind.value == "quantity_mismatch")
            assert (mismatch.key, mismatch.ledger["quantity"], mismatch.broker["quantity"]) == (
                f"{ACCOUNT}/AAPL",
                "10",
                "12",
            )
            assert mismatch.remedy == "report only"
            assert report.result == "breaks" and report.booking.booked == 0
            assert len(report.remaining.breaks) == 2
            (record,) = events_of(app, ev.ReconciliationRecorded)
            assert orjson.loads(record.counts)["remaining"]["quantity_mismatch"] == 1
            rows = orjson.loads(record.breaks)
            assert [r["resolved"] for r in rows] == [False, False]

    run(scenario)


def test_fill_of_an_order_the_ledger_holds_rejected(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            fake.on_place = "reject"
            app = open_app(sqlite_url)
            (intent,) = await routed(app, fake, ("10", "150.5"))
            assert status(app, intent) == "REJECTED"
            # Yet the broker filled it (the rejection was wrong).
            order = fake.order_by_ref(str(intent))
            order.status = "Filled"
            await fake.fill(order, Decimal(10), Decimal("150.5"))
            order.status = "Filled"
            report = await reconciled(app, fake)
            assert kinds(report) == [
                ("missing_in_ledger", "execution"),
                ("missing_in_ledger", "position"),
                ("status_mismatch", "order"),
            ]
            mismatch = next(b for b in report.breaks if b.kind.value == "status_mismatch")
            assert (mismatch.ledger["status"], mismatch.broker["status"]) == ("REJECTED", "FILLED")
            applied = await reconciled(app, fake, apply=True)
            assert applied.result == "applied", applied.remaining.breaks
            (corrected,) = events_of(app, ev.OrderStatusCorrected)
            assert (corrected.previous_status, corrected.status, corrected.run_id) == (
                "REJECTED",
                "ACKNOWLEDGED",
                applied.run_id,
            )
            assert status(app, intent) == "FILLED"
            assert app.ledger.positions[(ACCOUNT, "AAPL")].quantity == 10

    run(scenario)


def test_unreachable_broker_is_recorded(sqlite_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def scenario() -> None:
        app = open_app(sqlite_url)
        with pytest.raises(BrokerUnreachable):
            await reconcile(app, ibkr(port, connect_timeout=2.0), broker_name="ibkr")
        (record,) = events_of(app, ev.ReconciliationRecorded)
        assert (record.result, record.broker) == ("unreachable", "ibkr")
        assert "cannot connect" in orjson.loads(record.counts)["error"]

    run(scenario)
