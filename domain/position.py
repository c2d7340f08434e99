"""The Position aggregate: one per (account, instrument), netting, built only from fills.

Arithmetic (all Decimal, in `money.CTX` whatever the caller's context):
- the position keeps its open cost basis (sum of quantity x price of what is open);
  the average open price is cost / quantity;
- opening or adding: the cost grows by quantity x price;
- reducing: the closed part takes its share of the cost (all of it when the position
  closes), realised PnL = (proceeds - cost taken) x direction x multiplier, so a round
  trip to flat realises exactly proceeds minus cost, with no rounding through the average;
- flipping through zero: the closing part realises as above, the remainder opens at the
  fill price;
- commissions are accumulated apart from realised PnL.
A correction replaces a fill in place and the position is recomputed from its fills
in their original order, as if the corrected fill had arrived instead of the original.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from domain import events as ev
from domain.money import CTX, ZERO, div, sign

_mul, _add, _sub = CTX.multiply, CTX.add, CTX.subtract


@dataclass(frozen=True, slots=True)
class PositionFill:
    exec_id: str
    signed_quantity: Decimal
    price: Decimal
    commission: Decimal


@dataclass(frozen=True, slots=True)
class PositionFigures:
    quantity: Decimal
    cost: Decimal  # open cost basis, >= 0
    avg_price: Decimal
    realized_pnl: Decimal
    commission: Decimal


def step(
    q: Decimal, cost: Decimal, realized: Decimal, s: Decimal, price: Decimal, mult: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """One fill of signed quantity `s` at `price` on (quantity, cost basis, realised)."""
    if q == 0 or sign(q) == sign(s):
        return _add(q, s), _add(cost, _mul(abs(s), price)), realized
    closed = min(abs(s), abs(q))
    taken = cost if closed == abs(q) else div(_mul(cost, closed), abs(q))
    pnl = _sub(_mul(closed, price), taken)
    realized = _add(realized, _mul(_mul(pnl, Decimal(sign(q))), mult))
    new_q = _add(q, s)
    if new_q == 0 or sign(new_q) == sign(q):
        return new_q, _sub(cost, taken), realized
    return new_q, _mul(abs(new_q), price), realized


def average(q: Decimal, cost: Decimal) -> Decimal:
    return div(cost, abs(q)) if q else ZERO


def figures_from(fills: list[PositionFill], mult: Decimal) -> PositionFigures:
    q, cost, realized, commission = ZERO, ZERO, ZERO, ZERO
    for f in fills:
        q, cost, realized = step(q, cost, realized, f.signed_quantity, f.price, mult)
        commission = _add(commission, f.commission)
    return PositionFigures(q, cost, average(q, cost), realized, commission)


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
    cost: Decimal = ZERO
    fills: dict[str, PositionFill] = field(default_factory=dict)

    def apply(self, event: ev.PositionEvent) -> None:
        self.version = event.originator_version
        signed = event.fill_quantity if event.side == "BUY" else -event.fill_quantity
        fill = PositionFill(event.exec_id, signed, event.fill_price, event.fill_commission)
        if isinstance(event, ev.PositionFillCorrected):
            # Keep the original's place in the sequence: rebuild the dict in order.
            self.fills = {
                (fill.exec_id if k == event.replaced_exec_id else k): (
                    fill if k == event.replaced_exec_id else v
                )
                for k, v in self.fills.items()
            }
        else:
            self.fills[event.exec_id] = fill
        self.quantity, self.avg_price, self.cost = event.quantity, event.avg_price, event.cost
        self.realized_pnl, self.commission = event.realized_pnl, event.commission
        # The last fill in sequence, which a correction of an earlier fill does not change.
        self.last_fill_price = next(reversed(self.fills.values())).price

    def figures_after_fill(
        self, signed: Decimal, price: Decimal, commission: Decimal
    ) -> PositionFigures:
        q, cost, realized = step(
            self.quantity, self.cost, self.realized_pnl, signed, price, self.multiplier
        )
        return PositionFigures(
            q, cost, average(q, cost), realized, _add(self.commission, commission)
        )

    def figures_after_correction(
        self, replaced_exec_id: str, fill: PositionFill
    ) -> PositionFigures:
        fills = [fill if f.exec_id == replaced_exec_id else f for f in self.fills.values()]
        return figures_from(fills, self.multiplier)
