"""Routing through the simulated broker (`serve --broker sim`) on a SQLite ledger:
the same router, another broker on the same port; plus the paths a socket
fake cannot easily force (an order cancelled before it went out; a broker
unreachable while placing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from adapters.broker.port import BrokerUnreachable, OrderRequest
from adapters.broker.sim import SimBroker
from adapters.routing import BrokerRouter
from domain import events as ev
from domain.killswitch import KillSwitchCommand
from domain.ledger import Operator
from tests.integration.test_reconcile_support import (
    ACCOUNT,
    Intents,
    events_of,
    open_app,
    run,
    status,
    until,
)


@dataclass
class FlakySim(SimBroker):
    """The simulated broker, unreachable while `down` (a hand-written fake)."""

    down: bool = False

    async def place(self, order: OrderRequest) -> None:
        if self.down:
            raise BrokerUnreachable("sim is down")
        await super().place(order)


def bar(broker: SimBroker, price: str = "100") -> None:
    p = Decimal(price)
    broker.show_bar("AAPL", datetime.now(UTC), p, p, p)


def test_sim_routes_fills_and_resumes(sqlite_url: str) -> None:
    async def scenario() -> None:
        app = open_app(sqlite_url)
        broker = SimBroker(account=ACCOUNT, clock=app.clock)
        router = BrokerRouter(app, broker, name="sim")
        await router.start()
        intent = Intents(app).send(qty="10", limit=None)
        await until(lambda: status(app, intent) == "ACKNOWLEDGED", "the acknowledgement")
        bar(broker)
        await until(lambda: status(app, intent) == "FILLED", "the fill")
        await router.stop()
        (filled,) = events_of(app, ev.OrderFilled)
        assert filled.source.startswith("broker:sim@")
        assert app.ledger.positions[(ACCOUNT, "AAPL")].quantity == 10

    run(scenario)


def test_order_cancelled_before_it_went_out_is_settled_not_sent(sqlite_url: str) -> None:
    async def scenario() -> None:
        app = open_app(sqlite_url)
        broker = SimBroker(account=ACCOUNT, clock=app.clock)
        router = BrokerRouter(app, broker, name="sim")
        await router.start()
        # Both commits happen before the router's sender runs.
        intent = Intents(app).send(qty="10", limit=None)
        app.command_killswitch(KillSwitchCommand.TRIP, "test", Operator("op"))
        await until(lambda: status(app, intent) == "CANCELED", "the local cancel")
        await router.stop()
        assert broker.orders == {}  # never sent
        (canceled,) = events_of(app, ev.OrderCanceled)
        assert canceled.reason == "canceled before it was sent to the broker"

    run(scenario)


def test_order_not_sent_while_unreachable_is_sent_on_reconnect(sqlite_url: str) -> None:
    async def scenario() -> None:
        app = open_app(sqlite_url)
        broker = FlakySim(account=ACCOUNT, clock=app.clock, down=True)
        router = BrokerRouter(app, broker, name="sim")
        await router.start()
        intent = Intents(app).send(qty="10", limit=None)
        await until(lambda: intent in router.unsent, "the failed send")
        assert status(app, intent) == "NEW"
        broker.down = False
        await broker.connect()  # a reconnect: the resync resends what did not go out
        await until(lambda: status(app, intent) == "ACKNOWLEDGED", "the acknowledgement")
        await router.stop()
        assert list(broker.orders) == [intent] and router.unsent == {}

    run(scenario)
