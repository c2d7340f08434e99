"""The kill switch: triggers (daily loss, drawdown, PSR, manual), HALT_AND_FLATTEN, resets,
and what it lets through while not ARMED."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts import ContractMessage
from domain import events as ev
from domain import ids
from domain.errors import KillSwitchCommandRefused
from domain.killswitch import (
    KillSwitchCommand,
    KillSwitchState,
    RiskLimits,
    check_psr,
    probabilistic_sharpe_ratio,
)
from domain.ledger import Ledger, LedgerConfig, Operator, Outcome
from domain.order_table import OrderStatus
from projections.views import killswitch_row
from tests.support.messages import (
    NOW,
    at,
    bar,
    feed,
    fill,
    intent,
    psr_float,
    report,
    tick,
    uid,
)

D = Decimal
K = KillSwitchState
C = KillSwitchCommand
ALICE = Operator("alice", "postgres", "alice-os")


def book(
    lg: Ledger, n: int, symbol: str, side: str, qty: int | str, price: int | str, *, day: int = 0
) -> None:
    """An intent filled at once (one execution)."""
    out = feed(
        lg,
        [
            intent(n, symbol=symbol, direction=side, quantity=qty, timestamp=at(n, day=day)),
            fill(
                n, f"e{n}.01", qty, price, status="FILLED", symbol=symbol, timestamp=at(n, day=day)
            ),
        ],
    )
    assert out.outcomes == [Outcome.APPLIED, Outcome.APPLIED]


def portfolio() -> Ledger:
    """Equity 1,000,000: cash 920,000, AAPL +1000 @ 100, MSFT -100 @ 200, GOOG flat,
    and a working order (ACKNOWLEDGED) on TSLA."""
    lg = Ledger(LedgerConfig())
    book(lg, 1, "AAPL", "BUY", 1000, 100)
    book(lg, 2, "MSFT", "SELL", 100, 200)
    book(lg, 3, "GOOG", "BUY", 10, 50)
    book(lg, 4, "GOOG", "SELL", 10, 50)
    feed(
        lg,
        [
            intent(
                5, symbol="TSLA", quantity=5, order_type="LIMIT", limit_price=1, timestamp=at(5)
            ),
            report(5, "ACKNOWLEDGED", symbol="TSLA", timestamp=at(5)),
        ],
    )
    assert lg.account.equity() == D(1_000_000)
    return lg


def trips(events: list[ev.LedgerEvent]) -> list[ev.KillSwitchTripped]:
    return [e for e in events if isinstance(e, ev.KillSwitchTripped)]


# ---------------------------------------------------------------------------- daily loss


def test_daily_loss_of_exactly_five_percent_does_not_trip() -> None:
    lg = portfolio()
    fed = feed(lg, [bar("AAPL", 50, at(60))])  # loss 50,000 = 5.000 %
    assert trips(fed.events) == []
    assert lg.killswitch.state == K.ARMED


def test_daily_loss_beyond_five_percent_halts_and_flattens_every_open_position() -> None:
    lg = portfolio()
    fed = feed(lg, [bar("AAPL", "49.99", at(60))])  # loss 50,010 = 5.001 %
    [trip] = trips(fed.events)
    assert (trip.trigger, trip.action, trip.by) == ("daily_loss", "HALT_AND_FLATTEN", "risk-policy")
    assert trip.measure == D("0.05001")
    assert trip.threshold == D("0.05")
    assert trip.equity == D("949990.00")
    assert trip.high_water_mark == D(1_000_000)
    assert trip.source == "test@1"
    assert lg.killswitch.state == K.TRIPPED

    flatten = [
        e for e in fed.events if isinstance(e, ev.OrderIntentRecorded) and e.origin == "killswitch"
    ]
    assert sorted((e.symbol, e.side, e.quantity, e.order_type) for e in flatten) == [
        ("AAPL", "SELL", D(1000), "MARKET"),
        ("MSFT", "BUY", D(100), "MARKET"),
    ]
    for e in flatten:
        assert e.originator_id == ids.flatten_intent_id(trip.originator_version, "SIM", e.symbol)
        assert lg.orders[e.originator_id].status == OrderStatus.NEW  # not denied
    # The working order gets a cancel request.
    assert lg.orders[uid(5)].status == OrderStatus.PENDING_CANCEL


def test_once_tripped_further_losses_do_not_trip_again() -> None:
    lg = portfolio()
    feed(lg, [bar("AAPL", 40, at(60))])
    fed = feed(lg, [bar("AAPL", 10, at(120)), tick("AAPL", 5, at(130))])
    assert trips(fed.events) == []


def test_a_trade_tick_is_a_mark_too() -> None:
    lg = portfolio()
    fed = feed(lg, [tick("AAPL", "49.99", at(60), tick_type="BID")])
    assert trips(fed.events) == []  # a quote is not a mark
    fed = feed(lg, [tick("AAPL", "49.99", at(61), tick_type="TRADE")])
    assert [t.trigger for t in trips(fed.events)] == ["daily_loss"]


def test_daily_loss_is_measured_from_the_days_opening_equity() -> None:
    lg = portfolio()
    feed(lg, [bar("AAPL", 70, at(60))])  # -3 % on day 0
    fed = feed(lg, [bar("AAPL", 41, at(0, day=1))])  # -2.99 % more, from day 1's open
    assert trips(fed.events) == []
    assert lg.account.opening_equity == D(970_000)
    assert lg.account.daily_returns == [D("-0.03")]


def test_marks_default_to_the_last_fill_price_until_market_data_arrives() -> None:
    lg = Ledger(LedgerConfig())
    book(lg, 1, "AAPL", "BUY", 1000, 100)
    book(lg, 2, "AAPL", "BUY", 1, "49.00")  # marks the whole position at 49
    assert lg.killswitch.state == K.TRIPPED
    assert lg.killswitch.trigger == "daily_loss"


# ---------------------------------------------------------------------------- drawdown


def test_drawdown_beyond_fifteen_percent_trips_without_a_daily_loss() -> None:
    lg = Ledger(LedgerConfig())
    book(lg, 1, "AAPL", "BUY", 10_000, 100)  # cash 0, equity 1,000,000
    closes = ["104", "100", "96.5", "93", "89.5"]  # daily losses all below 5 %
    for d, close in enumerate(closes):
        fed = feed(lg, [bar("AAPL", close, at(3600, day=d))])
        assert trips(fed.events) == []
    assert lg.account.high_water_mark == D(1_040_000)
    # 884,000 is 15.0 % below 1,040,000: not beyond
    fed = feed(lg, [bar("AAPL", "88.40", at(3600, day=5))])
    assert trips(fed.events) == []
    fed = feed(lg, [bar("AAPL", "88.39", at(3601, day=5))])
    [trip] = trips(fed.events)
    assert (trip.trigger, trip.action) == ("drawdown", "HALT_AND_FLATTEN")
    assert abs(trip.measure - D(156_100) / D(1_040_000)) < D("1e-26")
    assert [
        e.side
        for e in fed.events
        if isinstance(e, ev.OrderIntentRecorded) and e.origin == "killswitch"
    ] == ["SELL"]


# ---------------------------------------------------------------------------- PSR


def daily_closes(n_days: int, up: str, down: str) -> list[Decimal]:
    """Closes alternating one day up by `up`, one day down by `down` (fractions)."""
    closes, c = [], D(100)
    for d in range(n_days):
        c = (c * (1 + D(up) if d % 2 else 1 - D(down))).quantize(D("0.01"))
        closes.append(c)
    return closes


def psr_session(closes: list[Decimal]) -> tuple[Ledger, list[ev.KillSwitchTripped], int | None]:
    """10,000 shares at 100 on day 0, then one closing bar a day. Returns the trips and
    the day on which the first one happened."""
    lg = Ledger(LedgerConfig())
    book(lg, 1, "AAPL", "BUY", 10_000, 100)
    feed(lg, [bar("AAPL", 100, at(3600))])
    found: list[ev.KillSwitchTripped] = []
    first_day = None
    for d, close in enumerate(closes, start=1):
        fed = feed(lg, [bar("AAPL", close, at(3600, day=d))])
        if trips(fed.events) and first_day is None:
            first_day = d
        found += trips(fed.events)
    return lg, found, first_day


def test_psr_below_threshold_trips_once_thirty_daily_returns_exist() -> None:
    closes = daily_closes(35, up="0.002", down="0.004")  # steady small losses
    lg, found, first_day = psr_session(closes)
    assert first_day == 30  # day 30's first message closes day 29: the 30th return
    [trip] = found
    assert (trip.trigger, trip.action) == ("psr", "HALT_AND_INVESTIGATE")
    assert len(lg.account.daily_returns) == 35
    returns_at_trip = lg.account.daily_returns[:30]
    expected = psr_float(returns_at_trip)
    assert expected is not None and expected < 0.2
    assert float(trip.measure) == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert trip.threshold == D("0.20")
    # HALT_AND_INVESTIGATE halts only: no flatten orders.
    assert not [o for o in lg.orders.values() if o.origin == "killswitch"]


def test_psr_is_not_evaluated_before_thirty_returns() -> None:
    closes = daily_closes(29, up="0.002", down="0.004")
    lg, found, _ = psr_session(closes)
    assert len(lg.account.daily_returns) == 29
    assert psr_float(lg.account.daily_returns) < 0.2  # type: ignore[operator]
    assert found == []


def test_a_profitable_month_does_not_trip_on_psr() -> None:
    lg, found, _ = psr_session(daily_closes(40, up="0.006", down="0.002"))
    assert found == []
    assert lg.killswitch.state == K.ARMED


def test_psr_matches_a_float_reference() -> None:
    returns = [
        D(x)
        for x in (
            "0.01",
            "-0.02",
            "0.003",
            "0.0045",
            "-0.011",
            "0.02",
            "-0.001",
            "0.007",
            "-0.004",
            "0.0",
        )
    ]
    value = probabilistic_sharpe_ratio(returns)
    assert value is not None
    assert float(value) == pytest.approx(psr_float(returns), rel=1e-9)


def test_psr_undefined_without_variance() -> None:
    assert probabilistic_sharpe_ratio([D("0.01")] * 40) is None
    assert check_psr(RiskLimits(), [D("0.01")] * 40) is None


# ---------------------------------------------------------------------------- manual


def test_manual_trip_and_resets_with_reason() -> None:
    lg = portfolio()
    lg.command_killswitch(C.TRIP, "fat finger in the strategy", ALICE, NOW)
    [trip] = trips(lg.drain())
    assert (trip.trigger, trip.action, trip.reason, trip.by, trip.db_role, trip.os_user) == (
        "manual",
        "HALT",
        "fat finger in the strategy",
        "alice",
        "postgres",
        "alice-os",
    )
    assert trip.source == "cli"
    assert killswitch_row(lg) == {
        "state": "TRIPPED",
        "since": "2025-11-17T15:00:00Z",
        "reason": "fat finger in the strategy",
        "by": "alice",
        "trigger": "manual",
    }
    # A manual trip halts; it does not flatten, but working orders get cancel requests.
    assert not [o for o in lg.orders.values() if o.origin == "killswitch"]
    assert lg.orders[uid(5)].status == OrderStatus.PENDING_CANCEL

    with pytest.raises(KillSwitchCommandRefused):
        lg.command_killswitch(C.TRIP, "again", ALICE, NOW)

    lg.command_killswitch(C.REDUCE_ONLY, "let exits through", Operator("bob"), NOW)
    [reset] = lg.drain()
    assert isinstance(reset, ev.KillSwitchReset)
    assert (reset.state, reset.previous_state, reset.reason, reset.by) == (
        "REDUCING",
        "TRIPPED",
        "let exits through",
        "bob",
    )
    assert killswitch_row(lg)["trigger"] is None

    lg.command_killswitch(C.ARM, "all clear", Operator("bob"), NOW)
    assert lg.killswitch.state == K.ARMED
    with pytest.raises(KillSwitchCommandRefused):
        lg.command_killswitch(C.ARM, "twice", Operator("bob"), NOW)
    assert lg.drain()[-1].state == "ARMED"  # type: ignore[attr-defined]


def test_an_operator_may_restrict_an_armed_switch_to_reducing() -> None:
    lg = Ledger(LedgerConfig())
    lg.command_killswitch(C.REDUCE_ONLY, "earnings", ALICE, NOW)
    assert lg.killswitch.state == K.REDUCING
    with pytest.raises(KillSwitchCommandRefused):
        lg.command_killswitch(C.REDUCE_ONLY, "again", ALICE, NOW)


# ---------------------------------------------------------------------------- denials


def long_100() -> Ledger:
    lg = Ledger(LedgerConfig())
    book(lg, 1, "AAPL", "BUY", 100, 10)
    return lg


@pytest.mark.parametrize(
    "side,qty,denied",
    [
        ("SELL", 40, False),  # reduces
        ("SELL", 100, False),  # closes
        ("SELL", 150, True),  # flips through zero
        ("BUY", 1, True),  # adds
    ],
)
def test_reducing_lets_only_exposure_reducing_intents_through(
    side: str, qty: int, denied: bool
) -> None:
    lg = long_100()
    lg.command_killswitch(C.REDUCE_ONLY, "exits only", ALICE, NOW)
    lg.drain()
    fed = feed(lg, [intent(9, direction=side, quantity=qty, timestamp=at(9))])
    assert fed.outcomes == [Outcome.APPLIED]
    order = lg.orders[uid(9)]
    assert (order.status == OrderStatus.DENIED) is denied
    if denied:
        [denial] = [e for e in fed.events if isinstance(e, ev.OrderDenied)]
        assert denial.reason == "kill switch REDUCING: only exposure-reducing orders pass"


def test_reducing_denies_any_intent_on_a_flat_symbol() -> None:
    lg = long_100()
    lg.command_killswitch(C.REDUCE_ONLY, "exits only", ALICE, NOW)
    feed(lg, [intent(9, symbol="MSFT", direction="SELL", quantity=1)])
    assert lg.orders[uid(9)].status == OrderStatus.DENIED


def test_tripped_denies_every_new_intent_and_reports_for_it_are_anomalies() -> None:
    lg = long_100()
    lg.command_killswitch(C.TRIP, "halt", ALICE, NOW)
    fed = feed(
        lg,
        [
            intent(9, direction="SELL", quantity=10, timestamp=at(9)),
            fill(9, "z.01", 10, 10, status="FILLED", timestamp=at(10)),
        ],
    )
    assert fed.outcomes == [Outcome.APPLIED, Outcome.ANOMALY]
    assert lg.orders[uid(9)].status == OrderStatus.DENIED
    assert lg.positions[("SIM", "AAPL")].quantity == D(100)


def test_reducing_counts_working_orders() -> None:
    lg = long_100()
    lg.command_killswitch(C.REDUCE_ONLY, "exits only", ALICE, NOW)
    feed(
        lg,
        [
            intent(8, direction="SELL", quantity=100, timestamp=at(8)),
            intent(9, direction="SELL", quantity=100, timestamp=at(9)),
        ],
    )
    assert lg.orders[uid(8)].status == OrderStatus.NEW
    assert lg.orders[uid(9)].status == OrderStatus.DENIED


def test_flatten_orders_fill_the_position_to_zero() -> None:
    lg = portfolio()
    feed(lg, [bar("AAPL", 40, at(60))])
    flatten = {o.symbol: o for o in lg.orders.values() if o.origin == "killswitch"}
    fed = feed(
        lg,
        [
            fill(flatten["AAPL"].intent_id, "f1.01", 1000, 40, status="FILLED", timestamp=at(70)),
            fill(
                flatten["MSFT"].intent_id,
                "f2.01",
                100,
                200,
                status="FILLED",
                symbol="MSFT",
                timestamp=at(71),
            ),
        ],
    )
    assert fed.outcomes == [Outcome.APPLIED, Outcome.APPLIED]
    assert lg.positions[("SIM", "AAPL")].quantity == 0
    assert lg.positions[("SIM", "MSFT")].quantity == 0
    assert lg.positions[("SIM", "AAPL")].realized_pnl == D(-60_000)


def test_starting_equity_comes_from_the_configuration() -> None:
    lg = Ledger(LedgerConfig(starting_equity=D(100_000)))
    book(lg, 1, "AAPL", "BUY", 1000, 100)  # all in
    fed = feed(lg, [bar("AAPL", "94.99", at(60))])
    assert [t.trigger for t in trips(fed.events)] == ["daily_loss"]


def _messages_for_live_comparison() -> list[ContractMessage]:
    return [
        intent(1, quantity=10_000),
        fill(1, "a.01", 10_000, 100, status="FILLED"),
        bar("AAPL", 99, at(60)),
        bar("AAPL", 97, at(120)),
        bar("AAPL", "94.90", at(180)),
        bar("AAPL", 90, at(240)),
    ]


def test_the_same_messages_trip_at_the_same_message_whatever_the_batching() -> None:
    # Feeding all at once and one by one (draining each time) decide the same events.
    msgs = _messages_for_live_comparison()
    whole = Ledger(LedgerConfig())
    all_events = feed(whole, msgs).events
    one_by_one = Ledger(LedgerConfig())
    events: list[ev.LedgerEvent] = []
    for i, m in enumerate(msgs, start=1):
        events += feed(one_by_one, [m], start=i).events
    assert events == all_events
    [trip] = trips(events)
    assert trip.source == "test@5"


def test_a_second_trip_does_not_double_the_working_flatten_order() -> None:
    lg = Ledger(LedgerConfig())
    book(lg, 1, "AAPL", "BUY", 10_000, 100)
    feed(lg, [bar("AAPL", 94, at(60))])
    lg.command_killswitch(C.ARM, "looked fine", ALICE, NOW)
    feed(lg, [bar("AAPL", 93, at(120))])
    assert lg.killswitch.state == K.TRIPPED
    working = [o for o in lg.orders.values() if o.origin == "killswitch" and o.is_working]
    assert sum(o.quantity for o in working) == D(10_000)
