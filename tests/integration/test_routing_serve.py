"""Routing as a `ledger serve` component: driven by synchronous ticks on the
serve thread (no other thread touches the ledger), against the simulated
broker and against the fake TWS through the real ib_async client."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.broker.port import BrokerConfigError
from adapters.routing import RoutingComponent
from contracts.messages import BarEvent
from domain.application import LedgerApplication, ParsedMessage
from tests.integration.test_reconcile_support import (
    ACCOUNT,
    WAIT,
    Intents,
    fake_tws_thread,
    open_app,
    status,
)


@dataclass
class Context:
    """The part of serve's ServeContext the component uses."""

    app: LedgerApplication

    def ledger_app(self) -> LedgerApplication:
        return self.app


def tick_until(component: RoutingComponent, ctx: Context, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        component.tick(ctx)


def test_sim_component_sends_intents_and_shows_bars(sqlite_url: str) -> None:
    ctx = Context(open_app(sqlite_url))
    component = RoutingComponent("sim")
    component.start(ctx)
    assert component.is_ready()
    intent = Intents(ctx.app).send(qty="10", limit=None)
    tick_until(component, ctx, lambda: status(ctx.app, intent) == "ACKNOWLEDGED")
    p = Decimal(100)
    bar = BarEvent(
        symbol="AAPL",
        timestamp=datetime.now(UTC),
        open=p,
        high=p,
        low=p,
        close=p,
        volume=Decimal(5),
    )
    ctx.app.process([ParsedMessage("market", 1, bar)])
    tick_until(component, ctx, lambda: status(ctx.app, intent) == "FILLED")
    component.stop(ctx)
    assert ctx.app.ledger.positions[(ACCOUNT, "AAPL")].quantity == 10


def test_ibkr_component_routes_and_reports_its_connection(sqlite_url: str) -> None:
    with fake_tws_thread() as tws:
        ctx = Context(open_app(sqlite_url))
        component = RoutingComponent("ibkr", port=tws.port, client_id=3, account=ACCOUNT)
        component.start(ctx)
        intent = Intents(ctx.app).send(qty="10")
        tick_until(component, ctx, lambda: status(ctx.app, intent) == "FILLED")
        assert component.problem() is None
        tws.run(tws.fake.drop_connections())
        tick_until(component, ctx, lambda: component.problem() is not None)
        assert component.problem() == "ibkr disconnected; reconnecting"
        tick_until(component, ctx, lambda: component.is_ready())
        component.stop(ctx)
        assert tws.call(lambda: len(tws.fake.messages_of(3))) == 1


def test_component_refuses_a_wrong_account(sqlite_url: str) -> None:
    with fake_tws_thread() as server:
        component = RoutingComponent("ibkr", port=server.port, account="DU0000001")
        with pytest.raises(BrokerConfigError, match="not managed"):
            component.start(Context(open_app(sqlite_url)))
        assert component.problem() == "not started"
