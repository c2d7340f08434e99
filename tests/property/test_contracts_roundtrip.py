"""Codec round trips: message_to_json -> parse_message gives the message back."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import (
    BarEvent,
    ContractMessage,
    Direction,
    ExecutionReport,
    OFIEvent,
    OrderIntent,
    OrderType,
    ReportStatus,
    TickEvent,
    TickType,
    message_to_json,
    parse_message,
)

# No deadline: this is about correctness, and shared CI machines are noisy.
# 50 examples per message type keep this file to a few seconds of CPU.
ROUND_TRIP = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

symbols = st.text(string.ascii_uppercase + string.digits + ".-_/", min_size=1, max_size=12)
texts = st.text(string.ascii_letters + string.digits + ".-_:", min_size=1, max_size=24)
free_text = st.text(max_size=40)  # any Unicode except surrogates, control characters too
signed = st.decimals(allow_nan=False, allow_infinity=False)
non_negative = st.decimals(min_value=0, allow_nan=False, allow_infinity=False)
positive = st.decimals(min_value=Decimal("1e-12"), allow_nan=False, allow_infinity=False)
zones = st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
)
times = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=zones
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


@st.composite
def bars(draw: st.DrawFn) -> BarEvent:
    low, high = sorted([draw(non_negative), draw(non_negative)])
    return BarEvent(
        symbol=draw(symbols),
        timestamp=draw(times),
        open=draw(non_negative),
        high=high,
        low=low,
        close=draw(non_negative),
        volume=draw(non_negative),
        bar_size=draw(maybe(st.sampled_from(["1s", "1min", "5min", "1h", "1d"]))),
    )


ticks = st.builds(
    TickEvent,
    symbol=symbols,
    timestamp=times,
    price=non_negative,
    size=non_negative,
    tick_type=st.sampled_from(TickType),
)

ofis = st.builds(
    OFIEvent,
    symbol=symbols,
    timestamp=times,
    ofi_value=signed,
    volume_imbalance=signed,
    bid_volume=non_negative,
    ask_volume=non_negative,
)


@st.composite
def intents(draw: st.DrawFn) -> OrderIntent:
    order_type = draw(st.sampled_from(OrderType))
    needs_limit = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    needs_stop = order_type in (OrderType.STOP, OrderType.STOP_LIMIT)
    return OrderIntent(
        intent_id=draw(st.uuids()),
        symbol=draw(symbols),
        direction=draw(st.sampled_from(Direction)),
        quantity=draw(positive),
        order_type=order_type,
        timestamp=draw(times),
        limit_price=draw(non_negative if needs_limit else maybe(non_negative)),
        stop_price=draw(non_negative if needs_stop else maybe(non_negative)),
        account=draw(maybe(texts)),
    )


@st.composite
def reports(draw: st.DrawFn) -> ExecutionReport:
    exec_id = draw(maybe(texts))
    fill = exec_id is not None
    return ExecutionReport(
        intent_id=draw(st.uuids()),
        order_id=draw(texts | st.integers(min_value=0, max_value=2**63).map(str)),
        symbol=draw(symbols),
        status=draw(st.sampled_from(ReportStatus)),
        filled_quantity=draw(non_negative),
        avg_fill_price=draw(non_negative),
        timestamp=draw(times),
        reject_reason=draw(maybe(free_text)),
        account=draw(maybe(texts)),
        exec_id=exec_id,
        last_quantity=draw(positive if fill else maybe(positive)),
        last_price=draw(non_negative if fill else maybe(non_negative)),
        commission=draw(maybe(signed)),
        commission_currency=draw(maybe(st.sampled_from(["USD", "EUR", "JPY"]))),
    )


def assert_round_trips(msg: ContractMessage) -> None:
    raw = message_to_json(msg)
    again = parse_message(raw)
    assert type(again) is type(msg)
    assert again == msg
    # Canonical: the same message always encodes to the same bytes.
    assert message_to_json(again) == raw
    # Equal is not enough for Decimals: 2850.50 == 2850.5, but the text differs.
    for name, value in msg:
        if isinstance(value, Decimal):
            assert getattr(again, name).as_tuple() == value.as_tuple(), name
    assert again.timestamp.tzinfo is UTC
    assert json.loads(raw)["timestamp"].endswith("Z")


@ROUND_TRIP
@given(bars())
def test_bar_event_round_trips(msg: BarEvent) -> None:
    assert_round_trips(msg)


@ROUND_TRIP
@given(ticks)
def test_tick_event_round_trips(msg: TickEvent) -> None:
    assert_round_trips(msg)


@ROUND_TRIP
@given(ofis)
def test_ofi_event_round_trips(msg: OFIEvent) -> None:
    assert_round_trips(msg)


@ROUND_TRIP
@given(intents())
def test_order_intent_round_trips(msg: OrderIntent) -> None:
    assert_round_trips(msg)


@ROUND_TRIP
@given(reports())
def test_execution_report_round_trips(msg: ExecutionReport) -> None:
    assert_round_trips(msg)


@ROUND_TRIP
@given(price=non_negative)
def test_any_decimal_written_as_a_json_number_is_read_exactly(price: Decimal) -> None:
    # str(Decimal) of a finite value is always a valid JSON number literal.
    raw = (
        '{"event_type":"tick_event","symbol":"ES","timestamp":"2025-11-17T09:30:00Z",'
        f'"price":{price},"size":1,"tick_type":"TRADE"}}'
    )
    tick = parse_message(raw)
    assert isinstance(tick, TickEvent)
    assert tick.price.as_tuple() == price.as_tuple()
