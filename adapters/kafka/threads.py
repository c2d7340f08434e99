"""Running blocking ledger work off the event loop, and reconnect backoff.

SQLite and psycopg calls block. They run on ONE dedicated worker thread, so the
event loop keeps heartbeating to the Kafka group coordinator and fetching the
next batch while a batch commits, and so the `LedgerApplication` (whose in-memory
`Ledger` is not thread-safe) is only ever touched by that one thread.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class LedgerThread:
    """One worker thread that owns every call into the ledger application and its store."""

    def __init__(self, name: str = "ledger") -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class Backoff:
    """Exponential backoff with full jitter: waits in [0, min(max, initial * 2**n)].

    Jitter keeps a fleet of `ledger serve` instances from reconnecting in lockstep
    after a broker restart. Randomness is injected (a seeded `random.Random` in tests).
    """

    def __init__(self, initial_s: float, max_s: float, rng: random.Random) -> None:
        self._initial = initial_s
        self._max = max_s
        self._rng = rng
        self.attempts = 0

    def next_delay(self) -> float:
        ceiling = min(self._max, self._initial * (2 ** min(self.attempts, 30)))
        self.attempts += 1
        return self._initial / 2 + self._rng.uniform(0, max(ceiling - self._initial / 2, 0))

    def reset(self) -> None:
        self.attempts = 0
