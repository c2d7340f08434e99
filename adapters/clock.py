"""The wall clock, for live use. (Tests and backtests inject their own.)"""

from __future__ import annotations

from datetime import UTC, datetime


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
