"""The simulated broker: fills at the next bar's open with slippage and commission, the
other order types, cancels, its book, the broker port, and a book rebuilt from the log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid5

import pytest

from adapters.broker.port import BrokerOrderUnknown, BrokerPort, OrderRequest
from adapters.broker.sim import SimBroker, SimCosts
from contracts import ExecutionReport, ReportStatus
from domain.clock import FixedClock

T0 = datetime(2024, 1, 2, 21, tzinfo=UTC)
T1 = T0 + timedelta(days=1)
NS = UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")
D = Decimal


def iid(n: int) -> UUID:
    return uuid5(NS, f"intent-{n}")


def market(n: int, side: str = "BUY", qty: str = "100", symbol: str = "AAPL") -> OrderRequest:
    return OrderRequest(iid(n), symbol, "BUY" if side == "BUY" else "SELL", D(qty), "MARKET")


def bar(broker: SimBroker, o: str, h: str, lo: str, symbol: str = "AAPL") -> list[ExecutionReport]:
    return broker.on_bar(symbol, T1, D(o), D(h), D(lo))


def test_market_order_fills_at_next_open_with_slippage_and_commission() -> None:
    broker = SimBroker(
        costs=SimCosts(slippage_bps=D(10), commission_bps=D(5), commission_minimum=D(1)),
        clock=FixedClock(T0),
    )
    (ack,) = broker.submit(market(1, "BUY"), T0)
    assert (ack.status, ack.filled_quantity, ack.order_id) == (ReportStatus.ACKNOWLEDGED, D(0), "1")
    assert bar(broker, "100", "105", "95", symbol="MSFT") == []  # another symbol's bar
    (fill,) = bar(broker, "100.00", "105", "95")
    assert fill.status == ReportStatus.FILLED
    assert (fill.last_price, fill.last_quantity, fill.filled_quantity) == (
        D("100.1"),
        D(100),
        D(100),
    )
    assert fill.avg_fill_price == D("100.1")
    assert fill.commission == D("5.00")  # 10,010 x 5 bps = 5.005 -> 5.00 (cents, half-even)
    assert (fill.exec_id, fill.timestamp, fill.account) == ("sim.00000001.01.01", T1, "SIM")
    broker.submit(market(2, "SELL", "10"), T1)
    (sell,) = bar(broker, "100.00", "101", "99")
    assert sell.last_price == D("99.9")  # against the seller
    assert sell.commission == D(1)  # the minimum
    assert not broker.has_any_working


@pytest.mark.parametrize(
    ("order", "bars", "price"),
    [
        (
            OrderRequest(iid(1), "AAPL", "BUY", D(1), "LIMIT", limit_price=D(99)),
            [("100", "101", "99.5"), ("100", "100", "98")],
            D(99),
        ),  # reached on the 2nd bar
        (
            OrderRequest(iid(1), "AAPL", "BUY", D(1), "LIMIT", limit_price=D(101)),
            [("100", "101", "99")],
            D(100),
        ),  # the open is better than the limit
        (
            OrderRequest(iid(1), "AAPL", "SELL", D(1), "LIMIT", limit_price=D(102)),
            [("100", "103", "99")],
            D(102),
        ),
        (
            OrderRequest(iid(1), "AAPL", "BUY", D(1), "STOP", stop_price=D(102)),
            [("100", "101", "99"), ("100", "103", "99")],
            D(102),
        ),
        (
            OrderRequest(iid(1), "AAPL", "SELL", D(1), "STOP", stop_price=D(99)),
            [("98", "100", "97")],
            D(98),
        ),  # gapped through: the open
        (
            OrderRequest(
                iid(1), "AAPL", "BUY", D(1), "STOP_LIMIT", limit_price=D(101), stop_price=D(100.5)
            ),
            [("100", "100.6", "99")],
            D("100.5"),
        ),
    ],
)
def test_other_order_types(
    order: OrderRequest, bars: list[tuple[str, str, str]], price: Decimal
) -> None:
    broker = SimBroker(clock=FixedClock(T0))
    broker.submit(order, T0)
    fills = [r for b in bars for r in bar(broker, *b)]
    assert [f.last_price for f in fills] == [price]


def test_cancel_expire_and_duplicates() -> None:
    broker = SimBroker(clock=FixedClock(T0))
    broker.submit(OrderRequest(iid(1), "AAPL", "BUY", D(1), "LIMIT", limit_price=D(1)), T0)
    broker.submit(market(2), T0)
    (again,) = broker.submit(market(2), T0)
    assert (again.status, again.reject_reason) == (ReportStatus.REJECTED, "duplicate order id")
    (canceled,) = broker.cancel_order(iid(1), T0, "kill switch")
    assert canceled.status == ReportStatus.CANCELED
    with pytest.raises(BrokerOrderUnknown):
        broker.cancel_order(iid(1), T0)
    (expired,) = broker.expire_all(T1, "end")
    assert (expired.intent_id, expired.status) == (iid(2), ReportStatus.CANCELED)
    assert bar(broker, "1", "1", "1") == []


def test_book_nets_fills_and_snapshot_lists_everything() -> None:
    broker = SimBroker(clock=FixedClock(T0))
    broker.submit(market(1, "BUY", "100"), T0)
    bar(broker, "10", "10", "10")
    broker.submit(market(2, "SELL", "40"), T0)
    bar(broker, "12", "12", "12")
    broker.submit(OrderRequest(iid(3), "AAPL", "BUY", D(5), "LIMIT", limit_price=D(1)), T0)
    snap = broker.broker_snapshot()
    (position,) = snap.positions
    assert (position.quantity, position.avg_cost) == (D(60), D(10))
    assert [x.exec_id for x in snap.executions] == ["sim.00000001.01.01", "sim.00000002.01.01"]
    assert [o.order_ref for o in snap.open_orders] == [str(iid(3))]
    assert [o.status for o in snap.completed_orders] == ["FILLED", "FILLED"]
    assert snap.managed_accounts == ("SIM",)


def test_broker_port_sends_reports_to_callbacks() -> None:
    broker = SimBroker(clock=FixedClock(T0))
    assert isinstance(broker, BrokerPort)
    reports: list[ExecutionReport] = []
    perm: list[tuple[UUID, int]] = []
    resyncs: list[object] = []
    broker.on_report(reports.append)
    broker.on_perm_id(lambda i, p: perm.append((i, p)))
    broker.on_resync(resyncs.append)

    async def scenario() -> None:
        await broker.connect()
        await broker.place(market(1))
        broker.show_bar("AAPL", T1, D(10), D(11), D(9))
        await broker.place(market(2))
        await broker.cancel(iid(2))
        snap = await broker.snapshot(executions_since=T1 + timedelta(seconds=1))
        assert snap.executions == ()
        await broker.disconnect()

    asyncio.run(scenario())
    assert [r.status for r in reports] == [
        ReportStatus.ACKNOWLEDGED,
        ReportStatus.FILLED,
        ReportStatus.ACKNOWLEDGED,
        ReportStatus.CANCELED,
    ]
    assert perm == [(iid(1), 1_000_001), (iid(2), 1_000_002)]
    assert len(resyncs) == 1
