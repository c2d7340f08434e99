"""Bytes ↔ contract messages.

Why not `Model.model_validate_json`: pydantic-core reads a JSON number with a
fraction as a float before it becomes a Decimal, so
``0.1000000000000000000000001`` arrives as ``Decimal("0.1")`` and ``2850.50``
as ``Decimal("2850.5")`` (measured with pydantic 2.14 / pydantic-core 2.50;
upstream pydantic#9180, pydantic-core#1688). The stdlib's C scanner hands each
number's text to `parse_float=Decimal` instead, and the models validate the
resulting objects in Python mode, where nothing goes through float. The model
is picked by `event_type` with a dict lookup: cheaper than a discriminated-union
validator, and error locations carry no tag prefix.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from contracts.errors import ContractValidationError
from contracts.messages import MESSAGE_TYPES, ContractMessage

_KNOWN_TYPES = ", ".join(MESSAGE_TYPES)
_JSON_WHITESPACE = " \t\n\r"
_JSON_KIND = {list: "an array", str: "a string", int: "a number", Decimal: "a number"}


def _refuse_constant(name: str) -> Any:
    # The stdlib would accept NaN and Infinity, which are neither JSON nor amounts.
    raise ValueError(f"{name} is not valid JSON")


_decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=_refuse_constant)
# decode() wraps raw_decode() in two whitespace regex matches, a sixth of the
# parse cost. Messages come without surrounding whitespace, so raw_decode()
# runs first and anything unusual is decoded again by the thorough path.
_raw_decode = _decoder.raw_decode
# Python refuses to parse ints over 4300 digits; Decimal has no digit limit.
_long_int_decoder = json.JSONDecoder(
    parse_float=Decimal, parse_int=Decimal, parse_constant=_refuse_constant
)


def _text(payload: bytes | str) -> str:
    if isinstance(payload, str):
        return payload
    try:
        # Strictly UTF-8: json.loads(bytes) would also guess UTF-16 and UTF-32.
        return bytes(payload).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ContractValidationError.whole_payload(f"payload is not UTF-8: {e}") from e


def _load(text: str) -> Any:
    try:
        obj, end = _raw_decode(text)
        # A line's own newline (or other JSON whitespace) may trail the object.
        if end == len(text) or not text[end:].strip(_JSON_WHITESPACE):
            return obj
    except (ValueError, RecursionError):
        pass  # the thorough path says what is wrong
    return _load_thoroughly(text)


def _load_thoroughly(text: str) -> Any:
    """Leading whitespace, malformed JSON and over-long ints end up here."""
    try:
        return _decoder.decode(text)
    except json.JSONDecodeError as e:
        raise ContractValidationError.whole_payload(f"invalid JSON: {e}") from e
    except RecursionError as e:
        raise ContractValidationError.whole_payload("invalid JSON: nested too deeply") from e
    except ValueError:
        pass  # an over-long int, or NaN/Infinity: the decoder below tells which
    try:
        return _long_int_decoder.decode(text)
    except (ValueError, RecursionError) as e:
        raise ContractValidationError.whole_payload(f"invalid JSON: {e}") from e


def parse_message(payload: bytes | str) -> ContractMessage:
    """Validate one bus message; raise `ContractValidationError` if it is not one."""
    obj = _load(_text(payload))
    if not isinstance(obj, dict):
        kind = "a boolean" if isinstance(obj, bool) else _JSON_KIND.get(type(obj), "null")
        raise ContractValidationError.whole_payload(f"message must be a JSON object, got {kind}")
    event_type = obj.get("event_type")
    if not isinstance(event_type, str) or event_type not in MESSAGE_TYPES:
        raise ContractValidationError([{"loc": "event_type", "msg": _unknown_type_msg(event_type)}])
    try:
        # The validator itself: model_validate() adds a Python frame and argument handling.
        validated = MESSAGE_TYPES[event_type].__pydantic_validator__.validate_python(obj)
    except ValidationError as e:
        raise ContractValidationError.from_pydantic(e, event_type) from e
    return validated  # type: ignore[no-any-return]


def _unknown_type_msg(event_type: object) -> str:
    if event_type is None:
        return f"event_type is missing; expected one of {_KNOWN_TYPES}"
    return f"unknown event_type {event_type!r}; expected one of {_KNOWN_TYPES}"


def message_to_json(msg: ContractMessage) -> bytes:
    """Canonical compact JSON: the model's field order, absent optional fields
    left out, Decimals as strings (exact), times ISO-8601 UTC with ``Z``."""
    return msg.__pydantic_serializer__.to_json(msg, exclude_none=True)
