"""The real ib_async client, through IbkrBroker, against the fake TWS server.

Nothing of ib_async is patched: it connects over loopback to
tests/fakes/fake_tws.py, which speaks the TWS socket protocol. Waits have a
generous upper bound (a hang fails the test), never a timing assertion.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.broker.port import (
    BrokerConfigError,
    BrokerOrderUnknown,
    BrokerSnapshot,
    BrokerUnreachable,
    OrderRequest,
)
from adapters.ibkr import IbkrBroker, IbkrSettings, missed_fills
from adapters.ibkr.corrections import group_corrections
from contracts.messages import ExecutionReport, ReportStatus
from tests.fakes.fake_tws import FakeTws
from tests.fakes.tws_state import TwsCommission, TwsExecution, TwsOrder, TwsPosition

ACCOUNT = "DU1234567"
T0 = datetime(2024, 1, 2, 15, 30, 5, tzinfo=UTC)  # 10:30:05 in New York
WAIT = 5.0  # upper bound for anything to arrive; a hang fails instead of blocking


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def settings(port: int, **overrides: Any) -> IbkrSettings:
    values: dict[str, Any] = dict(
        host="127.0.0.1", port=port, client_id=1, account=ACCOUNT, connect_timeout=3.0,
        reconnect_delays=(0.05,), commission_wait=2.0,
    )  # fmt: skip
    values.update(overrides)
    return IbkrSettings.load(**values)


class Collector:
    """Everything the broker calls back with, and a way to wait for it."""

    def __init__(self, broker: IbkrBroker) -> None:
        self.reports: list[ExecutionReport] = []
        self.perm_ids: list[tuple[UUID, int]] = []
        self.snapshots: list[BrokerSnapshot] = []
        self._changed = asyncio.Event()
        broker.on_report(self._add(self.reports))
        broker.on_perm_id(lambda intent, perm: self._add(self.perm_ids)((intent, perm)))
        broker.on_resync(self._add(self.snapshots))

    def _add(self, target: list[Any]) -> Callable[[Any], None]:
        def add(item: Any) -> None:
            target.append(item)
            self._changed.set()

        return add

    async def until(self, predicate: Callable[[], bool]) -> None:
        async def wait() -> None:
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(wait(), WAIT)

    def of(self, intent: UUID) -> list[ExecutionReport]:
        return [r for r in self.reports if r.intent_id == intent]

    def statuses(self, intent: UUID) -> list[str]:
        return [r.status.value for r in self.of(intent)]


async def connected(fake: FakeTws, **overrides: Any) -> tuple[IbkrBroker, Collector]:
    broker = IbkrBroker(settings(fake.port, **overrides))
    collector = Collector(broker)
    await broker.connect()
    return broker, collector


def limit(symbol: str = "AAPL", qty: str = "10", price: str = "150.5") -> OrderRequest:
    return OrderRequest(uuid4(), symbol, "BUY", Decimal(qty), "LIMIT", limit_price=Decimal(price))


def script_account(fake: FakeTws) -> dict[str, str]:
    """Positions, executions with a correction and commissions, an open and a
    completed order. Returns the intent ids used as order refs."""
    aapl, msft = fake.contract("AAPL"), fake.contract("MSFT")
    filled_ref, open_ref = str(uuid4()), str(uuid4())
    state = fake.state
    state.positions += [
        TwsPosition(ACCOUNT, aapl, Decimal(100), Decimal("150.25")),
        TwsPosition(ACCOUNT, msft, Decimal(-20), Decimal("402.1")),
        TwsPosition("DU7654321", aapl, Decimal(5), Decimal(140)),  # another account
    ]
    state.completed_orders.append(
        TwsOrder(order_id=3, perm_id=990001, client_id=1, account=ACCOUNT, contract=aapl,
                 action="BUY", quantity=Decimal(100), lmt_price=Decimal("150.3"),
                 order_ref=filled_ref, status="Filled", filled=Decimal(100),
                 avg_fill_price=Decimal("150.25"), completed_time="20240102 10:30:05 US/Eastern")
    )  # fmt: skip
    state.open_orders.append(
        TwsOrder(order_id=4, perm_id=990002, client_id=1, account=ACCOUNT, contract=msft,
                 action="SELL", quantity=Decimal(50), lmt_price=Decimal("402.5"),
                 order_ref=open_ref, status="Submitted", filled=Decimal(20),
                 avg_fill_price=Decimal("402.1"))
    )  # fmt: skip

    def ex(exec_id: str, perm: int, contract: Any, side: str, qty: str, price: str, cum: str,
           ref: str, at: datetime) -> TwsExecution:  # fmt: skip
        return TwsExecution(exec_id=exec_id, order_id=3 if perm == 990001 else 4, perm_id=perm,
                            client_id=1, account=ACCOUNT, contract=contract, side=side,
                            shares=Decimal(qty), price=Decimal(price), cum_qty=Decimal(cum),
                            avg_price=Decimal(price), time=at, order_ref=ref)  # fmt: skip

    state.executions += [
        ex("0000e0d5.aa000001.01.01", 990001, aapl, "BOT", "100", "150.2", "100", filled_ref, T0),
        # The correction of the fill above: same id up to the last '.', a new price.
        ex("0000e0d5.aa000001.01.02", 990001, aapl, "BOT", "100", "150.25", "100", filled_ref,
           T0 + timedelta(minutes=1)),
        ex("0000e0d5.aa000002.01.01", 990002, msft, "SLD", "20", "402.1", "20", open_ref,
           T0 + timedelta(minutes=2)),
    ]  # fmt: skip
    for execution, amount in zip(state.executions, ("1.00", "1.00", "1.02"), strict=True):
        state.commissions[execution.exec_id] = TwsCommission(execution.exec_id, Decimal(amount))
    return {"filled": filled_ref, "open": open_ref}


def test_connect_and_snapshot() -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT, "DU7654321"]) as fake:
            refs = script_account(fake)
            broker, seen = await connected(fake)
            # A non-standard port is allowed, with a warning for the operator.
            assert any("not a standard" in w for w in broker.warnings)
            (snap,) = seen.snapshots  # the resync after connecting
            assert snap == await broker.snapshot()
            assert snap.managed_accounts == (ACCOUNT, "DU7654321")
            assert [(p.symbol, p.quantity, p.avg_cost, p.account) for p in snap.positions] == [
                ("AAPL", Decimal(100), Decimal("150.25"), ACCOUNT),
                ("MSFT", Decimal(-20), Decimal("402.1"), ACCOUNT),
            ]
            executions = [
                (e.exec_id, e.side, e.price, e.commission, e.time) for e in snap.executions
            ]
            assert executions == [
                ("0000e0d5.aa000001.01.01", "BUY", Decimal("150.2"), Decimal(1), T0),
                ("0000e0d5.aa000001.01.02", "BUY", Decimal("150.25"), Decimal(1),
                 T0 + timedelta(minutes=1)),
                ("0000e0d5.aa000002.01.01", "SELL", Decimal("402.1"), Decimal("1.02"),
                 T0 + timedelta(minutes=2)),
            ]  # fmt: skip
            groups = group_corrections(snap.executions)
            assert [e.exec_id for e in groups.superseded] == ["0000e0d5.aa000001.01.01"]
            (open_order,) = snap.open_orders
            assert (open_order.perm_id, open_order.order_ref, open_order.status) == (
                990002, refs["open"], "PARTIAL_FILL",
            )  # fmt: skip
            assert (open_order.filled, open_order.remaining, open_order.avg_fill_price) == (
                Decimal(20), Decimal(30), Decimal("402.1"),
            )  # fmt: skip
            (done,) = snap.completed_orders
            assert (done.perm_id, done.order_ref, done.status, done.filled) == (
                990001, refs["filled"], "FILLED", Decimal(100),
            )  # fmt: skip
            # Intent id ↔ permId recorded from the orders' refs.
            assert sorted(seen.perm_ids, key=lambda p: p[1]) == [
                (UUID(refs["filled"]), 990001), (UUID(refs["open"]), 990002),
            ]  # fmt: skip
            # The executions window: only what happened since the time asked for.
            recent = await broker.snapshot(executions_since=T0 + timedelta(seconds=90))
            assert [e.exec_id for e in recent.executions] == ["0000e0d5.aa000002.01.01"]
            await broker.disconnect()
            assert not broker.is_connected

    run(scenario)


def test_place_reports_filled_with_commission() -> None:
    async def scenario() -> None:
        async with FakeTws() as fake:
            broker, seen = await connected(fake)
            order = limit(qty="10", price="150.5")
            await broker.place(order)
            await seen.until(lambda: "FILLED" in seen.statuses(order.intent_id))
            assert seen.statuses(order.intent_id) == ["SUBMITTED", "ACKNOWLEDGED", "FILLED"]
            filled = seen.of(order.intent_id)[-1]
            placed = fake.order_by_ref(str(order.intent_id))
            assert (filled.order_id, filled.exec_id, filled.account) == (
                str(placed.perm_id), fake.state.executions[-1].exec_id, ACCOUNT,
            )  # fmt: skip
            assert (filled.filled_quantity, filled.avg_fill_price) == (
                Decimal(10),
                Decimal("150.5"),
            )
            assert (filled.last_quantity, filled.last_price) == (Decimal(10), Decimal("150.5"))
            assert (filled.commission, filled.commission_currency) == (Decimal(1), "USD")
            assert seen.perm_ids == [(order.intent_id, placed.perm_id)]
            # What went over the wire: orderRef is the intent id.
            (msg,) = fake.messages_of(3)
            assert (msg[16], msg[17], msg[18], msg[19], msg[26]) == (
                "BUY", "10.0", "LMT", "150.5", str(order.intent_id),
            )  # fmt: skip
            # Placing the same intent again sends nothing.
            await broker.place(order)
            await broker.snapshot()
            assert len(fake.messages_of(3)) == 1
            await broker.disconnect()

    run(scenario)


@pytest.mark.parametrize("version", [176, 177])
def test_older_server_versions(version: int) -> None:
    async def scenario() -> None:
        async with FakeTws(server_version=version) as fake:
            refs = script_account(fake)
            broker, seen = await connected(fake)
            assert broker.server_version == version
            (snap,) = seen.snapshots
            assert [o.order_ref for o in snap.completed_orders] == [refs["filled"]]
            assert [o.order_ref for o in snap.open_orders] == [refs["open"]]
            order = limit()
            await broker.place(order)
            await seen.until(lambda: "FILLED" in seen.statuses(order.intent_id))
            assert seen.of(order.intent_id)[-1].commission == Decimal(1)
            await broker.disconnect()

    run(scenario)


def test_rejection_201() -> None:
    async def scenario() -> None:
        async with FakeTws() as fake:
            fake.on_place = "reject"
            broker, seen = await connected(fake)
            order = limit()
            await broker.place(order)
            await seen.until(lambda: "REJECTED" in seen.statuses(order.intent_id))
            await broker.snapshot()  # everything TWS sent has been processed by now
            assert seen.statuses(order.intent_id) == ["REJECTED"]
            (rejected,) = seen.of(order.intent_id)
            assert rejected.reject_reason is not None
            assert rejected.reject_reason.startswith("201: Order rejected")
            assert rejected.filled_quantity == 0
            await broker.disconnect()

    run(scenario)


def test_cancel_202_and_cancel_all() -> None:
    async def scenario() -> None:
        async with FakeTws() as fake:
            fake.on_place = "rest"
            broker, seen = await connected(fake)
            first, second, third = limit(), limit("MSFT"), limit("IBM")
            for order in (first, second, third):
                await broker.place(order)
            await seen.until(
                lambda: all(
                    "ACKNOWLEDGED" in seen.statuses(o.intent_id) for o in (first, second, third)
                )
            )
            await broker.cancel(first.intent_id)
            await seen.until(lambda: "CANCELED" in seen.statuses(first.intent_id))
            assert seen.statuses(first.intent_id) == ["SUBMITTED", "ACKNOWLEDGED", "CANCELED"]
            assert seen.of(first.intent_id)[-1].reject_reason is None
            with pytest.raises(BrokerOrderUnknown):
                await broker.cancel(first.intent_id)  # no longer working
            await broker.cancel_all()
            await seen.until(
                lambda: all("CANCELED" in seen.statuses(o.intent_id) for o in (second, third))
            )
            snap = await broker.snapshot()
            assert snap.open_orders == ()
            assert sorted(o.status for o in snap.completed_orders) == ["CANCELED"] * 3
            assert len(fake.messages_of(4)) == 1 and len(fake.messages_of(58)) == 1
            await broker.disconnect()

    run(scenario)


def test_live_correction_is_reported_under_its_own_exec_id() -> None:
    async def scenario() -> None:
        async with FakeTws() as fake:
            broker, seen = await connected(fake)
            order = limit()
            await broker.place(order)
            await seen.until(lambda: "FILLED" in seen.statuses(order.intent_id))
            original = fake.state.executions[-1]
            corrected = await fake.correct(original, Decimal("150.45"))
            await seen.until(lambda: len(seen.of(order.intent_id)) == 4)
            last = seen.of(order.intent_id)[-1]
            assert (last.exec_id, last.last_price, last.commission) == (
                corrected.exec_id, Decimal("150.45"), Decimal(1),
            )  # fmt: skip
            snap = await broker.snapshot()
            groups = group_corrections(snap.executions)
            assert [e.exec_id for e in groups.effective] == [corrected.exec_id]
            await broker.disconnect()

    run(scenario)


def test_fill_while_disconnected_appears_after_reconnect() -> None:
    async def scenario() -> None:
        async with FakeTws() as fake:
            fake.on_place = "rest"
            broker, seen = await connected(fake)
            order = limit(qty="10")
            await broker.place(order)
            await seen.until(lambda: "ACKNOWLEDGED" in seen.statuses(order.intent_id))
            await fake.drop_connections()
            # Filled while nobody is connected: no live event can announce it.
            resting = fake.order_by_ref(str(order.intent_id))
            missed = await fake.fill(resting, Decimal(10), Decimal("150.4"))
            await seen.until(lambda: len(seen.snapshots) == 2)  # reconnected and resynced
            assert fake.connection_count == 2 and broker.is_connected
            after = seen.snapshots[-1]
            (execution,) = after.executions
            assert (execution.exec_id, execution.commission) == (missed.exec_id, Decimal(1))
            assert missed.exec_id not in {r.exec_id for r in seen.reports}
            # What the caller feeds the ledger: the fill it never saw, as a report.
            known = {r.exec_id for r in seen.reports if r.exec_id}
            (report,) = missed_fills(after, known).reports
            assert (report.intent_id, report.status, report.exec_id) == (
                order.intent_id, ReportStatus.FILLED, missed.exec_id,
            )  # fmt: skip
            assert (report.last_quantity, report.last_price, report.commission) == (
                Decimal(10), Decimal("150.4"), Decimal(1),
            )  # fmt: skip
            await broker.disconnect()

    run(scenario)


def test_resent_commission_reports_are_deduplicated() -> None:
    async def scenario() -> None:
        async with FakeTws() as fake:
            broker, seen = await connected(fake)
            order = limit()
            await broker.place(order)
            await seen.until(lambda: "FILLED" in seen.statuses(order.intent_id))
            exec_id = fake.state.executions[-1].exec_id
            await fake.drop_connections()
            await seen.until(lambda: len(seen.snapshots) == 2)
            await fake.resend_commissions()
            await fake.resend_commissions()
            snap = await broker.snapshot()  # a round trip: the re-sent reports are processed
            assert [r.exec_id for r in seen.reports if r.exec_id] == [exec_id]
            (execution,) = snap.executions
            assert (execution.exec_id, execution.commission) == (exec_id, Decimal(1))
            assert missed_fills(snap, {exec_id}).reports == ()
            await broker.disconnect()

    run(scenario)


def test_wrong_account_is_refused() -> None:
    async def scenario() -> None:
        async with FakeTws(["DU1234567"]) as fake:
            broker = IbkrBroker(settings(fake.port, account="DU9999999"))
            with pytest.raises(BrokerConfigError, match="DU9999999 is not managed"):
                await broker.connect()
            assert not broker.is_connected
            with pytest.raises(BrokerUnreachable):
                await broker.place(limit())

    run(scenario)


def test_several_accounts_need_one_configured() -> None:
    async def scenario() -> None:
        async with FakeTws(["DU1", "DU2"]) as fake:
            broker = IbkrBroker(settings(fake.port, account=None))
            with pytest.raises(BrokerConfigError, match="manages 2 accounts"):
                await broker.connect()

    run(scenario)


@pytest.mark.parametrize(("port", "account"), [(4001, "DU1234567"), (7497, "U1234567")])
def test_paper_live_port_mismatch_is_refused_before_connecting(port: int, account: str) -> None:
    async def scenario() -> None:
        async with FakeTws([account]) as fake:
            broker = IbkrBroker(settings(port, account=account))
            with pytest.raises(BrokerConfigError, match="refused"):
                await broker.connect()
            assert fake.connection_count == 0

    run(scenario)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_port() -> None:
    async def scenario() -> None:
        broker = IbkrBroker(settings(free_port(), connect_timeout=2.0))
        with pytest.raises(BrokerUnreachable, match="cannot connect"):
            await broker.connect()
        with pytest.raises(BrokerUnreachable):
            await broker.snapshot()

    run(scenario)


def test_client_id_in_use_is_unreachable() -> None:
    async def scenario() -> None:
        async with FakeTws() as fake:
            fake.busy_client_ids = {1}
            broker = IbkrBroker(settings(fake.port, connect_timeout=2.0))
            with pytest.raises(BrokerUnreachable, match="already in use"):
                await broker.connect()

    run(scenario)
