"""Contract objects for the feed, built without pydantic validation (the hot path).

`data.py` has already applied the contract's rules to every bar value, and
validating again costs ~10x the rest of the engine's work per bar. `fast_bar`
fills the model's instance state the way `BaseModel.model_construct` does,
minus its per-field Python loop; a check at import compares it with
`model_construct` and falls back to it on any difference (a future pydantic),
and a unit test compares it with a validated BarEvent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel

from contracts import BarEvent, ContractMessage
from domain.application import ParsedMessage

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

BarFactory = Callable[
    [str, datetime, Decimal, Decimal, Decimal, Decimal, Decimal, str | None], BarEvent
]


def _model_construct_bar(
    symbol: str,
    at: datetime,
    o: Decimal,
    h: Decimal,
    lo: Decimal,
    c: Decimal,
    v: Decimal,
    bar_size: str | None,
) -> BarEvent:
    return BarEvent.model_construct(
        symbol=symbol, timestamp=at, open=o, high=h, low=lo, close=c, volume=v, bar_size=bar_size
    )


_FIELDS_SET = frozenset(
    ("symbol", "timestamp", "open", "high", "low", "close", "volume", "bar_size")
)
_new = object.__new__
# pydantic keeps a model's state in four slots of BaseModel; their descriptors' setters are
# what `model_construct` ends up calling, minus the attribute lookups around them.
_slot = BaseModel.__dict__
_set_dict = _slot["__dict__"].__set__
_set_fields_set = _slot["__pydantic_fields_set__"].__set__
_set_extra = _slot["__pydantic_extra__"].__set__
_set_private = _slot["__pydantic_private__"].__set__


def _direct_bar(
    symbol: str,
    at: datetime,
    o: Decimal,
    h: Decimal,
    lo: Decimal,
    c: Decimal,
    v: Decimal,
    bar_size: str | None,
) -> BarEvent:
    bar: BarEvent = _new(BarEvent)
    _set_dict(
        bar,
        {
            "event_type": "bar_event",
            "symbol": symbol,
            "timestamp": at,
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": v,
            "bar_size": bar_size,
        },
    )
    _set_fields_set(bar, _FIELDS_SET)
    _set_extra(bar, None)
    _set_private(bar, None)
    return bar


def _choose_factory() -> BarFactory:
    args = ("X", EPOCH, Decimal(2), Decimal(3), Decimal(1), Decimal(2), Decimal(5), "1min")
    a, b = _direct_bar(*args), _model_construct_bar(*args)
    same = all(
        getattr(a, n, None) == getattr(b, n, None)
        for n in (
            "__dict__",
            "__pydantic_fields_set__",
            "__pydantic_extra__",
            "__pydantic_private__",
        )
    )
    return _direct_bar if same and list(a.__dict__) == list(b.__dict__) else _model_construct_bar


fast_bar: BarFactory = _choose_factory()

MessageFactory = Callable[[str, int, ContractMessage], ParsedMessage]

# The ParsedMessage around each bar: its own constructor (a plain slotted dataclass).
parsed_message: MessageFactory = ParsedMessage
