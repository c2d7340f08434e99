"""The broker port's types, outbound order mapping, pacing and resync."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

import pytest
from ib_async.util import UNSET_DOUBLE

from adapters.broker.port import (
    BrokerExecution,
    BrokerOrder,
    BrokerPort,
    BrokerSnapshot,
    InvalidOrderRequest,
    OrderRequest,
)
from adapters.ibkr import IbkrBroker, IbkrSettings, missed_fills
from adapters.ibkr.orders import ContractSpec, ib_contract, ib_order
from adapters.ibkr.pacing import Pacer
from contracts.messages import ReportStatus

INTENT = UUID("6f1c2d3e-0000-4000-8000-00000000abcd")
OTHER = UUID("6f1c2d3e-0000-4000-8000-00000000beef")
T0 = datetime(2024, 1, 2, 15, 30, 5, tzinfo=UTC)


def test_ibkr_broker_implements_the_port() -> None:
    broker: BrokerPort = IbkrBroker(IbkrSettings.load(account="DU1"))
    assert isinstance(broker, BrokerPort)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quantity": Decimal(0)}, "quantity must be positive"),
        ({"quantity": Decimal("NaN")}, "quantity must be positive"),
        ({"order_type": "LIMIT"}, "LIMIT needs a limit price"),
        ({"order_type": "STOP"}, "STOP needs a stop price"),
        ({"order_type": "STOP_LIMIT", "limit_price": Decimal(1)}, "needs a stop price"),
        ({"order_type": "ICEBERG"}, "unknown order type"),
        ({"side": "HOLD"}, "side must be BUY or SELL"),
    ],
)
def test_invalid_order_requests_are_refused(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "intent_id": INTENT, "symbol": "AAPL", "side": "BUY", "quantity": Decimal(10),
        "order_type": "MARKET",
    }  # fmt: skip
    fields.update(kwargs)
    with pytest.raises(InvalidOrderRequest, match=message):
        OrderRequest(**fields)  # type: ignore[arg-type]


def test_ib_order_for_each_order_type() -> None:
    limit = ib_order(
        OrderRequest(INTENT, "AAPL", "BUY", Decimal("10"), "LIMIT", limit_price=Decimal("2850.50")),
        "DU1",
    )
    assert (limit.action, limit.totalQuantity, limit.orderType, limit.lmtPrice) == (
        "BUY", 10.0, "LMT", 2850.5,
    )  # fmt: skip
    assert (limit.orderRef, limit.account, limit.auxPrice) == (str(INTENT), "DU1", UNSET_DOUBLE)
    stop_limit = ib_order(
        OrderRequest(INTENT, "AAPL", "SELL", Decimal(5), "STOP_LIMIT",
                     limit_price=Decimal("99.5"), stop_price=Decimal("100"), account="DU2"),
        "DU1",
    )  # fmt: skip
    assert (stop_limit.orderType, stop_limit.lmtPrice, stop_limit.auxPrice) == (
        "STP LMT",
        99.5,
        100,
    )
    assert stop_limit.account == "DU2"
    stop = ib_order(
        OrderRequest(INTENT, "AAPL", "SELL", Decimal(5), "STOP", stop_price=Decimal(1)), "D"
    )
    assert (stop.orderType, stop.auxPrice) == ("STP", 1.0)
    adaptive = ib_order(OrderRequest(INTENT, "AAPL", "BUY", Decimal(1), "ADAPTIVE"), "DU1")
    assert (adaptive.orderType, adaptive.algoStrategy) == ("MKT", "Adaptive")
    assert [(p.tag, p.value) for p in adaptive.algoParams] == [("adaptivePriority", "Normal")]


def test_ib_contract() -> None:
    c = ib_contract(ContractSpec("ES", "FUT", "CME", "USD"))
    assert (c.symbol, c.secType, c.exchange, c.currency) == ("ES", "FUT", "CME", "USD")


def test_pacer_keeps_to_its_rate() -> None:
    now = [0.0]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    async def main() -> list[float]:
        pacer = Pacer(3, 1.0, clock=lambda: now[0], sleep=sleep)
        sent = []
        for _ in range(7):
            await pacer.acquire()
            sent.append(now[0])
        return sent

    sent = asyncio.run(main())
    assert sent == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 2.0]
    for i in range(len(sent) - 3):  # never more than 3 in any 1-second window
        assert sent[i + 3] - sent[i] >= 1.0


def test_pacer_refuses_a_zero_rate() -> None:
    with pytest.raises(ValueError, match="pacing"):
        Pacer(0)


def execution(exec_id: str, ref: str, cum: str, perm_id: int = 880000007) -> BrokerExecution:
    return BrokerExecution(
        exec_id=exec_id, order_ref=ref, perm_id=perm_id, order_id=7, account="DU1",
        symbol="AAPL", side="BUY", quantity=Decimal(40), price=Decimal("150.1"), time=T0,
        cum_qty=Decimal(cum), avg_price=Decimal("150.1"), commission=Decimal("1"),
        commission_currency="USD",
    )  # fmt: skip


def broker_order(perm_id: int, quantity: str) -> BrokerOrder:
    return BrokerOrder(
        perm_id=perm_id, order_id=0, order_ref=str(INTENT), account="DU1", symbol="AAPL",
        side="BUY", quantity=Decimal(quantity), order_type="LMT", limit_price=Decimal(150),
        stop_price=None, status="FILLED", filled=Decimal(quantity), remaining=Decimal(0),
        avg_fill_price=None,
    )  # fmt: skip


def test_missed_fills_reports_what_the_ledger_has_not_seen() -> None:
    snapshot = BrokerSnapshot(
        positions=(),
        executions=(
            execution("a.01.01", str(INTENT), "40"),
            execution("a.02.01", str(INTENT), "80"),
            execution("b.01.01", "manual", "40", perm_id=5),
            execution("c.01.01", str(OTHER), "40", perm_id=6),
        ),
        open_orders=(),
        completed_orders=(broker_order(880000007, "80"),),
        managed_accounts=("DU1",),
    )
    missed = missed_fills(snapshot, {"a.01.01"})
    assert [(r.exec_id, r.status) for r in missed.reports] == [
        ("a.02.01", ReportStatus.FILLED),
        ("c.01.01", ReportStatus.PARTIAL_FILL),  # its order is unknown: not claimed FILLED
    ]
    first = missed.reports[0]
    assert (first.intent_id, first.order_id, first.filled_quantity, first.commission) == (
        INTENT, "880000007", Decimal(80), Decimal(1),
    )  # fmt: skip
    assert [e.exec_id for e in missed.external] == ["b.01.01"]
