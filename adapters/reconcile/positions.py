"""Positions by (account, contract): quantity exactly, average cost within a tolerance.

The ledger knows an instrument by its symbol, so a broker position is matched
by (account, symbol); the broker's contract details (secType, conId) are kept
as evidence. A quantity of zero counts as no position (IB lists positions
closed during the day with quantity 0).

Average cost. Brokers differ in what they report: IB's `avgCost` folds each
fill's commission into its price (a buy costs price + commission/quantity, a
sell brings price - commission/quantity) and, for contracts with a
multiplier, is per contract (price x multiplier). The broker's figure is
accepted when it is within the tolerance of ANY of: the ledger's average open
price, the same with commissions folded in, or either times the multiplier.

Tolerance: |broker - candidate| <= max(absolute, relative x |candidate|),
by default max(0.0001, 0.00001 x |candidate|): one ten-thousandth of a
currency unit, or 0.1 basis point of the price, whichever is larger. It absorbs
the broker's binary floating point and rounding, and is far below the
per-unit commission (typically 0.005 or more) that separates the two figures.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from adapters.broker.port import BrokerPosition
from adapters.reconcile.breaks import Break, BreakKind
from adapters.reconcile.view import LedgerPosition, LedgerView

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class AvgCostTolerance:
    absolute: Decimal = Decimal("0.0001")
    relative: Decimal = Decimal("0.00001")

    def accepts(self, broker: Decimal, candidate: Decimal) -> bool:
        return abs(broker - candidate) <= max(self.absolute, abs(candidate) * self.relative)


DEFAULT_TOLERANCE = AvgCostTolerance()


def avg_cost_candidates(p: LedgerPosition) -> list[Decimal]:
    base = [p.avg_price, p.avg_cost]
    if p.multiplier != 1:
        base += [x * p.multiplier for x in base]
    return base


def compare_positions(
    view: LedgerView, positions: Iterable[BrokerPosition], tolerance: AvgCostTolerance
) -> tuple[list[Break], int]:
    """(breaks, positions compared)."""
    broker: dict[str, list[BrokerPosition]] = {}
    for p in positions:
        if p.account == view.account and p.quantity != 0:
            broker.setdefault(p.symbol, []).append(p)
    ledger = {s: p for s, p in view.positions.items() if p.quantity != 0}
    breaks: list[Break] = []
    symbols = sorted(set(broker) | set(ledger))
    for symbol in symbols:
        found = _compare_one(
            view.account, symbol, ledger.get(symbol), broker.get(symbol, []), tolerance
        )
        if found is not None:
            breaks.append(found)
    return breaks, len(symbols)


def _compare_one(
    account: str,
    symbol: str,
    ours: LedgerPosition | None,
    theirs: list[BrokerPosition],
    tolerance: AvgCostTolerance,
) -> Break | None:
    evidence = (
        f"{account}/{symbol}",
        account,
        symbol,
        _ledger_evidence(ours),
        _broker_evidence(theirs),
    )

    def position_break(kind: BreakKind, why: str) -> Break:
        return Break(kind, "position", *evidence, why)

    if not theirs:
        return position_break(
            BreakKind.MISSING_AT_BROKER, "the ledger holds a position the broker does not"
        )
    if ours is None:
        return position_break(
            BreakKind.MISSING_IN_LEDGER, "the broker holds a position the ledger does not"
        )
    if len(theirs) > 1:
        return position_break(
            BreakKind.QUANTITY_MISMATCH, "the broker holds several contracts under this symbol"
        )
    (pos,) = theirs
    if pos.quantity != ours.quantity:
        return position_break(
            BreakKind.QUANTITY_MISMATCH,
            f"quantity {ours.quantity} in the ledger, {pos.quantity} at the broker",
        )
    if not any(tolerance.accepts(pos.avg_cost, c) for c in avg_cost_candidates(ours)):
        return position_break(
            BreakKind.AVG_COST_MISMATCH,
            f"broker average cost {pos.avg_cost} is not within tolerance of "
            f"the ledger's {ours.avg_price} (or {ours.avg_cost} with commissions)",
        )
    return None


def _ledger_evidence(p: LedgerPosition | None) -> dict[str, str | None]:
    if p is None:
        return {"quantity": "0"}
    return {
        "quantity": str(p.quantity),
        "avg_price": str(p.avg_price),
        "avg_cost_with_commission": str(p.avg_cost),
        "multiplier": str(p.multiplier),
    }


def _broker_evidence(ps: list[BrokerPosition]) -> dict[str, str | None]:
    if not ps:
        return {"quantity": "0"}
    if len(ps) > 1:
        return {
            "quantity": ", ".join(str(p.quantity) for p in ps),
            "con_id": ", ".join(str(p.con_id) for p in ps),
            "sec_type": ", ".join(p.sec_type for p in ps),
        }
    (p,) = ps
    return {
        "quantity": str(p.quantity),
        "avg_cost": str(p.avg_cost),
        "sec_type": p.sec_type,
        "con_id": str(p.con_id),
        "currency": p.currency,
    }
