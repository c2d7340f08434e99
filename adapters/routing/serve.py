"""`ledger serve --broker ibkr|sim`: routing as a component of the serve loop.

The serve loop is synchronous and single-threaded, and every component shares
one LedgerApplication. The router is asyncio (ib_async needs an event loop),
so this component owns a private event loop and runs it only inside its own
calls: `start` connects, each `tick` runs the loop for a short slice (socket
I/O, sends, reports into the ledger), `stop` drains and disconnects. The
ledger is therefore only ever used from the serve thread; between ticks the
broker's messages wait in the socket buffer.

Usage in `replay/commands/serve.py::components`, after any ingest component:

    RoutingComponent("ibkr", host=..., port=..., client_id=..., account=...)
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from adapters.broker.port import BrokerPort
from adapters.routing.factory import open_broker
from adapters.routing.router import BrokerRouter
from domain.application import LedgerApplication

DEFAULT_SLICE = 0.02  # seconds of broker I/O per tick


class _Context(Protocol):
    """What the component uses of `adapters.projections.service.ServeContext`."""

    def ledger_app(self) -> LedgerApplication: ...


class RoutingComponent:
    name = "broker"

    def __init__(
        self,
        broker: str,
        *,
        host: str | None = None,
        port: int | None = None,
        client_id: int | None = None,
        account: str | None = None,
        slice_seconds: float = DEFAULT_SLICE,
    ) -> None:
        self.broker_name = broker
        self.host, self.port, self.client_id, self.account = host, port, client_id, account
        self.slice = slice_seconds
        self.router: BrokerRouter | None = None
        self.broker: BrokerPort | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self, ctx: _Context) -> None:
        """Connect and resync. Raises BrokerConfigError (usage: exit 2),
        BrokerUnreachable (exit 4) or RoutingConfigError (exit 2)."""
        app = ctx.ledger_app()
        self._loop = asyncio.new_event_loop()
        self.broker = open_broker(
            self.broker_name,
            app,
            host=self.host,
            port=self.port,
            client_id=self.client_id,
            account=self.account,
        )
        self.router = BrokerRouter(app, self.broker, name=self.broker_name)
        try:
            self._loop.run_until_complete(self.router.start())
        except BaseException:
            self._close_loop()
            self.router = None
            raise

    def tick(self, ctx: _Context) -> bool:
        router, loop = self.router, self._loop
        if router is None or loop is None or router.failure is not None:
            return False
        loop.run_until_complete(asyncio.sleep(self.slice))
        return router.pending

    def stop(self, ctx: _Context) -> None:
        if self.router is not None and self._loop is not None:
            self._loop.run_until_complete(self.router.stop())
        self._close_loop()

    def problem(self) -> str | None:
        if self.router is None:
            return "not started"
        failure = self.router.failure
        if failure is not None:
            return f"routing stopped: {failure}"
        if getattr(self.broker, "is_connected", True) is False:
            return f"{self.broker_name} disconnected; reconnecting"
        return None

    def is_ready(self) -> bool:
        return self.problem() is None

    def _close_loop(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
