"""A bounded memory of recently seen keys: duplicate detection for market data.

Market data has no ids; a re-delivered bar is recognised by its (symbol, bar size,
time). Remembering every key forever would grow with the data (a million bars in a
backtest), so each stream remembers its last `capacity` keys. A re-delivery older
than that is recorded again (it is still kept, never dropped) but moves no mark,
because marks only move forward in time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable


class Recent:
    __slots__ = ("_keys", "_order", "capacity")

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._keys: set[Hashable] = set()
        self._order: deque[Hashable] = deque()

    def __contains__(self, key: Hashable) -> bool:
        return key in self._keys

    def add(self, key: Hashable) -> None:
        if key in self._keys:
            return
        self._keys.add(key)
        self._order.append(key)
        if len(self._order) > self.capacity:
            self._keys.discard(self._order.popleft())

    def items(self) -> list[Hashable]:
        return list(self._order)
