"""The Ledger's routing of inputs: held reports, quarantine, market data, the account's day,
recorded time, and the instruments table."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from domain import events as ev
from domain import ids
from domain.errors import InstrumentsFileError
from domain.instruments import parse_instruments_csv
from domain.ledger import Ledger, LedgerConfig, Outcome
from domain.order_table import OrderStatus
from tests.support.messages import (
    NOW,
    at,
    bar,
    day,
    event_kinds,
    feed,
    fill,
    intent,
    line,
    ofi,
    report,
    state_of,
    tick,
    uid,
)

D = Decimal


def ledger() -> Ledger:
    return Ledger(LedgerConfig())


def test_reports_before_their_intent_are_held_then_applied_in_arrival_order() -> None:
    lg = ledger()
    ack, part = report(1, "ACKNOWLEDGED"), fill(1, "a.01", 4, 10)
    fed = feed(lg, [ack, part, part])
    assert fed.outcomes == [Outcome.HELD, Outcome.HELD, Outcome.DUPLICATE]
    assert event_kinds(fed.events) == [
        "AccountOpened",
        "ExecutionReportHeld",
        "ExecutionReportHeld",
    ]
    assert {e.originator_id for e in fed.events[1:]} == {ids.held_reports_id(uid(1))}
    assert lg.orders == {}
    fed = feed(lg, [intent(1, quantity=10)])
    assert fed.outcomes == [Outcome.APPLIED]
    assert event_kinds(fed.events) == [
        "OrderIntentRecorded",
        "OrderAcknowledged",
        "OrderPartiallyFilled",
        "PositionFillApplied",
    ]
    assert lg.held == {}
    assert lg.orders[uid(1)].status == OrderStatus.PARTIAL_FILL
    assert lg.positions[("SIM", "AAPL")].quantity == D(4)


def test_held_reports_survive_a_rebuild_from_the_events() -> None:
    lg = ledger()
    events = feed(lg, [report(1, "ACKNOWLEDGED"), fill(1, "a.01", 4, 10)]).events
    rebuilt = ledger()
    for e in events:
        rebuilt.apply(e)
    fed = feed(rebuilt, [intent(1, quantity=10)])
    assert event_kinds(fed.events) == [
        "OrderIntentRecorded",
        "OrderAcknowledged",
        "OrderPartiallyFilled",
        "PositionFillApplied",
    ]


def test_each_invalid_line_gets_its_own_quarantine_record() -> None:
    lg = ledger()
    raw = b'{"event_type":"nope"}'
    assert lg.quarantine("file:/a", 3, raw, "[]", NOW) == Outcome.QUARANTINED
    assert lg.quarantine("file:/a", 4, raw, "[]", NOW) == Outcome.QUARANTINED
    assert lg.quarantine("file:/a", 3, raw, "[]", NOW) == Outcome.DUPLICATE
    events = lg.drain()
    assert [e.originator_id for e in events] == [
        ids.quarantine_id("file:/a", 3),
        ids.quarantine_id("file:/a", 4),
    ]
    assert isinstance(events[0], ev.MessageQuarantined)
    assert (
        events[0].message_source,
        events[0].message_position,
        events[0].raw,
        events[0].raw_hex,
    ) == ("file:/a", 3, '{"event_type":"nope"}', "")


def test_quarantine_keeps_bytes_that_are_not_utf8() -> None:
    lg = ledger()
    lg.quarantine("file:/a", 1, b"\xff\xfe{", "[]", NOW)
    [e] = lg.drain()
    assert isinstance(e, ev.MessageQuarantined)
    assert e.raw_hex == "fffe7b"
    assert bytes.fromhex(e.raw_hex) == b"\xff\xfe{"


def test_market_data_is_recorded_and_marks_positions() -> None:
    lg = ledger()
    fed = feed(
        lg,
        [
            intent(1, quantity=10),
            fill(1, "a.01", 10, 100, status="FILLED"),
            bar("AAPL", 101, at(60)),
            tick("AAPL", 102, at(61), tick_type="LAST"),
            tick("AAPL", 999, at(62), tick_type="ASK"),
            ofi("AAPL", "0.3", at(63)),
        ],
    )
    assert fed.outcomes == [Outcome.APPLIED] * 6
    assert lg.account.marks["AAPL"] == D(102)
    assert lg.account.equity() == D(1_000_000) - D(1000) + D(1020)


def test_an_older_bar_does_not_move_the_mark() -> None:
    lg = ledger()
    feed(lg, [bar("AAPL", 101, at(60)), bar("AAPL", 90, at(30))])
    assert lg.account.marks["AAPL"] == D(101)


def test_same_bar_twice_is_a_duplicate() -> None:
    lg = ledger()
    b = bar("AAPL", 101, at(60))
    fed = feed(lg, [b, b, tick("AAPL", 1, at(1)), tick("AAPL", 1, at(1)), ofi("AAPL"), ofi("AAPL")])
    assert fed.outcomes == [Outcome.APPLIED, Outcome.DUPLICATE] * 3


def test_a_bar_delivered_again_after_a_newer_one_is_a_duplicate() -> None:
    lg = ledger()
    old = bar("AAPL", 100, at(0))
    feed(lg, [old, bar("AAPL", 101, at(60))])
    fed = feed(lg, [old])
    assert fed.outcomes == [Outcome.DUPLICATE]
    assert fed.events == []


def test_the_utc_day_rolls_on_the_first_message_of_a_new_day() -> None:
    lg = ledger()
    feed(
        lg,
        [
            intent(1, quantity=1000),
            fill(1, "a.01", 1000, 100, status="FILLED"),
            bar("AAPL", 110, at(60)),
        ],
    )
    fed = feed(lg, [bar("AAPL", 120, at(0, day=1))])
    [roll] = [e for e in fed.events if isinstance(e, ev.AccountDayRolled)]
    assert (roll.closed_day, roll.day) == (day(0), day(1))
    assert roll.closing_equity == roll.opening_equity == D(1_010_000)
    assert roll.daily_return == D("0.01")
    assert lg.account.opening_equity == D(1_010_000)


def test_a_message_from_an_earlier_day_does_not_roll_back() -> None:
    lg = ledger()
    feed(lg, [bar("AAPL", 1, at(0, day=2))])
    fed = feed(lg, [bar("MSFT", 1, at(0, day=1))])
    assert "AccountDayRolled" not in event_kinds(fed.events)
    assert lg.account.day == day(2)


def test_recorded_time_never_decreases_along_the_log() -> None:
    lg = ledger()
    feed(lg, [bar("AAPL", 1, at(0))], now=NOW)
    fed = feed(lg, [bar("AAPL", 2, at(1))], now=NOW - timedelta(hours=1))
    assert all(e.recorded_at == NOW for e in fed.events)


def test_events_carry_both_times_and_the_source() -> None:
    lg = ledger()
    fed = feed(lg, [intent(1, timestamp=at(5))], source="file:/in.jsonl", start=7)
    e = fed.events[-1]
    assert (e.occurred_at, e.recorded_at, e.source) == (at(5), NOW, "file:/in.jsonl@7")


def test_intent_account_defaults_to_the_configured_account() -> None:
    lg = Ledger(LedgerConfig(account="DU123"))
    feed(lg, [intent(1), intent(2, account="DU999"), fill(2, "a.01", 100, 1, status="FILLED")])
    assert lg.orders[uid(1)].account == "DU123"
    assert ("DU999", "AAPL") in lg.positions


def test_state_of_is_a_pure_reading() -> None:
    lg = ledger()
    feed(lg, [intent(1)])
    assert state_of(lg) == state_of(lg)
    assert line(intent(1)).startswith(b'{"event_type":"order_intent"')


# ---------------------------------------------------------------------------- instruments


def test_instruments_csv() -> None:
    table = parse_instruments_csv(
        "symbol,asset_class,multiplier,currency,price_increment\n# futures\nES,FUT,50,USD,0.25\n",
        "USD",
    )
    assert table.multiplier("ES") == D(50)
    assert table.multiplier("AAPL") == D(1)
    assert table.get("AAPL").currency == "USD"
    assert len(table) == 1


@pytest.mark.parametrize(
    "text",
    [
        "",
        "sym,mult\nES,50\n",
        "symbol,asset_class,multiplier,currency,price_increment\nES,FUT,fifty,USD,0.25\n",
        "symbol,asset_class,multiplier,currency,price_increment\nES,FUT,0,USD,0.25\n",
        "symbol,asset_class,multiplier,currency,price_increment\nES,FUT,50,USD\n",
    ],
)
def test_bad_instruments_files_are_named_errors(text: str) -> None:
    with pytest.raises(InstrumentsFileError):
        parse_instruments_csv(text)
