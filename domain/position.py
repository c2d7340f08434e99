"""The Position aggregate: one per (account, instrument), netting, built only from fills.

Arithmetic (all Decimal, in `money.CTX`):
- opening or adding: the average open price is the quantity-weighted average;
- reducing: realised PnL = closed quantity x (fill price - average) x direction x multiplier,
  the average is unchanged;
- flipping through zero: the closing part realises PnL as above, the remainder opens
  at the fill price;
- commissions are accumulated apart from realised PnL.
A correction replaces a fill in place and the position is recomputed from its fills
in their original order, as if the corrected fill had arrived instead of the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from domain import events as ev
from domain.money import ZERO, div, sign


@dataclass(frozen=True, slots=True)
class PositionFill:
    exec_id: str
    signed_quantity: Decimal
    price: Decimal
    commission: Decimal


@dataclass(frozen=True, slots=True)
class PositionFigures:
    quantity: Decimal
    avg_price: Decimal
    realized_pnl: Decimal
    commission: Decimal


def step(
    q: Decimal, avg: Decimal, realized: Decimal, s: Decimal, price: Decimal, mult: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """One fill of signed quantity `s` at `price` on (quantity, average, realised)."""
    if q == 0 or sign(q) == sign(s):
        new_q = q + s
        return new_q, div(avg * abs(q) + price * abs(s), abs(new_q)), realized
    closed = min(abs(s), abs(q))
    realized += closed * (price - avg) * sign(q) * mult
    new_q = q + s
    if new_q == 0:
        return new_q, ZERO, realized
    if sign(new_q) == sign(q):
        return new_q, avg, realized
    return new_q, price, realized


def figures_from(fills: list[PositionFill], mult: Decimal) -> PositionFigures:
    q, avg, realized, commission = ZERO, ZERO, ZERO, ZERO
    for f in fills:
        q, avg, realized = step(q, avg, realized, f.signed_quantity, f.price, mult)
        commission += f.commission
    return PositionFigures(q, avg, realized, commission)


@dataclass(slots=True)
class Position:
    id: UUID
    account: str
    symbol: str
    multiplier: Decimal
    version: int = 0
    quantity: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    commission: Decimal = ZERO
    last_fill_price: Decimal = ZERO
    fills: dict[str, PositionFill] = field(default_factory=dict)

    def apply(self, event: ev.PositionEvent) -> None:
        self.version = event.originator_version
        signed = event.fill_quantity if event.side == "BUY" else -event.fill_quantity
        fill = PositionFill(event.exec_id, signed, event.fill_price, event.fill_commission)
        if isinstance(event, ev.PositionFillCorrected):
            # Keep the original's place in the sequence: rebuild the dict in order.
            self.fills = {
                (fill.exec_id if k == event.replaced_exec_id else k):
                (fill if k == event.replaced_exec_id else v)
                for k, v in self.fills.items()
            }
        else:
            self.fills[event.exec_id] = fill
        self.quantity, self.avg_price = event.quantity, event.avg_price
        self.realized_pnl, self.commission = event.realized_pnl, event.commission
        self.last_fill_price = event.fill_price

    def figures_after_fill(self, signed: Decimal, price: Decimal,
                           commission: Decimal) -> PositionFigures:
        q, avg, realized = step(self.quantity, self.avg_price, self.realized_pnl, signed, price,
                                self.multiplier)
        return PositionFigures(q, avg, realized, self.commission + commission)

    def figures_after_correction(self, replaced_exec_id: str,
                                 fill: PositionFill) -> PositionFigures:
        fills = [fill if f.exec_id == replaced_exec_id else f for f in self.fills.values()]
        return figures_from(fills, self.multiplier)
