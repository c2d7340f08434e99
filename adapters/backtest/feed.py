"""Bar series -> one stream of bar groups in (timestamp, symbol) order, ready for the ledger.

A group is every bar stamped with one time, in symbol order; the engine drives
the ledger, the broker and the strategy one group at a time. Each bar becomes
a contract `BarEvent` inside a `ParsedMessage(source, line, bar)`: the source
is `backtest:<file name>` and the position its line, so the ledger tracks the
input exactly as it tracks a file or a Kafka partition.

The BarEvents skip pydantic validation: `data.py` has already applied the
contract's rules to every value, and validating again costs ~10x the rest of
the engine's work per bar. `fast_bar` fills the model's instance dict the way
`BaseModel.model_construct` does, minus its per-field Python loop; a check at
import compares it with `model_construct` and falls back to it on any
difference (a future pydantic), and a unit test compares it with a validated
BarEvent.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Context, Decimal

import numpy as np

from adapters.backtest.data import FIELDS, BarSeries, DecimalColumn, FloatArray, IntArray
from contracts import BarEvent
from domain.application import ParsedMessage

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHUNK = 4096  # rows turned into Python objects at a time: bounded memory for long series
_CTX = Context(prec=40)  # wide enough that scaleb of an int64 mantissa never rounds

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
_set = object.__setattr__


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
    _set(
        bar,
        "__dict__",
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
    _set(bar, "__pydantic_fields_set__", _FIELDS_SET)
    _set(bar, "__pydantic_extra__", None)
    _set(bar, "__pydantic_private__", None)
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


@dataclass(frozen=True, slots=True, eq=False)
class Timeline:
    """Every distinct bar time across the series, and closes aligned on it."""

    symbols: tuple[str, ...]
    times: IntArray  # UTC microseconds, strictly increasing: one per group
    closes: FloatArray  # (groups, symbols), carried forward over gaps, NaN before a first bar

    def __len__(self) -> int:
        return int(self.times.shape[0])

    def time(self, index: int) -> datetime:
        return EPOCH + timedelta(microseconds=int(self.times[index]))


def timeline(series: list[BarSeries]) -> Timeline:
    times = np.unique(np.concatenate([s.times for s in series]))
    closes = np.full((times.shape[0], len(series)), np.nan)
    for j, s in enumerate(series):
        rows = np.searchsorted(times, s.times)
        values = np.full(times.shape[0], np.nan)
        values[rows] = s.columns["close"].floats()
        # Carry the last close over the symbol's gaps: the strategy sees its last price.
        filled = np.where(np.isfinite(values), np.arange(values.shape[0]), 0)
        np.maximum.accumulate(filled, out=filled)
        closes[:, j] = values[filled]  # before the first bar values[0] is NaN: stays NaN
    return Timeline(tuple(s.symbol for s in series), times, closes)


class _Cursor:
    """One series, turned into ParsedMessages a chunk at a time (bounded memory)."""

    def __init__(self, series: BarSeries, bar_size: str | None) -> None:
        self.series, self.bar_size = series, bar_size
        self.n = len(series)
        self.pos = 0
        self.base = 0
        self._cache: dict[tuple[int, int], Decimal] = {}
        self.times: list[int] = []
        self.messages: list[ParsedMessage] = []
        self._load(0)

    def _load(self, start: int) -> None:
        s, stop = self.series, min(start + CHUNK, self.n)
        self.base = start
        self.times = s.times[start:stop].tolist()
        ats = [EPOCH + timedelta(microseconds=t) for t in self.times]
        o, h, lo, c, v = (self._decimals(s.columns[f], start, stop) for f in FIELDS)
        symbol, source, size, bar = s.symbol, s.source, self.bar_size, fast_bar
        lines = s.lines[start:stop].tolist()
        self.messages = [
            ParsedMessage(source, line, bar(symbol, at, op, hi, low, cl, vol, size))
            for line, at, op, hi, low, cl, vol in zip(lines, ats, o, h, lo, c, v, strict=True)
        ]

    def _decimals(self, column: DecimalColumn, start: int, stop: int) -> list[Decimal]:
        # Prices repeat (a minute bar's open is the last close): a cache halves the cost.
        get, miss = self._cache.get, self._miss
        keys = zip(
            column.mantissa[start:stop].tolist(), column.exponent[start:stop].tolist(), strict=True
        )
        return [get(k) or miss(k) for k in keys]

    def _miss(self, key: tuple[int, int]) -> Decimal:
        if len(self._cache) >= 65_536:
            self._cache.clear()
        d = self._cache[key] = _CTX.scaleb(Decimal(key[0]), key[1])
        return d

    @property
    def next_time(self) -> int | None:
        return self.times[self.pos - self.base] if self.pos < self.n else None

    def take(self) -> ParsedMessage:
        message = self.messages[self.pos - self.base]
        self.pos += 1
        if self.pos < self.n and self.pos - self.base >= len(self.messages):
            self._load(self.pos)
        return message

    def chunks(self) -> Iterator[list[ParsedMessage]]:
        while self.pos < self.n:
            chunk = self.messages[self.pos - self.base :]
            self.pos = self.base + len(self.messages)
            yield chunk
            if self.pos < self.n:
                self._load(self.pos)


def bar_groups(
    series: list[BarSeries], bar_size: str | None = None
) -> Iterator[tuple[datetime, list[ParsedMessage]]]:
    """(time, bars in symbol order) for every distinct time, oldest first."""
    cursors = [_Cursor(s, bar_size) for s in sorted(series, key=lambda s: s.symbol)]
    if len(cursors) == 1:
        for chunk in cursors[0].chunks():
            for pm in chunk:
                yield pm.message.timestamp, [pm]
        return
    while True:
        times = [t for c in cursors if (t := c.next_time) is not None]
        if not times:
            return
        now = min(times)
        yield EPOCH + timedelta(microseconds=now), [c.take() for c in cursors if c.next_time == now]
