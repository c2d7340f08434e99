"""The bus message contracts (DESIGN.md §5): models, codec, JSON Schemas.

Imports pydantic only; the innermost layer of the dependency rule.
"""

from contracts.codec import message_to_json, parse_message
from contracts.envelope import SourcedMessage
from contracts.errors import ContractValidationError
from contracts.messages import (
    MESSAGE_TYPES,
    BarEvent,
    ContractMessage,
    ContractModel,
    Direction,
    ExecutionReport,
    OFIEvent,
    OrderIntent,
    OrderType,
    ReportStatus,
    TickEvent,
    TickType,
)

__all__ = [
    "MESSAGE_TYPES",
    "BarEvent",
    "ContractMessage",
    "ContractModel",
    "ContractValidationError",
    "Direction",
    "ExecutionReport",
    "OFIEvent",
    "OrderIntent",
    "OrderType",
    "ReportStatus",
    "SourcedMessage",
    "TickEvent",
    "TickType",
    "message_to_json",
    "parse_message",
]
