"""Helpers shared by the reconcile and routing tests (this module holds no tests).

The fake TWS (tests/fakes/fake_tws.py) speaks the real socket protocol to the
real ib_async client. `FakeTwsThread` runs it on its own event loop in a
background thread, so the code under test can run `asyncio.run` itself (the
CLI does) while the fake keeps answering.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar
from uuid import UUID, uuid4

from adapters.ibkr import IbkrBroker, IbkrSettings
from adapters.store import open_ledger
from contracts.messages import Direction, OrderIntent, OrderType
from domain import events as ev
from domain.application import LedgerApplication, ParsedMessage
from domain.clock import SteppingClock
from domain.ledger import LedgerConfig
from tests.fakes.fake_tws import FakeTws

ACCOUNT = "DU1234567"
WAIT = 5.0  # upper bound for anything to arrive; a hang fails instead of blocking
T = TypeVar("T")


def ibkr_settings(port: int, **overrides: Any) -> IbkrSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "client_id": 1,
        "account": ACCOUNT,
        "connect_timeout": 3.0,
        "reconnect_delays": (0.05,),
        "commission_wait": 2.0,
    }
    values.update(overrides)
    return IbkrSettings.load(**values)


def ibkr(port: int, **overrides: Any) -> IbkrBroker:
    return IbkrBroker(ibkr_settings(port, **overrides))


def open_app(url: str, account: str = ACCOUNT) -> LedgerApplication:
    """A ledger on `url` trading the broker account, on a clock that starts now
    (the fake TWS stamps executions with the wall clock)."""
    return open_ledger(
        url, clock=SteppingClock(datetime.now(UTC)), config=LedgerConfig(account=account)
    )


class Intents:
    """Intents fed to the ledger as the strategy would, with their own source."""

    def __init__(self, app: LedgerApplication) -> None:
        self.app = app
        self.position = app.store.source_positions().get("strategy", 0)

    def send(
        self,
        side: str = "BUY",
        qty: str = "10",
        symbol: str = "AAPL",
        limit: str | None = "150.5",
        intent_id: UUID | None = None,
    ) -> UUID:
        intent_id = intent_id or uuid4()
        self.position += 1
        intent = OrderIntent(
            intent_id=intent_id,
            symbol=symbol,
            direction=Direction(side),
            quantity=Decimal(qty),
            order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
            limit_price=Decimal(limit) if limit is not None else None,
            timestamp=datetime.now(UTC),
        )
        self.app.process([ParsedMessage("strategy", self.position, intent)])
        return intent_id


def status(app: LedgerApplication, intent_id: UUID) -> str:
    order = app.ledger.orders.get(intent_id)
    return order.status.value if order is not None else "UNKNOWN"


async def until(predicate: Callable[[], bool], what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def events_of(app: LedgerApplication, cls: type[ev.LedgerEvent]) -> list[Any]:
    return [e for _, e in app.read_events() if isinstance(e, cls)]


class FakeTwsThread:
    """A FakeTws serving from a background thread's event loop."""

    def __init__(self, accounts: list[str] | None = None) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.fake: FakeTws = self.run(self._make(accounts))

    async def _make(self, accounts: list[str] | None) -> FakeTws:
        fake = FakeTws(accounts or [ACCOUNT])
        await fake.start()
        return fake

    @property
    def port(self) -> int:
        return self.fake.port

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(WAIT)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def wait_idle(self) -> None:
        """Until no client is connected (a CLI run has hung up)."""
        deadline = time.monotonic() + WAIT
        while self.call(lambda: bool(self.fake.sessions)):
            if time.monotonic() > deadline:
                raise AssertionError("a client stayed connected")
            time.sleep(0.01)

    def close(self) -> None:
        self.run(self.fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)
        self._loop.close()


@contextmanager
def fake_tws_thread(accounts: list[str] | None = None) -> Iterator[FakeTwsThread]:
    server = FakeTwsThread(accounts)
    try:
        yield server
    finally:
        server.close()


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await scenario()

    return asyncio.run(main())
