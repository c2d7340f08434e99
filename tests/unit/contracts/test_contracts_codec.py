"""parse_message / message_to_json: exact decimals, error shape, canonical output."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from contracts import (
    MESSAGE_TYPES,
    BarEvent,
    ContractValidationError,
    ExecutionReport,
    OFIEvent,
    OrderIntent,
    TickEvent,
    message_to_json,
    parse_message,
)

Payload = Callable[..., bytes]
Sample = Callable[..., dict[str, Any]]

INTENT = (
    '{"event_type": "order_intent", "intent_id": "550e8400-e29b-41d4-a716-446655440000",'
    ' "symbol": "GOOGL", "direction": "BUY", "quantity": %s, "order_type": "LIMIT",'
    ' "limit_price": %s, "timestamp": "2025-11-17T09:30:15Z"}'
)


def intent(quantity: str = "100", limit_price: str = "2850.50") -> OrderIntent:
    msg = parse_message(INTENT % (quantity, limit_price))
    assert isinstance(msg, OrderIntent)
    return msg


def only_error(raw: bytes | str) -> dict[str, str]:
    with pytest.raises(ContractValidationError) as caught:
        parse_message(raw)
    assert len(caught.value.errors) == 1
    return caught.value.errors[0]


# --- numbers are read from their text ---------------------------------------------------------


def test_a_json_number_keeps_every_digit() -> None:
    msg = intent(quantity="0.1000000000000000000000001")
    assert msg.quantity == Decimal("0.1000000000000000000000001")


def test_a_json_number_keeps_its_trailing_zeros() -> None:
    assert intent(limit_price="2850.50").limit_price.as_tuple() == Decimal("2850.50").as_tuple()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "text", ["1e-30", "1.5E+3", "123456789012345678901234567890.123456789", "0.0"]
)
def test_json_numbers_and_decimal_strings_give_the_same_exact_value(text: str) -> None:
    as_number = intent(limit_price=text).limit_price
    as_string = intent(limit_price=json.dumps(text)).limit_price
    assert as_number is not None
    assert as_number.as_tuple() == Decimal(text).as_tuple()
    assert as_string is not None
    assert as_string.as_tuple() == Decimal(text).as_tuple()


def test_an_integer_quantity_becomes_a_decimal() -> None:
    quantity = intent(quantity="100").quantity
    assert type(quantity) is Decimal
    assert quantity.as_tuple() == Decimal("100").as_tuple()


def test_an_integer_beyond_pythons_int_parsing_limit_is_read_exactly() -> None:
    digits = "7" * 5000
    assert intent(quantity=digits).quantity == Decimal(digits)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_not_json(constant: str) -> None:
    error = only_error(INTENT % ("1", constant))
    assert error["loc"] == ""
    assert error["msg"].startswith("invalid JSON")


# --- what parse_message accepts ----------------------------------------------------------


@pytest.mark.parametrize(
    ("event_type", "model"),
    [
        ("bar_event", BarEvent),
        ("tick_event", TickEvent),
        ("ofi_event", OFIEvent),
        ("order_intent", OrderIntent),
        ("execution_report", ExecutionReport),
    ],
)
def test_the_model_is_chosen_by_event_type(
    payload: Payload, event_type: str, model: type[object]
) -> None:
    assert type(parse_message(payload(event_type))) is model
    assert MESSAGE_TYPES[event_type] is model


def test_str_bytes_and_surrounding_whitespace_are_accepted(payload: Payload) -> None:
    raw = payload("tick_event")
    expected = parse_message(raw)
    assert parse_message(raw.decode()) == expected
    assert parse_message(raw + b"\n") == expected
    assert parse_message(b"  \n" + raw + b" \t\r\n") == expected


@pytest.mark.parametrize("tail", [b" x", b"\n{}", b"\x0c", "\u00a0".encode()])
def test_anything_but_json_whitespace_after_the_object_is_refused(
    payload: Payload, tail: bytes
) -> None:
    error = only_error(payload("tick_event") + tail)
    assert error["loc"] == ""
    assert error["msg"].startswith("invalid JSON")


def test_the_design_example_parses() -> None:
    msg = intent()
    assert (msg.symbol, msg.quantity, msg.limit_price) == (
        "GOOGL",
        Decimal(100),
        Decimal("2850.50"),
    )


# --- errors: one shape for everything -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "msg_start"),
    [
        (b'{"event_type": "tick_event",', "invalid JSON"),
        (b"", "invalid JSON"),
        (b'{"a": 1} {"b": 2}', "invalid JSON"),
        (b"\xff\xfe{}", "payload is not UTF-8"),
        ('{"event_type": "tick_event"}'.encode("utf-16"), "payload is not UTF-8"),
        (b"[1, 2]", "message must be a JSON object, got an array"),
        (b'"bar_event"', "message must be a JSON object, got a string"),
        (b"3.5", "message must be a JSON object, got a number"),
        (b"true", "message must be a JSON object, got a boolean"),
        (b"null", "message must be a JSON object, got null"),
        (b"[" * 100_000, "invalid JSON"),
    ],
)
def test_a_payload_that_is_not_a_json_object(raw: bytes, msg_start: str) -> None:
    error = only_error(raw)
    assert error["loc"] == ""
    assert error["msg"].startswith(msg_start)


@pytest.mark.parametrize(
    ("event_type", "msg_start"),
    [
        (None, "event_type is missing"),
        ("fill_event", "unknown event_type 'fill_event'"),
        (7, "unknown event_type 7"),
        (["bar_event"], "unknown event_type ['bar_event']"),
    ],
)
def test_an_unknown_or_missing_event_type(
    sample: Sample, event_type: object, msg_start: str
) -> None:
    fields = sample("bar_event", without=("event_type",))
    if event_type is not None:
        fields["event_type"] = event_type
    error = only_error(json.dumps(fields))
    assert error["loc"] == "event_type"
    assert error["msg"].startswith(msg_start)
    assert "bar_event, tick_event, ofi_event, order_intent, execution_report" in error["msg"]


def test_errors_are_plain_json_and_name_every_bad_field(payload: Payload) -> None:
    raw = payload("order_intent", quantity=-1, direction="HOLD", without=("symbol",))
    with pytest.raises(ContractValidationError) as caught:
        parse_message(raw)
    err = caught.value
    assert err.event_type == "order_intent"
    assert [e["loc"] for e in err.errors] == ["symbol", "direction", "quantity"]
    assert all(set(e) == {"loc", "msg"} for e in err.errors)
    assert json.loads(json.dumps(err.errors)) == err.errors


def test_the_error_reads_well(payload: Payload) -> None:
    with pytest.raises(ContractValidationError) as caught:
        parse_message(payload("order_intent", quantity=0, without=("symbol",)))
    assert str(caught.value) == (
        "invalid order_intent message (2 errors):\n"
        "  symbol: Field required\n"
        "  quantity: Input should be greater than 0"
    )
    with pytest.raises(ContractValidationError) as caught:
        parse_message(b"[]")
    assert str(caught.value) == (
        "invalid message (1 error):\n  <payload>: message must be a JSON object, got an array"
    )


def test_the_error_survives_pickling(payload: Payload) -> None:
    with pytest.raises(ContractValidationError) as caught:
        parse_message(payload("tick_event", size=-1))
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.errors, copy.event_type, str(copy)) == (
        caught.value.errors,
        "tick_event",
        str(caught.value),
    )


# --- message_to_json ------------------------------------------------------------------------


def test_output_is_compact_canonical_json(payload: Payload) -> None:
    msg = parse_message(
        payload(
            "execution_report",
            order_id=4211,
            timestamp="2025-11-17T10:30:16.000100+01:00",
            without=("exec_id", "last_quantity", "last_price", "commission"),
        )
    )
    assert message_to_json(msg) == (
        b'{"event_type":"execution_report","intent_id":"550e8400-e29b-41d4-a716-446655440000",'
        b'"order_id":"4211","symbol":"GOOGL","status":"PARTIAL_FILL","filled_quantity":"40",'
        b'"avg_fill_price":"2850.25","timestamp":"2025-11-17T09:30:16.000100Z",'
        b'"account":"DU123456","commission_currency":"USD"}'
    )


def test_output_keeps_decimal_text_exactly() -> None:
    msg = intent(quantity="0.1000000000000000000000001", limit_price="2850.50")
    out = json.loads(message_to_json(msg))
    assert (out["quantity"], out["limit_price"]) == ("0.1000000000000000000000001", "2850.50")


@pytest.mark.parametrize("event_type", list(MESSAGE_TYPES))
def test_output_parses_back_to_an_equal_message(payload: Payload, event_type: str) -> None:
    msg = parse_message(payload(event_type))
    again = parse_message(message_to_json(msg))
    assert again == msg
    assert message_to_json(again) == message_to_json(msg)
