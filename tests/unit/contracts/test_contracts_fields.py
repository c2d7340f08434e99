"""Field rules of the five bus messages (DESIGN.md §5), through parse_message."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import ValidationError

from contracts import (
    BarEvent,
    ContractValidationError,
    Direction,
    ExecutionReport,
    OFIEvent,
    OrderIntent,
    OrderType,
    ReportStatus,
    TickEvent,
    TickType,
    parse_message,
)

Payload = Callable[..., bytes]
Sample = Callable[..., dict[str, Any]]

REQUIRED = {
    "bar_event": ["symbol", "timestamp", "open", "high", "low", "close", "volume"],
    "tick_event": ["symbol", "timestamp", "price", "size", "tick_type"],
    "ofi_event": [
        "symbol",
        "timestamp",
        "ofi_value",
        "volume_imbalance",
        "bid_volume",
        "ask_volume",
    ],
    "order_intent": ["intent_id", "symbol", "direction", "quantity", "order_type", "timestamp"],
    "execution_report": [
        "intent_id",
        "order_id",
        "symbol",
        "status",
        "filled_quantity",
        "avg_fill_price",
        "timestamp",
    ],
}
OPTIONAL = {
    "bar_event": ["bar_size"],
    "tick_event": [],
    "ofi_event": [],
    "order_intent": ["account"],  # limit/stop prices: see their own tests
    "execution_report": [
        "reject_reason",
        "account",
        "commission",
        "commission_currency",
        # exec_id only together with last_quantity and last_price (tested below)
    ],
}
REQUIRED_CASES = [(t, f) for t, fields in REQUIRED.items() for f in fields]
OPTIONAL_CASES = [(t, f) for t, fields in OPTIONAL.items() for f in fields]


def errors_of(raw: bytes) -> list[dict[str, str]]:
    with pytest.raises(ContractValidationError) as caught:
        parse_message(raw)
    return caught.value.errors


def locs(raw: bytes) -> list[str]:
    return [e["loc"] for e in errors_of(raw)]


# --- presence -----------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", list(REQUIRED))
def test_the_samples_are_valid(payload: Payload, event_type: str) -> None:
    assert parse_message(payload(event_type)).event_type == event_type


@pytest.mark.parametrize(("event_type", "field"), REQUIRED_CASES)
def test_a_required_field_missing_is_refused_and_named(
    payload: Payload, event_type: str, field: str
) -> None:
    assert errors_of(payload(event_type, without=(field,))) == [
        {"loc": field, "msg": "Field required"}
    ]


@pytest.mark.parametrize(("event_type", "field"), OPTIONAL_CASES)
def test_an_optional_field_may_be_left_out(payload: Payload, event_type: str, field: str) -> None:
    msg = parse_message(payload(event_type, without=(field,)))
    assert getattr(msg, field) is None


@pytest.mark.parametrize("event_type", list(REQUIRED))
def test_a_field_not_in_the_contract_makes_the_message_invalid(
    payload: Payload, event_type: str
) -> None:
    errors = errors_of(payload(event_type, venue="XNAS"))
    assert [e["loc"] for e in errors] == ["venue"]
    assert "unknown field" in errors[0]["msg"]


# --- symbols and text ----------------------------------------------------------------------


def test_symbol_is_stripped(payload: Payload) -> None:
    assert parse_message(payload("tick_event", symbol="  ESZ5 \t")).symbol == "ESZ5"


@pytest.mark.parametrize("symbol", ["", "   "])
def test_an_empty_symbol_is_refused(payload: Payload, symbol: str) -> None:
    assert locs(payload("bar_event", symbol=symbol)) == ["symbol"]


def test_a_number_is_not_a_symbol(payload: Payload) -> None:
    assert locs(payload("bar_event", symbol=42)) == ["symbol"]


def test_optional_text_given_empty_is_refused(payload: Payload) -> None:
    assert locs(payload("execution_report", account=" ")) == ["account"]


def test_reject_reason_is_kept_verbatim(payload: Payload) -> None:
    raw = payload("execution_report", status="REJECTED", reject_reason=" 201: margin ")
    assert parse_message(raw).reject_reason == " 201: margin "  # type: ignore[union-attr]


@pytest.mark.parametrize("field", ["reject_reason", "symbol", "account", "exec_id", "order_id"])
def test_a_lone_surrogate_escape_is_refused_in_any_text(payload: Payload, field: str) -> None:
    raw = payload("execution_report", status="REJECTED", **{field: "bad \ud800"})
    assert b"\\ud800" in raw  # json.dumps wrote the escape, as a producer might
    errors = errors_of(raw)
    assert [e["loc"] for e in errors] == [field]


def test_a_lone_surrogate_is_refused_in_python_construction_too(sample: Sample) -> None:
    fields = sample("execution_report", status="REJECTED", reject_reason="bad \ud800")
    with pytest.raises(ValidationError):
        ExecutionReport.model_validate(fields)


def test_a_surrogate_pair_escape_is_one_character(payload: Payload) -> None:
    raw = payload("execution_report", status="REJECTED", reject_reason="ok \U0001f600")
    assert b"\\ud83d\\ude00" in raw
    assert parse_message(raw).reject_reason == "ok \U0001f600"  # type: ignore[union-attr]


# --- timestamps ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "naive", ["2025-11-17T09:30:15", "2025-11-17T09:30:15.123456", "2025-11-17"]
)
def test_a_time_without_zone_is_refused_with_a_clear_message(payload: Payload, naive: str) -> None:
    errors = errors_of(payload("order_intent", timestamp=naive))
    assert [e["loc"] for e in errors] == ["timestamp"]
    assert "zone" in errors[0]["msg"]


@pytest.mark.parametrize("number", [1763371815, 1763371815.5, "1763371815", "1763371815.5"])
def test_a_unix_number_is_not_a_timestamp(payload: Payload, number: object) -> None:
    assert locs(payload("order_intent", timestamp=number)) == ["timestamp"]


def test_a_zoned_time_is_converted_to_utc_keeping_microseconds(payload: Payload) -> None:
    msg = parse_message(payload("bar_event", timestamp="2025-11-17T10:30:15.000123+01:00"))
    assert msg.timestamp == datetime(2025, 11, 17, 9, 30, 15, 123, tzinfo=UTC)
    assert msg.timestamp.tzinfo is UTC


def test_a_utc_z_time_is_held_with_the_stdlib_utc_zone(payload: Payload) -> None:
    msg = parse_message(payload("bar_event", timestamp="2025-11-17T09:31:00Z"))
    assert msg.timestamp.tzinfo is UTC


def test_models_built_in_python_take_aware_datetimes_and_refuse_naive() -> None:
    when = datetime(2025, 11, 17, 9, 30, tzinfo=UTC)
    tick = TickEvent(symbol="A", timestamp=when, price=Decimal(1), size=Decimal(1), tick_type="BID")
    assert tick.timestamp == when
    with pytest.raises(ValidationError):
        TickEvent(
            symbol="A",
            timestamp=when.replace(tzinfo=None),
            price=Decimal(1),
            size=Decimal(1),
            tick_type=TickType.BID,
        )


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "field"),
    [
        ("bar_event", "open"),
        ("bar_event", "close"),
        ("bar_event", "volume"),
        ("tick_event", "price"),
        ("tick_event", "size"),
        ("ofi_event", "bid_volume"),
        ("ofi_event", "ask_volume"),
        ("order_intent", "limit_price"),
        ("execution_report", "filled_quantity"),
        ("execution_report", "avg_fill_price"),
        ("execution_report", "last_price"),
    ],
)
def test_prices_volumes_and_cumulative_quantities_refuse_negatives_but_take_zero(
    payload: Payload, event_type: str, field: str
) -> None:
    assert locs(payload(event_type, **{field: "-0.01"})) == [field]
    overrides: dict[str, Any] = {field: 0}
    if event_type == "bar_event":
        overrides = {"open": 0, "high": 0, "low": 0, "close": 0, "volume": 0}
    assert getattr(parse_message(payload(event_type, **overrides)), field) == 0


@pytest.mark.parametrize(
    ("event_type", "field"),
    [("order_intent", "quantity"), ("execution_report", "last_quantity")],
)
@pytest.mark.parametrize("value", [0, "-5"])
def test_order_and_fill_quantities_must_be_positive(
    payload: Payload, event_type: str, field: str, value: object
) -> None:
    assert locs(payload(event_type, **{field: value})) == [field]


def test_ofi_value_and_volume_imbalance_are_signed(payload: Payload) -> None:
    msg = parse_message(payload("ofi_event", ofi_value="-0.35", volume_imbalance=-1200))
    assert isinstance(msg, OFIEvent)
    assert (msg.ofi_value, msg.volume_imbalance) == (Decimal("-0.35"), Decimal(-1200))


def test_commission_may_be_negative_for_a_rebate(payload: Payload) -> None:
    msg = parse_message(payload("execution_report", commission="-0.0035"))
    assert msg.commission == Decimal("-0.0035")  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "sNaN", "inf"])
def test_non_finite_decimal_strings_are_refused(payload: Payload, text: str) -> None:
    assert locs(payload("tick_event", price=text)) == ["price"]


@pytest.mark.parametrize("value", ["abc", "", True, [1], {"v": 1}])
def test_a_non_number_is_refused_for_a_decimal(payload: Payload, value: object) -> None:
    assert locs(payload("tick_event", size=value)) == ["size"]


def test_decimal_fields_have_no_digit_limit(payload: Payload) -> None:
    digits = "9" * 60 + "." + "1" * 60
    msg = parse_message(payload("tick_event", price=digits))
    assert msg.price == Decimal(digits)  # type: ignore[union-attr]


def test_bar_low_above_high_is_refused(payload: Payload) -> None:
    errors = errors_of(payload("bar_event", high="10", low="10.01"))
    assert [e["loc"] for e in errors] == ["low"]
    assert "must not exceed high" in errors[0]["msg"]


def test_bar_low_equal_to_high_is_fine(payload: Payload) -> None:
    bar = parse_message(payload("bar_event", open=10, high=10, low=10, close=10))
    assert isinstance(bar, BarEvent)
    assert bar.high == bar.low == 10


# --- enums and ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "field", "good", "enum"),
    [
        ("order_intent", "direction", "SELL", Direction.SELL),
        ("order_intent", "order_type", "ADAPTIVE", OrderType.ADAPTIVE),
        ("tick_event", "tick_type", "LAST", TickType.LAST),
        ("execution_report", "status", "CANCELED", ReportStatus.CANCELED),
    ],
)
def test_enums_take_their_exact_names_only(
    payload: Payload, event_type: str, field: str, good: str, enum: object
) -> None:
    assert getattr(parse_message(payload(event_type, **{field: good})), field) is enum
    assert locs(payload(event_type, **{field: good.lower()})) == [field]


def test_intent_id_must_be_a_uuid(payload: Payload) -> None:
    assert locs(payload("order_intent", intent_id="intent-1")) == ["intent_id"]
    msg = parse_message(payload("order_intent"))
    assert msg.intent_id == UUID("550e8400-e29b-41d4-a716-446655440000")  # type: ignore[union-attr]


def test_an_integer_order_id_is_accepted_and_stored_as_text(payload: Payload) -> None:
    msg = parse_message(payload("execution_report", order_id=4211))
    assert isinstance(msg, ExecutionReport)
    assert msg.order_id == "4211"


@pytest.mark.parametrize("bad", [True, 12.5, "", None, [1]])
def test_order_id_must_be_text_or_an_integer(payload: Payload, bad: object) -> None:
    errors = errors_of(payload("execution_report", order_id=bad))
    assert errors == [
        {"loc": "order_id", "msg": "order_id must be a non-empty string or an integer"}
    ]


# --- order intent: prices by order type ----------------------------------------------------


@pytest.mark.parametrize(
    ("order_type", "needs"),
    [
        ("LIMIT", ["limit_price"]),
        ("STOP", ["stop_price"]),
        ("STOP_LIMIT", ["limit_price", "stop_price"]),
    ],
)
def test_an_order_type_needs_its_prices(
    payload: Payload, order_type: str, needs: list[str]
) -> None:
    errors = errors_of(
        payload("order_intent", order_type=order_type, without=("limit_price", "stop_price"))
    )
    assert [e["loc"] for e in errors] == needs
    assert all(f"when order_type is {order_type}" in e["msg"] for e in errors)


def test_an_explicit_null_does_not_count_as_the_price(payload: Payload) -> None:
    assert locs(payload("order_intent", order_type="LIMIT", limit_price=None)) == ["limit_price"]


@pytest.mark.parametrize("order_type", ["MARKET", "ADAPTIVE"])
def test_market_like_orders_need_no_price_but_may_carry_one(
    payload: Payload, order_type: str
) -> None:
    bare = parse_message(payload("order_intent", order_type=order_type, without=("limit_price",)))
    assert isinstance(bare, OrderIntent)
    assert bare.limit_price is None
    assert bare.stop_price is None
    capped = parse_message(payload("order_intent", order_type=order_type, limit_price="2900"))
    assert capped.limit_price == Decimal(2900)  # type: ignore[union-attr]


def test_stop_limit_with_both_prices(payload: Payload) -> None:
    msg = parse_message(
        payload("order_intent", order_type="STOP_LIMIT", stop_price="2840", limit_price="2839.5")
    )
    assert isinstance(msg, OrderIntent)
    assert (msg.stop_price, msg.limit_price) == (Decimal(2840), Decimal("2839.5"))


# --- execution report: one fill per exec_id --------------------------------------------------


@pytest.mark.parametrize("missing", ["last_quantity", "last_price"])
def test_exec_id_needs_the_fill_it_carries(payload: Payload, missing: str) -> None:
    errors = errors_of(payload("execution_report", without=(missing,)))
    assert [e["loc"] for e in errors] == [missing]
    assert "exec_id" in errors[0]["msg"]


def test_a_report_without_exec_id_needs_no_fill(payload: Payload) -> None:
    msg = parse_message(
        payload("execution_report", without=("exec_id", "last_quantity", "last_price"))
    )
    assert isinstance(msg, ExecutionReport)
    assert (msg.exec_id, msg.last_quantity, msg.last_price) == (None, None, None)


def test_an_acknowledgement_has_nothing_filled_yet(payload: Payload) -> None:
    msg = parse_message(
        payload(
            "execution_report",
            status="ACKNOWLEDGED",
            filled_quantity=0,
            avg_fill_price=0,
            without=("exec_id", "last_quantity", "last_price", "commission"),
        )
    )
    assert isinstance(msg, ExecutionReport)
    assert msg.status is ReportStatus.ACKNOWLEDGED
    assert msg.filled_quantity == 0


# --- the models themselves ---------------------------------------------------------------


def test_messages_are_frozen(payload: Payload) -> None:
    msg = parse_message(payload("tick_event"))
    with pytest.raises(ValidationError):
        msg.symbol = "OTHER"  # type: ignore[misc]


def test_event_type_defaults_in_python_and_cannot_be_another_kind() -> None:
    when = datetime(2025, 11, 17, tzinfo=UTC)
    tick = TickEvent(symbol="A", timestamp=when, price=Decimal(1), size=Decimal(1), tick_type="BID")
    assert tick.event_type == "tick_event"
    with pytest.raises(ValidationError):
        TickEvent(
            event_type="bar_event",
            symbol="A",
            timestamp=when,
            price=Decimal(1),
            size=Decimal(1),
            tick_type=TickType.BID,
        )
