"""Live routing (`serve --broker ibkr`) through the real ib_async client and the fake TWS.

The ledger is a real SQLite store; intents are committed as the strategy's
input would be; the router sends what the ledger accepts, and the broker's
reports come back into the ledger through `app.process`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.broker.port import BrokerConfigError
from adapters.routing import BrokerRouter, RoutingConfigError
from contracts.messages import BarEvent
from domain import events as ev
from domain.application import ParsedMessage
from domain.killswitch import KillSwitchCommand
from domain.ledger import Operator
from tests.fakes.fake_tws import FakeTws
from tests.fakes.tws_state import TwsCommission
from tests.integration.test_reconcile_support import (
    ACCOUNT,
    Intents,
    events_of,
    ibkr,
    open_app,
    run,
    status,
    until,
)

OPERATOR = Operator("test-operator")


def test_accepted_intent_is_sent_with_its_id_and_the_fill_comes_back(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            app = open_app(sqlite_url)
            router = BrokerRouter(app, ibkr(fake.port), name="ibkr")
            await router.start()
            intent = Intents(app).send(qty="10", limit="150.5")
            await until(lambda: status(app, intent) == "FILLED", "the fill")
            (placed,) = fake.messages_of(3)
            assert (placed[16], placed[17], placed[26]) == ("BUY", "10.0", str(intent))
            order = app.ledger.orders[intent]
            execution = fake.state.executions[-1]
            assert list(order.fills) == [execution.exec_id]
            assert order.broker_order_id == str(execution.perm_id)  # permId recorded
            assert order.fills[execution.exec_id].commission == Decimal("1.00")
            assert app.ledger.positions[(ACCOUNT, "AAPL")].quantity == Decimal(10)
            fill = events_of(app, ev.OrderFilled)[-1]
            assert fill.source.startswith("broker:ibkr@")
            assert router.perm_ids == {intent: execution.perm_id}
            await router.stop()
            seq = app.store.source_positions()["broker:ibkr"]
            assert seq >= 3  # submitted, acknowledged, filled

            # A restart resumes the sequence after the last committed report.
            again = open_app(sqlite_url)
            router2 = BrokerRouter(again, ibkr(fake.port), name="ibkr")
            await router2.start()
            second = Intents(again)
            other = second.send(qty="5", limit="151")
            await until(lambda: status(again, other) == "FILLED", "the second fill")
            await router2.stop()
            assert again.store.source_positions()["broker:ibkr"] > seq
            assert len(fake.messages_of(3)) == 2  # the first order was not sent again

    run(scenario)


def test_rejection_201_comes_back_as_rejected(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            fake.on_place = "reject"
            app = open_app(sqlite_url)
            router = BrokerRouter(app, ibkr(fake.port))
            await router.start()
            intent = Intents(app).send()
            await until(lambda: status(app, intent) == "REJECTED", "the rejection")
            (rejected,) = events_of(app, ev.OrderRejected)
            assert rejected.reason.startswith("201: Order rejected")
            await router.stop()

    run(scenario)


def test_cancel_request_becomes_a_cancel_and_202_comes_back(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            fake.on_place = "rest"
            app = open_app(sqlite_url)
            router = BrokerRouter(app, ibkr(fake.port))
            await router.start()
            intent = Intents(app).send()
            await until(lambda: status(app, intent) == "ACKNOWLEDGED", "the acknowledgement")
            app.command(lambda ledger, now: ledger.request_cancel(intent, "operator", "cli", now))
            await until(lambda: status(app, intent) == "CANCELED", "the cancel")
            assert len(fake.messages_of(4)) == 1  # one CANCEL_ORDER on the wire
            assert fake.state.open_orders == []
            await router.stop()

    run(scenario)


def test_reducing_sends_only_the_reducing_intent(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            app = open_app(sqlite_url)
            router = BrokerRouter(app, ibkr(fake.port))
            await router.start()
            intents = Intents(app)
            first = intents.send(qty="10")
            await until(lambda: status(app, first) == "FILLED", "the opening fill")
            app.command_killswitch(KillSwitchCommand.TRIP, "test", OPERATOR)
            app.command_killswitch(KillSwitchCommand.REDUCE_ONLY, "exits only", OPERATOR)
            more = intents.send(qty="5")  # would increase the position: denied
            exit_ = intents.send(side="SELL", qty="4", limit="150")
            await until(lambda: status(app, exit_) == "FILLED", "the exit")
            assert status(app, more) == "DENIED"
            refs = [m[26] for m in fake.messages_of(3)]
            assert refs == [str(first), str(exit_)]
            await router.stop()

    run(scenario)


def test_trip_cancels_working_orders_and_sends_the_flatten_order(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            app = open_app(sqlite_url)
            router = BrokerRouter(app, ibkr(fake.port))
            await router.start()
            intents = Intents(app)
            opened = intents.send(qty="1000", limit="100")
            await until(lambda: status(app, opened) == "FILLED", "the opening fill")
            fake.on_place = "rest"
            working = intents.send(qty="10", limit="90")
            await until(lambda: status(app, working) == "ACKNOWLEDGED", "the resting order")
            fake.on_place, fake.fill_price = "fill", Decimal(40)
            # A 60 % drop: the daily loss limit trips HALT_AND_FLATTEN.
            bar = BarEvent(
                symbol="AAPL",
                timestamp=datetime.now(UTC),
                open=Decimal(40),
                high=Decimal(40),
                low=Decimal(40),
                close=Decimal(40),
                volume=Decimal(1),
            )
            app.process([ParsedMessage("market", 1, bar)])
            (trip,) = events_of(app, ev.KillSwitchTripped)
            assert trip.action == "HALT_AND_FLATTEN"
            await until(lambda: status(app, working) == "CANCELED", "the cancel")
            (flatten,) = [o for o in app.ledger.orders.values() if o.origin == "killswitch"]
            await until(lambda: status(app, flatten.intent_id) == "FILLED", "the flatten fill")
            assert app.ledger.positions[(ACCOUNT, "AAPL")].quantity == 0
            # On the wire: the cancel went out before the flatten order.
            order_msgs = [m for m in fake.received if m[0] in ("3", "4")]
            assert [m[0] for m in order_msgs] == ["3", "3", "4", "3"]
            assert order_msgs[-1][16:19] == ["SELL", "1000.0", "MKT"]
            await router.stop()

    run(scenario)


def test_fill_missed_while_disconnected_is_fed_on_reconnect(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            fake.on_place = "rest"
            app = open_app(sqlite_url)
            router = BrokerRouter(app, ibkr(fake.port))
            await router.start()
            intent = Intents(app).send(qty="10")
            await until(lambda: status(app, intent) == "ACKNOWLEDGED", "the acknowledgement")
            await fake.drop_connections()
            missed = await fake.fill(fake.order_by_ref(str(intent)), Decimal(10), Decimal("150.4"))
            await until(lambda: status(app, intent) == "FILLED", "the resync")
            fill = app.ledger.orders[intent].fills[missed.exec_id]
            assert (fill.price, fill.commission) == (Decimal("150.4"), Decimal("1.00"))
            assert fake.connection_count == 2
            await router.stop()

    run(scenario)


def test_commission_sent_after_a_reconnect_reaches_the_ledger(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            fake.on_place = "rest"
            app = open_app(sqlite_url)
            # No wait for commissions: the fill is reported without one.
            router = BrokerRouter(app, ibkr(fake.port, commission_wait=0))
            await router.start()
            intent = Intents(app).send(qty="10")
            await until(lambda: status(app, intent) == "ACKNOWLEDGED", "the acknowledgement")
            resting = fake.order_by_ref(str(intent))
            execution = await fake.fill(resting, Decimal(10), Decimal("150.5"), commission=False)
            await until(lambda: status(app, intent) == "FILLED", "the fill")
            assert app.ledger.orders[intent].fills[execution.exec_id].commission == 0
            # TWS sends the commission report again after a reconnect.
            fake.state.commissions[execution.exec_id] = TwsCommission(
                execution.exec_id, Decimal("1.25")
            )
            await fake.drop_connections()
            await until(lambda: fake.connection_count == 2 and bool(fake.sessions), "reconnect")
            await fake.resend_commissions()
            await until(
                lambda: app.ledger.orders[intent].commission == Decimal("1.25"), "the commission"
            )
            assert len(events_of(app, ev.OrderFillCorrected)) == 1  # the commission alone
            await router.idle()
            await fake.resend_commissions()  # re-sent again: nothing new
            await router.stop()
            assert len(events_of(app, ev.OrderFillCorrected)) == 1

    run(scenario)


def test_live_correction_replaces_the_fill(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            app = open_app(sqlite_url)
            router = BrokerRouter(app, ibkr(fake.port))
            await router.start()
            intent = Intents(app).send(qty="10", limit="150.5")
            await until(lambda: status(app, intent) == "FILLED", "the fill")
            corrected = await fake.correct(fake.state.executions[-1], Decimal("150.45"))
            await until(lambda: corrected.exec_id in app.ledger.orders[intent].fills, "correction")
            assert app.ledger.positions[(ACCOUNT, "AAPL")].avg_price == Decimal("150.45")
            await router.stop()

    run(scenario)


def test_wrong_account_is_refused(sqlite_url: str) -> None:
    async def scenario() -> None:
        async with FakeTws([ACCOUNT]) as fake:
            app = open_app(sqlite_url)
            router = BrokerRouter(app, ibkr(fake.port, account="DU9999999"))
            with pytest.raises(BrokerConfigError, match="DU9999999 is not managed"):
                await router.start()
            assert not app.on_committed  # nothing left registered
            # The ledger trades another account than the gateway's: refused too.
            other = open_app(sqlite_url.replace("ledger.db", "other.db"), account="SIM")
            with pytest.raises(RoutingConfigError, match="LEDGER_ACCOUNT"):
                await BrokerRouter(other, ibkr(fake.port)).start()
            assert not fake.messages_of(3)

    run(scenario)
