"""The five messages of the trading system's bus (DESIGN.md §5).

Field names and rules follow the table there. Every model is frozen and
refuses unknown fields: a field not listed makes the message invalid. Rules
that span two fields are field validators on the later field, so an error
names the field that is missing or wrong rather than the whole message.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from contracts.fields import (
    AnyDecimal,
    FreeText,
    NonNegDecimal,
    OrderIdText,
    PosDecimal,
    Text,
    UtcDatetime,
)


class Direction(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"
    ADAPTIVE = "ADAPTIVE"


class TickType(StrEnum):
    TRADE = "TRADE"
    BID = "BID"
    ASK = "ASK"
    LAST = "LAST"


class ReportStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    PARTIAL_FILL = "PARTIAL_FILL"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"


def _complete_json_schema(schema: dict[str, Any], model: type[Any]) -> None:
    # `event_type` has a default so Python code need not repeat it, but on the
    # wire it is what names the message: the published schema requires it.
    required = schema.setdefault("required", [])
    if "event_type" not in required:
        required.insert(0, "event_type")
    # Cross-field rules that JSON Schema can state (the validators enforce them).
    schema.update(model.SCHEMA_RULES)


def _present(field: str) -> dict[str, Any]:
    """JSON Schema for "`field` is given and not null"."""
    return {"required": [field], "properties": {field: {"not": {"type": "null"}}}}


class ContractModel(BaseModel):
    """Base of the bus messages: frozen, and unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_complete_json_schema)

    SCHEMA_RULES: ClassVar[dict[str, Any]] = {}
    """Extra JSON Schema keywords for rules that span fields."""


class BarEvent(ContractModel):
    """An OHLCV bar for one symbol."""

    event_type: Literal["bar_event"] = "bar_event"
    symbol: Text
    timestamp: UtcDatetime
    open: NonNegDecimal
    high: NonNegDecimal
    low: NonNegDecimal
    close: NonNegDecimal
    volume: NonNegDecimal
    bar_size: Text | None = None

    @field_validator("low")
    @classmethod
    def _low_not_above_high(cls, low: Decimal, info: ValidationInfo) -> Decimal:
        high = info.data.get("high")  # absent when `high` itself was invalid
        if high is not None and low > high:
            raise PydanticCustomError(
                "bar_range", "low ({low}) must not exceed high ({high})", {"low": low, "high": high}
            )
        return low


class TickEvent(ContractModel):
    """One trade or quote update."""

    event_type: Literal["tick_event"] = "tick_event"
    symbol: Text
    timestamp: UtcDatetime
    price: NonNegDecimal
    size: NonNegDecimal
    tick_type: TickType


class OFIEvent(ContractModel):
    """Order-flow imbalance over an interval; the imbalances are signed."""

    event_type: Literal["ofi_event"] = "ofi_event"
    symbol: Text
    timestamp: UtcDatetime
    ofi_value: AnyDecimal
    volume_imbalance: AnyDecimal
    bid_volume: NonNegDecimal
    ask_volume: NonNegDecimal


# Which order types need which price: DESIGN.md §5.
_PRICE_REQUIRED_BY: dict[str, frozenset[OrderType]] = {
    "limit_price": frozenset({OrderType.LIMIT, OrderType.STOP_LIMIT}),
    "stop_price": frozenset({OrderType.STOP, OrderType.STOP_LIMIT}),
}


class OrderIntent(ContractModel):
    """The strategy plane's request to trade."""

    event_type: Literal["order_intent"] = "order_intent"
    intent_id: UUID
    symbol: Text
    direction: Direction
    quantity: PosDecimal
    order_type: OrderType
    timestamp: UtcDatetime
    # validate_default: the rule below must also run when the price is absent.
    limit_price: NonNegDecimal | None = Field(default=None, validate_default=True)
    stop_price: NonNegDecimal | None = Field(default=None, validate_default=True)
    account: Text | None = None

    SCHEMA_RULES: ClassVar[dict[str, Any]] = {
        "allOf": [
            {
                "if": {
                    "required": ["order_type"],
                    "properties": {"order_type": {"enum": sorted(t.value for t in types)}},
                },
                "then": _present(field),
            }
            for field, types in _PRICE_REQUIRED_BY.items()
        ]
    }

    @field_validator("limit_price", "stop_price")
    @classmethod
    def _price_present_when_needed(
        cls, price: Decimal | None, info: ValidationInfo
    ) -> Decimal | None:
        order_type = info.data.get("order_type")  # absent when itself invalid
        name = info.field_name or ""
        if price is None and order_type in _PRICE_REQUIRED_BY[name]:
            raise PydanticCustomError(
                "price_required",
                "{field} is required when order_type is {order_type}",
                {"field": name, "order_type": order_type.value},
            )
        return price


class ExecutionReport(ContractModel):
    """The broker's word on an order: a status change and/or a fill.

    `filled_quantity` and `avg_fill_price` are cumulative. A report with
    `exec_id` carries exactly one fill: `last_quantity` at `last_price`.
    """

    event_type: Literal["execution_report"] = "execution_report"
    intent_id: UUID
    order_id: OrderIdText
    symbol: Text
    status: ReportStatus
    filled_quantity: NonNegDecimal
    avg_fill_price: NonNegDecimal
    timestamp: UtcDatetime
    reject_reason: FreeText | None = None
    account: Text | None = None
    exec_id: Text | None = None
    # validate_default: the exec_id rule below must also run when they are absent.
    last_quantity: PosDecimal | None = Field(default=None, validate_default=True)
    last_price: NonNegDecimal | None = Field(default=None, validate_default=True)
    commission: AnyDecimal | None = None
    commission_currency: Text | None = None

    SCHEMA_RULES: ClassVar[dict[str, Any]] = {
        # exec_id given (not null) => one fill: last_quantity and last_price not null.
        "if": _present("exec_id"),
        "then": {"allOf": [_present("last_quantity"), _present("last_price")]},
    }

    @field_validator("last_quantity", "last_price")
    @classmethod
    def _fill_present_with_exec_id(
        cls, value: Decimal | None, info: ValidationInfo
    ) -> Decimal | None:
        if value is None and info.data.get("exec_id") is not None:
            raise PydanticCustomError(
                "fill_required",
                "{field} is required when exec_id is given (the report carries one fill)",
                {"field": info.field_name or ""},
            )
        return value


ContractMessage = BarEvent | TickEvent | OFIEvent | OrderIntent | ExecutionReport
"""Any of the five bus messages."""

MESSAGE_TYPES: dict[str, type[ContractMessage]] = {
    "bar_event": BarEvent,
    "tick_event": TickEvent,
    "ofi_event": OFIEvent,
    "order_intent": OrderIntent,
    "execution_report": ExecutionReport,
}
"""Model class by `event_type`."""
