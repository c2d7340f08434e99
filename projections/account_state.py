"""The account projection's resume state: the part of a Ledger that equity depends on.

The account projection runs the domain's own `Ledger.apply` over position, market and
account events, so its figures are the ledger's by construction. To resume from its
checkpoint in a later process it stores, with every batch, what `Ledger.apply` reads
for those events: the Account, the Positions, and the latest bar and tick times that
decide whether a price is a new mark.

The objects are stored field by field from their type hints (new fields are picked up;
a type this codec does not know fails loudly), as canonical JSON with Decimals as
exact strings (never pickle: the database must not be able to run code).

A Position keeps only its last fill: `Position.apply` reads the fill sequence only to
know the last fill's price (the account's mark until the market marks the symbol), and
keeping every fill would make the state grow with the log. A correction of an earlier
fill leaves the last one in place; a correction of the last one replaces it, exactly as
with the whole sequence (tests/unit/projections: test_a_position_keeps_its_last_fill).
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
from domain.ledger import Ledger, LedgerConfig
from domain.position import Position

FORMAT = 2

_PARTS: dict[str, Any] = {
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


def keep_last_fill(ledger: Ledger) -> None:
    """Bound the positions' memory to what `Position.apply` needs (see the module doc)."""
    for p in ledger.positions.values():
        if len(p.fills) > 1:
            last = next(reversed(p.fills))
            p.fills = {last: p.fills[last]}


def dump_state(ledger: Ledger) -> str:
    state: dict[str, Any] = {"format": FORMAT}
    for name, hint in _PARTS.items():
        state[name] = _encode(getattr(ledger, name), hint)
    return orjson.dumps(state).decode()


def load_state(text: str) -> Ledger:
    try:
        s = orjson.loads(text)
        if not isinstance(s, dict) or s.get("format") != FORMAT:
            found = s.get("format") if isinstance(s, dict) else None
            raise AccountStateError(f"account state format {found!r} is not {FORMAT}")
        account: Account = _decode(s["account"], Account)
        ledger = Ledger(
            LedgerConfig(
                account=account.name,
                currency=account.currency,
                starting_equity=account.starting_equity,
            )
        )
        for name, hint in _PARTS.items():
            setattr(ledger, name, _decode(s[name], hint))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as e:
        raise AccountStateError(f"cannot read the stored account state: {e}") from e
    return ledger
