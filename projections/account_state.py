"""The account projection's resume state: an `EquityBook`, stored with every batch.

To resume from its checkpoint in a later process the account projection stores what
its figures depend on (`projections.equity`): the Account, each position's last fill
(exec id and price) and the time of each market stream's last mark.

The objects are stored field by field from their type hints (new fields are picked up;
a type this codec does not know fails loudly), as canonical JSON with Decimals as
exact strings (never pickle: the database must not be able to run code).

Format 2, written by the versions that ran `Ledger.apply` (the Account, whole
Positions truncated to their last fill, and the full last tick), is still read: its
positions' last fills and its ticks' times are exactly what format 3 keeps.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import orjson

from domain.account import Account
from domain.position import Position
from projections.equity import EquityBook

FORMAT = 3

_PARTS: dict[str, Any] = {
    "account": Account,
    "last_fill": dict[tuple[str, str], tuple[str, Decimal]],
    "last_bar": dict[tuple[str, str | None], datetime],
    "last_tick": dict[str, datetime],
}
_PARTS_V2: dict[str, Any] = {
    "account": Account,
    "positions": dict[tuple[str, str], Position],
    "last_bar": dict[tuple[str, str | None], datetime],
    "last_tick": dict[str, tuple[datetime, Decimal, Decimal, str]],
}
_SCALARS: dict[Any, tuple[Any, Any]] = {
    Decimal: (str, Decimal),
    datetime: (datetime.isoformat, datetime.fromisoformat),
    date: (date.isoformat, date.fromisoformat),
    UUID: (str, UUID),
    str: (str, str),
    int: (int, int),
    bool: (bool, bool),
}


class AccountStateError(Exception):
    """A state this code cannot store or read back."""


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _encode(value: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if value is None:
            return None
        if len(inner) != 1:
            raise AccountStateError(f"cannot store a value of type {hint!r}")
        return _encode(value, inner[0])
    if hint in _SCALARS:
        return _SCALARS[hint][0](value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return value.value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        h = _hints(hint)
        return {
            f.name: _encode(getattr(value, f.name), h[f.name]) for f in dataclasses.fields(hint)
        }
    if origin is list:
        return [_encode(v, args[0]) for v in value]
    if origin in (set, frozenset):
        return sorted((_encode(v, args[0]) for v in value), key=orjson.dumps)
    if origin is tuple:
        kinds = [args[0]] * len(value) if args[-1] is Ellipsis else args
        return [_encode(v, k) for v, k in zip(value, kinds, strict=True)]
    if origin is dict:
        return [[_encode(k, args[0]), _encode(v, args[1])] for k, v in value.items()]
    raise AccountStateError(f"cannot store a value of type {hint!r}")


def _decode(data: Any, hint: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        return None if data is None else _decode(data, inner[0])
    if hint in _SCALARS:
        return _SCALARS[hint][1](data)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(data)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        # Set every field as stored, bypassing __init__/__post_init__ (which would reset
        # the account's cash to its starting equity).
        obj = object.__new__(hint)
        h = _hints(hint)
        for f in dataclasses.fields(hint):
            object.__setattr__(obj, f.name, _decode(data[f.name], h[f.name]))
        return obj
    if origin is list:
        return [_decode(v, args[0]) for v in data]
    if origin in (set, frozenset):
        return origin(_decode(v, args[0]) for v in data)
    if origin is tuple:
        kinds = [args[0]] * len(data) if args[-1] is Ellipsis else args
        return tuple(_decode(v, k) for v, k in zip(data, kinds, strict=True))
    if origin is dict:
        return {_decode(k, args[0]): _decode(v, args[1]) for k, v in data}
    raise AccountStateError(f"cannot read a value of type {hint!r}")


def dump_state(book: EquityBook) -> str:
    state: dict[str, Any] = {"format": FORMAT}
    for name, hint in _PARTS.items():
        state[name] = _encode(getattr(book, name), hint)
    return orjson.dumps(state).decode()


def load_state(text: str) -> EquityBook:
    try:
        s = orjson.loads(text)
        found = s.get("format") if isinstance(s, dict) else None
        if found == FORMAT:
            return EquityBook(**{name: _decode(s[name], hint) for name, hint in _PARTS.items()})
        if found == 2:
            return _from_format_2(s)
        raise AccountStateError(f"account state format {found!r} is not {FORMAT} (nor 2)")
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as e:
        raise AccountStateError(f"cannot read the stored account state: {e}") from e


def _from_format_2(s: dict[str, Any]) -> EquityBook:
    parts = {name: _decode(s[name], hint) for name, hint in _PARTS_V2.items()}
    positions: dict[tuple[str, str], Position] = parts["positions"]
    return EquityBook(
        account=parts["account"],
        last_fill={
            key: (f.exec_id, f.price)
            for key, p in positions.items()
            if p.fills
            for f in [next(reversed(p.fills.values()))]
        },
        last_bar=parts["last_bar"],
        last_tick={symbol: tick[0] for symbol, tick in parts["last_tick"].items()},
    )
