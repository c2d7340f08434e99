"""The trading system's strategy as a backtest policy.

`domain.strategy.Strategy` gives target weights at its rebalance interval;
they become whole-share market orders against the ledger's equity and marks.
Weights are floats (numpy maths); they become Decimal here, in one place,
rounded to 1e-6, so that last-bit differences of a solver cannot move a
quantity unless they cross a share boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_DOWN, Decimal

from adapters.backtest.feed import Timeline
from adapters.backtest.policy import Book, OrderPlan
from domain.money import div
from domain.strategy import MarketHistory, Strategy

ZERO = Decimal(0)
WEIGHT_QUANTUM = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Rebalance:
    """One rebalance, kept for the report and the charts."""

    index: int
    time: datetime
    regime: str
    weights: dict[str, float]  # the targets
    held: dict[str, float]  # the book's weights when the targets were set
    note: str | None  # why the weights are not a fresh solution, if they are not


@dataclass
class WeightsPolicy:
    strategy: Strategy
    timeline: Timeline
    min_trade: Decimal = Decimal("0.001")  # skip trades below this fraction of equity
    rebalances: list[Rebalance] = field(default_factory=list)

    def due(self, index: int) -> bool:
        return self.strategy.is_rebalance_bar(index)

    def decide(self, book: Book) -> list[OrderPlan]:
        symbols = self.timeline.symbols
        equity = book.equity
        if equity <= 0:
            return []
        current = {
            s: float(book.positions.get(s, ZERO) * book.marks.get(s, ZERO) / equity)
            for s in symbols
        }
        history = MarketHistory(symbols, self.timeline.closes[: book.index + 1])
        weights, regime, diagnostics = self.strategy.target_weights(history, current)
        self.rebalances.append(
            Rebalance(book.index, book.time, str(regime), weights, current, diagnostics.reason)
        )
        plans: list[OrderPlan] = []
        for symbol in symbols:
            mark = book.marks.get(symbol, ZERO)
            if mark <= 0:
                continue
            weight = Decimal(repr(weights.get(symbol, 0.0))).quantize(WEIGHT_QUANTUM)
            target = div(weight * equity, mark).to_integral_value(ROUND_DOWN)
            delta = target - book.positions.get(symbol, ZERO)
            if delta == 0 or abs(delta) * mark < self.min_trade * equity:
                continue
            plans.append(OrderPlan(symbol, "BUY" if delta > 0 else "SELL", abs(delta)))
        return plans
