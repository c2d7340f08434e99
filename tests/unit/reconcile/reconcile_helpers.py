"""Builders for the reconciliation unit tests: a pure `Ledger` fed contract
messages, and broker snapshots made of the port's dataclasses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

from adapters.broker.port import (
    BrokerExecution,
    BrokerOrder,
    BrokerPosition,
    BrokerSnapshot,
    Side,
)
from adapters.reconcile.view import LedgerView, ledger_view
from contracts.messages import Direction, ExecutionReport, OrderIntent, OrderType, ReportStatus
from domain import events as ev
from domain.ledger import Ledger, LedgerConfig

A = "DU1"
T0 = datetime(2025, 11, 17, 14, 0, tzinfo=UTC)
WINDOW = datetime(2025, 11, 17, tzinfo=UTC)
D = Decimal


class Book:
    """A pure Ledger and every event it emitted."""

    def __init__(self) -> None:
        self.ledger = Ledger(LedgerConfig(account=A))
        self.events: list[ev.LedgerEvent] = []
        self.n = 0

    def _src(self) -> str:
        self.n += 1
        return f"test@{self.n}"

    def drain(self) -> list[ev.LedgerEvent]:
        new = self.ledger.drain()
        self.events += new
        return new

    def intent(
        self,
        qty: str = "10",
        side: str = "BUY",
        symbol: str = "AAPL",
        intent_id: UUID | None = None,
    ) -> UUID:
        intent_id = intent_id or uuid4()
        msg = OrderIntent(
            intent_id=intent_id,
            symbol=symbol,
            direction=Direction(side),
            quantity=D(qty),
            order_type=OrderType.MARKET,
            timestamp=T0,
        )
        self.ledger.handle(msg, self._src(), T0)
        self.drain()
        return intent_id

    def report(
        self,
        intent_id: UUID,
        status: str,
        *,
        exec_id: str | None = None,
        qty: str | None = None,
        price: str | None = None,
        commission: str | None = None,
        filled: str = "0",
        avg: str = "0",
        order_id: str = "1001",
        at: datetime = T0,
    ) -> None:
        order = self.ledger.orders[intent_id]
        msg = ExecutionReport(
            intent_id=intent_id,
            order_id=order_id,
            symbol=order.symbol,
            status=ReportStatus(status),
            filled_quantity=D(filled),
            avg_fill_price=D(avg),
            timestamp=at,
            account=A,
            exec_id=exec_id,
            last_quantity=D(qty) if qty else None,
            last_price=D(price) if price else None,
            commission=D(commission) if commission is not None else None,
        )
        self.ledger.handle(msg, self._src(), T0)
        self.drain()

    def filled(
        self,
        intent_id: UUID,
        exec_id: str,
        qty: str = "10",
        price: str = "100",
        commission: str = "1",
        at: datetime = T0,
    ) -> None:
        order = self.ledger.orders[intent_id]
        total = order.filled + D(qty)
        status = "FILLED" if total == order.quantity else "PARTIAL_FILL"
        self.report(
            intent_id,
            status,
            exec_id=exec_id,
            qty=qty,
            price=price,
            commission=commission,
            filled=str(total),
            avg=price,
            at=at,
        )

    def fill_times(self) -> dict[str, datetime]:
        return {
            e.exec_id: e.occurred_at
            for e in self.events
            if isinstance(e, ev.OrderFillEvent | ev.OrderFillCorrected)
        }

    def view(self, window: datetime | None = WINDOW) -> LedgerView:
        return ledger_view(self.ledger, A, window, self.fill_times())


def execution(
    exec_id: str,
    ref: UUID | str,
    *,
    perm: int = 1001,
    qty: str = "10",
    price: str = "100",
    commission: str | None = "1",
    side: Side = "BUY",
    cum: str | None = None,
    symbol: str = "AAPL",
    at: datetime = T0,
    account: str = A,
) -> BrokerExecution:
    return BrokerExecution(
        exec_id=exec_id,
        order_ref=str(ref),
        perm_id=perm,
        order_id=7,
        account=account,
        symbol=symbol,
        side=side,
        quantity=D(qty),
        price=D(price),
        time=at,
        cum_qty=D(cum or qty),
        avg_price=D(price),
        commission=D(commission) if commission is not None else None,
        commission_currency="USD" if commission is not None else None,
    )


def order(
    ref: UUID | str,
    status: str,
    *,
    perm: int = 1001,
    qty: str = "10",
    filled: str = "0",
    side: Side = "BUY",
    symbol: str = "AAPL",
    order_type: str = "MKT",
    limit: str | None = None,
) -> BrokerOrder:
    return BrokerOrder(
        perm_id=perm,
        order_id=7,
        order_ref=str(ref),
        account=A,
        symbol=symbol,
        side=side,
        quantity=D(qty),
        order_type=order_type,
        limit_price=D(limit) if limit else None,
        stop_price=None,
        status=status,
        filled=D(filled),
        remaining=D(qty) - D(filled),
        avg_fill_price=None,
        broker_status=status.title(),
    )


def position(qty: str, avg: str, symbol: str = "AAPL", account: str = A) -> BrokerPosition:
    return BrokerPosition(account, symbol, "STK", "SMART", "USD", 265598, D(qty), D(avg))


def snapshot(
    positions: Sequence[BrokerPosition] = (),
    executions: Sequence[BrokerExecution] = (),
    open_orders: Sequence[BrokerOrder] = (),
    completed: Sequence[BrokerOrder] = (),
) -> BrokerSnapshot:
    return BrokerSnapshot(
        tuple(positions), tuple(executions), tuple(open_orders), tuple(completed), (A,)
    )


LATER = T0 + timedelta(minutes=5)
