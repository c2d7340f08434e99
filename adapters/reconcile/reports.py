"""Broker facts as the contract messages the ledger ingests: a fill as the
ExecutionReport a live fill makes, an order first seen at the broker as an
OrderIntent. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from adapters.broker.port import BrokerExecution, BrokerOrder
from adapters.reconcile.ids import broker_order_id
from contracts.messages import (
    Direction,
    ExecutionReport,
    OrderIntent,
    OrderType,
    ReportStatus,
)

# The broker's order type words (IB's and the port's own) -> contract order types.
_ORDER_TYPES: dict[str, OrderType] = {
    "MKT": OrderType.MARKET,
    "MARKET": OrderType.MARKET,
    "LMT": OrderType.LIMIT,
    "LIMIT": OrderType.LIMIT,
    "STP": OrderType.STOP,
    "STOP": OrderType.STOP,
    "STP LMT": OrderType.STOP_LIMIT,
    "STOP_LIMIT": OrderType.STOP_LIMIT,
    "ADAPTIVE": OrderType.ADAPTIVE,
}


def fill_report(
    e: BrokerExecution, intent_id: UUID, *, complete: bool, symbol: str | None = None
) -> ExecutionReport:
    """`complete`: this fill completes the order in the ledger's own count (a
    FILLED report with fewer than all fills would be refused)."""
    return ExecutionReport(
        intent_id=intent_id,
        order_id=broker_order_id(e.perm_id, e.order_id),
        symbol=symbol or e.symbol,
        status=ReportStatus.FILLED if complete else ReportStatus.PARTIAL_FILL,
        filled_quantity=e.cum_qty,
        avg_fill_price=e.avg_price,
        timestamp=e.time,
        account=e.account or None,
        exec_id=e.exec_id,
        last_quantity=e.quantity,
        last_price=e.price,
        commission=e.commission,
        commission_currency=e.commission_currency,
    )


def status_report(
    intent_id: UUID,
    symbol: str,
    account: str,
    status: ReportStatus,
    order_id: str,
    filled: Decimal,
    avg_fill_price: Decimal,
    time: datetime,
    reject_reason: str | None = None,
) -> ExecutionReport:
    """A status change that implies no fill: the cumulative figures are the
    ledger's own, so the report carries nothing the fills have not."""
    return ExecutionReport(
        intent_id=intent_id,
        order_id=order_id,
        symbol=symbol,
        status=status,
        filled_quantity=filled,
        avg_fill_price=avg_fill_price,
        timestamp=time,
        reject_reason=reject_reason,
        account=account,
    )


def external_intent(
    intent_id: UUID,
    order: BrokerOrder | None,
    executions: Sequence[BrokerExecution],
    account: str,
    time: datetime,
) -> OrderIntent:
    """The intent of an order placed outside the ledger, from the broker's order
    when it is listed, else from its executions (a market order of their total).
    An order type the contract has no word for, or a limit order without its
    price, is booked as MARKET: the fills, not the terms, move the position."""
    if order is not None:
        order_type = _ORDER_TYPES.get(order.order_type.upper(), OrderType.MARKET)
        limit, stop = order.limit_price, order.stop_price
        if (order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT) and limit is None) or (
            order_type in (OrderType.STOP, OrderType.STOP_LIMIT) and stop is None
        ):
            order_type, limit, stop = OrderType.MARKET, None, None
        keep_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        keep_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
        quantity = max(order.quantity, max((e.cum_qty for e in executions), default=Decimal(0)))
        return OrderIntent(
            intent_id=intent_id,
            symbol=order.symbol,
            direction=Direction(order.side),
            quantity=quantity,
            order_type=order_type,
            timestamp=time,
            limit_price=limit if keep_limit else None,
            stop_price=stop if keep_stop else None,
            account=order.account or account,
        )
    first = executions[0]
    total = sum((e.quantity for e in executions), Decimal(0))
    return OrderIntent(
        intent_id=intent_id,
        symbol=first.symbol,
        direction=Direction(first.side),
        quantity=max(total, max(e.cum_qty for e in executions)),
        order_type=OrderType.MARKET,
        timestamp=time,
        account=first.account or account,
    )
