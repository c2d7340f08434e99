"""Pure mapping of ib_async's answers (positions, fills, trades) into a
BrokerSnapshot of the port's dataclasses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal

from ib_async import CommissionReport, Fill, Position, Trade

from adapters.broker.port import BrokerExecution, BrokerOrder, BrokerPosition, BrokerSnapshot
from adapters.ibkr.mapping import (
    ledger_order_status,
    side_of,
    to_decimal,
    to_decimal_or_none,
    to_utc,
)


def position_from_ib(position: Position) -> BrokerPosition:
    c = position.contract
    return BrokerPosition(
        account=position.account,
        symbol=c.symbol,
        sec_type=c.secType,
        exchange=c.exchange or c.primaryExchange,
        currency=c.currency,
        con_id=c.conId,
        quantity=to_decimal(position.position),
        avg_cost=to_decimal(position.avgCost),
    )


def commissions_by_exec_id(reports: Iterable[CommissionReport]) -> dict[str, CommissionReport]:
    """One commission report per execId. IB re-sends them (after a reconnect,
    with every reqExecutions); a later one replaces an earlier one. Reports
    without an execId are ib_async's empty placeholders and are skipped."""
    by_id: dict[str, CommissionReport] = {}
    for report in reports:
        if report.execId:
            by_id[report.execId] = report
    return by_id


def execution_from_fill(fill: Fill, commission: CommissionReport | None) -> BrokerExecution:
    ex = fill.execution
    return BrokerExecution(
        exec_id=ex.execId,
        order_ref=ex.orderRef,
        perm_id=ex.permId,
        order_id=ex.orderId,
        account=ex.acctNumber,
        symbol=fill.contract.symbol,
        side=side_of(ex.side),
        quantity=to_decimal(ex.shares),
        price=to_decimal(ex.price),
        time=to_utc(ex.time),
        cum_qty=to_decimal(ex.cumQty),
        avg_price=to_decimal(ex.avgPrice),
        commission=to_decimal(commission.commission) if commission else None,
        commission_currency=(commission.currency or None) if commission else None,
    )


def executions_from_fills(
    fills: Iterable[Fill], commissions: Iterable[CommissionReport]
) -> tuple[BrokerExecution, ...]:
    """Executions deduplicated by execId, each with its commission if known.

    Commissions are looked up by execId rather than taken from the Fill:
    ib_async attaches a commission only to the first Fill object it made for
    an execId, so a later reqExecutions returns Fills without one."""
    by_id = commissions_by_exec_id(
        [*commissions, *(f.commissionReport for f in fills if f.commissionReport.execId)]
    )
    seen: dict[str, BrokerExecution] = {}
    for fill in fills:
        exec_id = fill.execution.execId
        if exec_id not in seen:
            seen[exec_id] = execution_from_fill(fill, by_id.get(exec_id))
    return tuple(sorted(seen.values(), key=lambda e: (e.time, e.exec_id)))


def order_from_trade(trade: Trade) -> BrokerOrder:
    """A snapshot order. Open orders carry filled/remaining/avg price from their
    order status; completed orders only the filled quantity on the order."""
    o, st = trade.order, trade.orderStatus
    quantity = to_decimal(o.totalQuantity)
    completed_filled = to_decimal_or_none(o.filledQuantity)
    if completed_filled is not None:
        filled, avg = completed_filled, None
    else:
        filled, avg = to_decimal(st.filled), to_decimal_or_none(st.avgFillPrice)
        avg = avg if avg else None
    return BrokerOrder(
        perm_id=o.permId,
        order_id=o.orderId,
        order_ref=o.orderRef,
        account=o.account,
        symbol=trade.contract.symbol,
        side=side_of(o.action),
        quantity=quantity,
        order_type=o.orderType,
        limit_price=to_decimal_or_none(o.lmtPrice),
        stop_price=to_decimal_or_none(o.auxPrice),
        status=ledger_order_status(st.status, filled),
        filled=filled,
        remaining=max(quantity - filled, Decimal(0)),
        avg_fill_price=avg,
        broker_status=st.status,
    )


def build_snapshot(
    account: str,
    managed_accounts: Sequence[str],
    positions: Iterable[Position],
    fills: Sequence[Fill],
    known_commissions: Iterable[CommissionReport],
    open_trades: Iterable[Trade],
    completed_trades: Iterable[Trade],
) -> BrokerSnapshot:
    """The snapshot of one account: a gateway may manage several, and the
    ledger trades (and reconciles) exactly the configured one."""
    return BrokerSnapshot(
        positions=tuple(position_from_ib(p) for p in positions if p.account == account),
        executions=tuple(
            e for e in executions_from_fills(fills, known_commissions) if e.account == account
        ),
        open_orders=tuple(order_from_trade(t) for t in open_trades if t.order.account == account),
        completed_orders=tuple(
            order_from_trade(t) for t in completed_trades if t.order.account == account
        ),
        managed_accounts=tuple(managed_accounts),
    )
