"""Time and ids of a backtest: derived from the data and the seed, never from the machine.

The ledger stamps `recorded_at` from the clock it was opened with; in a
backtest that clock reads the time of the bar group being recorded, set by the
engine before each decision. Two runs over the same data therefore record the
same times, whenever and wherever they run.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid5

NAMESPACE = UUID("0f6a7c1e-43b4-5d2a-9c51-6b0d3e8f2a17")


class DataClock:
    """A clock the engine moves: `now()` is the time of the data being recorded."""

    def __init__(self, start: datetime) -> None:
        self._at = start

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at


def intent_id(seed: int, bar_index: int, symbol: str) -> UUID:
    """The strategy's intent for `symbol` at bar group `bar_index`: uuid5, never random."""
    return uuid5(NAMESPACE, f"backtest:{seed}:{bar_index}:{symbol}")
