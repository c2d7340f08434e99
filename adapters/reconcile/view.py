"""The ledger's side of a reconciliation: a plain, immutable copy of what is
compared, for one broker account.

Built from the in-memory `Ledger` (pure) plus the time of each fill, which the
ledger's aggregates do not keep: the caller reads it from the fill events'
`occurred_at` (the broker's execution time). A ledger fill is compared against
the broker's executions only when it happened inside the broker's window
(`window_start` onwards); a fill whose time is unknown was recorded before the
window and is out of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from adapters.reconcile.ids import split_exec_id
from domain.ledger import Ledger
from domain.money import ZERO, div
from domain.position import Position, PositionFill, figures_from

IMPLIED_PREFIX = "implied:"  # fills the ledger implied from cumulative figures (no execId)


@dataclass(frozen=True, slots=True)
class LedgerFill:
    exec_id: str
    intent_id: UUID
    quantity: Decimal
    price: Decimal
    commission: Decimal
    time: datetime | None
    in_window: bool

    @property
    def implied(self) -> bool:
        return self.exec_id.startswith(IMPLIED_PREFIX)


@dataclass(frozen=True, slots=True)
class LedgerOrder:
    intent_id: UUID
    account: str
    symbol: str
    side: str
    quantity: Decimal
    status: str
    filled: Decimal
    avg_fill_price: Decimal
    broker_order_id: str
    origin: str
    fills: tuple[LedgerFill, ...]

    def by_base(self) -> dict[str, LedgerFill]:
        return {split_exec_id(f.exec_id)[0]: f for f in self.fills}


@dataclass(frozen=True, slots=True)
class LedgerPosition:
    account: str
    symbol: str
    quantity: Decimal
    avg_price: Decimal  # average open price, commissions apart
    avg_cost: Decimal  # the same with commissions folded in, as brokers report it
    multiplier: Decimal


@dataclass(frozen=True, slots=True)
class LedgerView:
    account: str
    window_start: datetime | None
    positions: Mapping[str, LedgerPosition]  # by symbol
    orders: Mapping[UUID, LedgerOrder]
    other_accounts: tuple[str, ...]  # ledger accounts this run does not reconcile

    def fills(self) -> dict[str, LedgerFill]:
        return {f.exec_id: f for o in self.orders.values() for f in o.fills}

    def by_broker_order_id(self) -> dict[str, UUID]:
        return {o.broker_order_id: o.intent_id for o in self.orders.values() if o.broker_order_id}


def ledger_view(
    ledger: Ledger,
    account: str,
    window_start: datetime | None,
    fill_times: Mapping[str, datetime],
) -> LedgerView:
    positions = {
        symbol: _position(p) for (acct, symbol), p in ledger.positions.items() if acct == account
    }
    orders: dict[UUID, LedgerOrder] = {}
    for o in ledger.orders.values():
        if o.account != account:
            continue
        fills = tuple(
            LedgerFill(
                f.exec_id,
                o.intent_id,
                f.quantity,
                f.price,
                f.commission,
                fill_times.get(f.exec_id),
                _in_window(fill_times.get(f.exec_id), window_start),
            )
            for f in o.fills.values()
        )
        orders[o.intent_id] = LedgerOrder(
            o.intent_id,
            o.account,
            o.symbol,
            o.side,
            o.quantity,
            o.status.value,
            o.filled,
            o.avg_fill_price,
            o.broker_order_id,
            o.origin,
            fills,
        )
    others = {a for a, _ in ledger.positions} | {o.account for o in ledger.orders.values()}
    others.discard(account)
    return LedgerView(account, window_start, positions, orders, tuple(sorted(others)))


def _in_window(time: datetime | None, window_start: datetime | None) -> bool:
    if window_start is None:
        return time is not None
    return time is not None and time >= window_start


def _position(p: Position) -> LedgerPosition:
    return LedgerPosition(
        p.account,
        p.symbol,
        p.quantity,
        p.avg_price,
        avg_cost_with_commission(list(p.fills.values()), p.multiplier),
        p.multiplier,
    )


def avg_cost_with_commission(fills: list[PositionFill], multiplier: Decimal) -> Decimal:
    """The average price had each fill's commission been folded into its price
    (a buy costs more per unit, a sell brings less), replayed through the same
    netting arithmetic: the figure IB reports as a position's average cost."""
    adjusted = [
        PositionFill(f.exec_id, f.signed_quantity, _folded(f), ZERO)
        for f in fills
        if f.signed_quantity != 0
    ]
    return figures_from(adjusted, multiplier).avg_price


def _folded(f: PositionFill) -> Decimal:
    per_unit = div(f.commission, abs(f.signed_quantity))
    return f.price + per_unit if f.signed_quantity > 0 else f.price - per_unit
