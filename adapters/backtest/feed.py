"""Bar series -> one stream of bar groups in (timestamp, symbol) order, ready for the ledger.

A group is every bar stamped with one time, in symbol order; the engine drives
the ledger, the broker and the strategy one group at a time. Each bar becomes
a contract `BarEvent` inside a `ParsedMessage(source, line, bar)`: the source
is `backtest:<file name>` and the position its line, so the ledger tracks the
input exactly as it tracks a file or a Kafka partition.

The BarEvents and ParsedMessages skip pydantic validation (`messages.py`).
Times and decimals are made a chunk at a time from the columns (times by adding
the gap to the previous time, decimals through a cache of each distinct value):
per bar, the feed costs about the objects the ledger needs (~1.5 µs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Context, Decimal
from itertools import accumulate, pairwise, repeat
from operator import add

import numpy as np

from adapters.backtest.data import FIELDS, BarSeries, DecimalColumn, FloatArray, IntArray
from adapters.backtest.messages import EPOCH as EPOCH  # re-exported: the epoch of every time here
from adapters.backtest.messages import fast_bar, parsed_message
from domain.application import ParsedMessage

CHUNK = 4096  # rows turned into Python objects at a time: bounded memory for long series
_CACHE_LIMIT = 65_536  # distinct decimals (or gaps) remembered per series before starting over
_CTX = Context(prec=40)  # wide enough that scaleb of an int64 mantissa never rounds


class _Steps(dict[int, timedelta]):
    """Microsecond gaps -> timedelta, made once per distinct gap (bars are evenly spaced)."""

    def __missing__(self, gap: int) -> timedelta:
        step = self[gap] = timedelta(microseconds=gap)
        return step


class _Decimals(dict[int, Decimal]):
    """Mantissa -> Decimal at one exponent. Prices repeat (a minute bar's open is the last
    close, a range revisits its levels): most values are a dict hit."""

    def __init__(self, exponent: int) -> None:
        super().__init__()
        self.exponent = exponent

    def __missing__(self, mantissa: int) -> Decimal:
        d = self[mantissa] = _CTX.scaleb(Decimal(mantissa), self.exponent)
        return d


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
    """One series, turned into ParsedMessages a chunk at a time (bounded memory).

    Per chunk the work is columnar: numpy slices to Python ints, then `map` over the
    factories, so the per-bar cost is the objects the ledger needs and little else."""

    def __init__(self, series: BarSeries, bar_size: str | None) -> None:
        self.series, self.bar_size = series, bar_size
        self.n = len(series)
        self.pos = 0
        self.base = 0
        self._decimals: dict[int, _Decimals] = {}
        self._steps = _Steps()
        self.ats: list[datetime] = []
        self.messages: list[ParsedMessage] = []
        self._load(0)

    def _load(self, start: int) -> None:
        s, stop = self.series, min(start + CHUNK, self.n)
        self.base = start
        ats = self.ats = self._datetimes(s.times[start:stop])
        if sum(map(len, self._decimals.values())) >= _CACHE_LIMIT:
            self._decimals.clear()  # bounded: a long series of ever-new prices
        o, h, lo, c, v = (self._column(s.columns[f], start, stop) for f in FIELDS)
        bars = map(fast_bar, repeat(s.symbol), ats, o, h, lo, c, v, repeat(self.bar_size))
        self.messages = list(
            map(parsed_message, repeat(s.source), s.lines[start:stop].tolist(), bars)
        )

    def _datetimes(self, times: IntArray) -> list[datetime]:
        """UTC datetimes of these microsecond times: the first one made, the others by
        adding the gap (exact integer arithmetic: the same values as `EPOCH + timedelta(t)`
        for each, at a fraction of the cost)."""
        if not times.shape[0]:
            return []
        steps = self._steps
        if len(steps) >= _CACHE_LIMIT:
            steps.clear()
        first = EPOCH + timedelta(microseconds=int(times[0]))
        return list(accumulate(map(steps.__getitem__, np.diff(times).tolist()), add, initial=first))

    def _column(self, column: DecimalColumn, start: int, stop: int) -> list[Decimal]:
        mantissa, exponent = column.mantissa[start:stop], column.exponent[start:stop]
        if not exponent.shape[0]:
            return []
        first = int(exponent[0])
        if (exponent == first).all():  # the usual case: one exponent per column
            return list(map(self._at(first).__getitem__, mantissa.tolist()))
        at = self._at
        return [at(e)[m] for m, e in zip(mantissa.tolist(), exponent.tolist(), strict=True)]

    def _at(self, exponent: int) -> _Decimals:
        cache = self._decimals.get(exponent)
        if cache is None:
            cache = self._decimals[exponent] = _Decimals(exponent)
        return cache

    def take(self) -> ParsedMessage:
        message = self.messages[self.pos - self.base]
        self.pos += 1
        if self.pos < self.n and self.pos - self.base >= len(self.messages):
            self._load(self.pos)
        return message

    def chunks(self) -> Iterator[tuple[list[datetime], list[ParsedMessage]]]:
        """What is left of the series, a chunk at a time: (times, messages)."""
        while self.pos < self.n:
            skip = self.pos - self.base
            chunk = self.messages[skip:]
            self.pos = self.base + len(self.messages)
            yield self.ats[skip:], chunk
            if self.pos < self.n:
                self._load(self.pos)


def _alone(pm: ParsedMessage) -> list[ParsedMessage]:
    return [pm]


def bar_groups(
    series: list[BarSeries], bar_size: str | None = None
) -> Iterator[tuple[datetime, list[ParsedMessage]]]:
    """(time, bars in symbol order) for every distinct time, oldest first."""
    cursors = [_Cursor(s, bar_size) for s in sorted(series, key=lambda s: s.symbol)]
    if len(cursors) == 1:
        for ats, chunk in cursors[0].chunks():
            yield from zip(ats, map(_alone, chunk), strict=True)
        return
    yield from _merged(cursors)


def _merged(cursors: list[_Cursor]) -> Iterator[tuple[datetime, list[ParsedMessage]]]:
    """Several series: the merged order is computed once with numpy (a stable sort of every
    bar by time, then by symbol), so per group the work is taking each bar from its series."""
    times = np.concatenate([c.series.times for c in cursors])
    if not times.shape[0]:
        return
    which = np.concatenate([np.full(c.n, j, dtype=np.int32) for j, c in enumerate(cursors)])
    order = np.lexsort((which, times))  # the last key sorts first: time, then symbol
    times, which = times[order], which[order]
    del order
    starts = np.flatnonzero(np.diff(times)) + 1
    edges = np.concatenate(([0], starts, [times.shape[0]]))  # group g is [edges[g], edges[g+1])
    takes = [c.take for c in cursors]
    for first in range(0, edges.shape[0] - 1, CHUNK):  # a chunk of groups at a time
        bounds = edges[first : first + CHUNK + 1].tolist()
        base = bounds[0]
        ids = which[base : bounds[-1]].tolist()
        for a, b in pairwise(bounds):
            bars = [takes[j]() for j in ids[a - base : b - base]]
            yield bars[0].message.timestamp, bars
