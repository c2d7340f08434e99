"""Reusable field types for the bus messages.

`parse_message` is on the ingest hot path, so these types are built from
pydantic-core's native validators: a Python-level validator would cost a
Python call per field per message. The two conversions here (a time to UTC,
an integer order id to text) are C callables.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from operator import methodcaller
from typing import Annotated, Any

from pydantic import Field, GetPydanticSchema, StringConstraints, WithJsonSchema
from pydantic_core import core_schema as cs


def _utc_datetime_schema(_source: Any, _handler: Any) -> cs.CoreSchema:
    aware = cs.datetime_schema(tz_constraint="aware")
    accepted = cs.union_schema(
        [
            # Text that starts as an ISO date: pydantic would read a number, or
            # a string of digits, as Unix seconds; the contract says ISO-8601
            # with a zone, so a number is a producer bug.
            cs.chain_schema([cs.str_schema(strict=True, pattern=r"^[0-9]{4}-"), aware]),
            # A datetime built in Python code (simulated broker, backtests).
            cs.datetime_schema(strict=True, tz_constraint="aware"),
        ],
        # First match wins; "smart" mode may try further branches to pick the best.
        mode="left_to_right",
        custom_error_type="utc_datetime",
        custom_error_message=(
            "expected an ISO-8601 time with a zone, e.g. '2025-11-17T09:30:15Z'"
            " (times without a zone, and numbers, are refused)"
        ),
    )
    # Normalise to UTC; this also swaps pydantic's TzInfo(0) for timezone.utc,
    # so equal instants from different producers compare and print the same.
    to_utc = methodcaller("astimezone", UTC)
    return cs.no_info_after_validator_function(to_utc, accepted)


def _order_id_schema(_source: Any, _handler: Any) -> cs.CoreSchema:
    return cs.union_schema(
        [
            cs.str_schema(strict=True, strip_whitespace=True, min_length=1),
            # IBKR order ids are ints; other brokers use strings: store text.
            # Strict int, so that a JSON true/false is not taken for 1/0.
            cs.no_info_after_validator_function(str, cs.int_schema(strict=True)),
        ],
        mode="left_to_right",
        custom_error_type="order_id",
        custom_error_message="order_id must be a non-empty string or an integer",
    )


UtcDatetime = Annotated[
    datetime,
    GetPydanticSchema(_utc_datetime_schema),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""An ISO-8601 time with a zone, held in UTC; microseconds kept (finer digits
are truncated by pydantic's parser)."""

OrderIdText = Annotated[
    str,
    GetPydanticSchema(_order_id_schema),
    WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}),
]
"""A broker order id: text, or an integer stored as its decimal text."""

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""Non-empty text, surrounding whitespace removed (symbols, ids, accounts)."""

# Any string constraint makes pydantic-core read the text as UTF-8, which
# refuses lone surrogates ("\ud800" in JSON): they cannot be stored or encoded
# downstream. A plain `str` would let them through; min_length=0 is that check.
FreeText = Annotated[str, StringConstraints(min_length=0)]
"""Any text, kept verbatim, but valid Unicode (e.g. a broker's reject reason)."""

# Decimal validation refuses NaN and infinities by default and has no digit
# limit unless one is set; none is. Decimal strings are read by Decimal(), so
# its syntax applies (e.g. "1e-3", "+5"). The published schema states the
# portable subset: a JSON number or a string of one.
DECIMAL_TEXT_PATTERN = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def _decimal_json_schema(**bounds: int) -> WithJsonSchema:
    number: dict[str, Any] = {"type": "number", **bounds}
    return WithJsonSchema({"anyOf": [number, {"type": "string", "pattern": DECIMAL_TEXT_PATTERN}]})


AnyDecimal = Annotated[Decimal, _decimal_json_schema()]
"""A finite Decimal of any sign (OFI values, commissions that may be rebates)."""

NonNegDecimal = Annotated[Decimal, Field(ge=0), _decimal_json_schema(minimum=0)]
"""A finite Decimal >= 0 (prices, volumes, cumulative quantities)."""

PosDecimal = Annotated[Decimal, Field(gt=0), _decimal_json_schema(exclusiveMinimum=0)]
"""A finite Decimal > 0 (order and fill quantities)."""
