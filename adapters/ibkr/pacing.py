"""Order pacing: at most N order messages per second.

IB disconnects a client that sends more than 50 messages/s (error 100).
ib_async queues anything above 45/s, but a queue hides the backlog from the
caller; awaiting the pacer makes `place` itself slow down, so a burst of
HALT_AND_FLATTEN orders goes out at a steady, legal rate.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable


class Pacer:
    def __init__(
        self,
        max_per_interval: int,
        interval: float = 1.0,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if max_per_interval < 1 or interval <= 0:
            raise ValueError("pacing needs at least one message per positive interval")
        self._max = max_per_interval
        self._interval = interval
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = asyncio.Lock()

    def _now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    async def acquire(self) -> None:
        """Wait until one more message fits in the sliding window, and count it."""
        async with self._lock:
            while True:
                now = self._now()
                while self._sent and now - self._sent[0] >= self._interval:
                    self._sent.popleft()
                if len(self._sent) < self._max:
                    self._sent.append(now)
                    return
                await self._sleep(self._interval - (now - self._sent[0]))
