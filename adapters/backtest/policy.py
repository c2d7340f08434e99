"""What trades: a policy looks at the book at a bar group and returns orders to place.

`AlternatingPolicy` buys and sells a fixed quantity every N groups (the
benchmark's workload, and a predictable policy for tests); the trading
system's strategy is `weights.WeightsPolicy` (kept apart: importing the
strategy maths costs ~200 MB of cvxpy / scikit-learn the benchmark must not pay).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol

Side = Literal["BUY", "SELL"]


@dataclass(frozen=True, slots=True)
class Book:
    """The ledger's view at a decision: equity, signed positions and marks by symbol."""

    index: int
    time: datetime
    equity: Decimal
    positions: Mapping[str, Decimal]
    marks: Mapping[str, Decimal]


@dataclass(frozen=True, slots=True)
class OrderPlan:
    symbol: str
    side: Side
    quantity: Decimal


class Policy(Protocol):
    def due(self, index: int) -> bool:
        """Whether the policy acts at bar group `index` (0-based)."""
        ...

    def decide(self, book: Book) -> list[OrderPlan]: ...


@dataclass
class AlternatingPolicy:
    """BUY, then SELL, `quantity` of `symbol` every `every` groups (at groups 0, every, ...)."""

    symbol: str
    quantity: Decimal
    every: int = 100
    _buy: bool = True

    def due(self, index: int) -> bool:
        return index % self.every == 0

    def decide(self, book: Book) -> list[OrderPlan]:
        side: Side = "BUY" if self._buy else "SELL"
        self._buy = not self._buy
        return [OrderPlan(self.symbol, side, self.quantity)]
