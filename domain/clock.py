"""Time is injected: the domain never reads the clock itself.

`Clock` is the port; adapters supply the wall clock, backtests a clock derived
from the data, tests a fixed or stepping clock (both pure, defined here).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class FixedClock:
    """Always the same instant: tests and deterministic replays."""

    def __init__(self, at: datetime) -> None:
        self._at = at

    def now(self) -> datetime:
        return self._at


class SteppingClock:
    """Advances by `step` on every reading: distinct, reproducible recorded times."""

    def __init__(self, start: datetime, step: timedelta = timedelta(microseconds=1)) -> None:
        self._next = start
        self._step = step

    def now(self) -> datetime:
        at = self._next
        self._next = at + self._step
        return at
