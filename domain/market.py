"""Market data in the ledger: recorded as it came, deduplicated, and turned into marks.

Bars, ticks and OFI values are inputs a replay or a what-if backtest needs, so each is
recorded as an event. Bars (close) and TRADE/LAST ticks are marks; marks only move
forward in time, so a late bar is recorded but re-values nothing. A re-delivered input
is recognised by its key within a bounded window (`domain.recent`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from contracts import BarEvent, OFIEvent, TickEvent
from domain import events as ev
from domain.recent import Recent

MarketInput = BarEvent | TickEvent | OFIEvent

# input type -> (event class, fields copied from the input, whether it is a mark)
EVENTS: dict[type, tuple[type[ev.MarketEvent], tuple[str, ...], bool]] = {
    BarEvent: (ev.MarketBarRecorded, ("open", "high", "low", "close", "volume", "bar_size"), True),
    TickEvent: (ev.MarketTickRecorded, ("price", "size", "tick_type"), True),
    OFIEvent: (
        ev.MarketOfiRecorded,
        ("ofi_value", "volume_imbalance", "bid_volume", "ask_volume"),
        False,
    ),
}


def event_fields(m: MarketInput) -> dict[str, object]:
    """The recorded event's fields, taken from the input."""
    if isinstance(m, BarEvent):  # the common case (every bar of a backtest): no loop
        return {
            "open": m.open,
            "high": m.high,
            "low": m.low,
            "close": m.close,
            "volume": m.volume,
            "bar_size": m.bar_size,
        }
    fields: dict[str, object] = {n: getattr(m, n) for n in EVENTS[type(m)][1]}
    if isinstance(m, TickEvent):
        fields["tick_type"] = m.tick_type.value
    return fields


# A stream of market data (kind, symbol, bar size) and the key that identifies one of
# its items, for an input or for the event recorded from it.
Stream = tuple[str, str, str | None]


def _bar_in(m: BarEvent) -> tuple[Stream, object]:
    return ("bar", m.symbol, m.bar_size), m.timestamp


def _tick_in(m: TickEvent) -> tuple[Stream, object]:
    return ("tick", m.symbol, None), (m.timestamp, m.price, m.size, m.tick_type.value)


def _ofi_in(m: OFIEvent) -> tuple[Stream, object]:
    return ("ofi", m.symbol, None), m.timestamp


def _bar_ev(e: ev.MarketBarRecorded) -> tuple[Stream, object]:
    return ("bar", e.symbol, e.bar_size), e.occurred_at


def _tick_ev(e: ev.MarketTickRecorded) -> tuple[Stream, object]:
    return ("tick", e.symbol, None), (e.occurred_at, e.price, e.size, e.tick_type)


def _ofi_ev(e: ev.MarketOfiRecorded) -> tuple[Stream, object]:
    return ("ofi", e.symbol, None), e.occurred_at


_KEYS: dict[type, Callable[[Any], tuple[Stream, object]]] = {
    BarEvent: _bar_in,
    TickEvent: _tick_in,
    OFIEvent: _ofi_in,
    ev.MarketBarRecorded: _bar_ev,
    ev.MarketTickRecorded: _tick_ev,
    ev.MarketOfiRecorded: _ofi_ev,
}


@dataclass(slots=True)
class MarketData:
    last_bar: dict[tuple[str, str | None], datetime] = field(default_factory=dict)
    last_tick: dict[str, tuple[datetime, Decimal, Decimal, str]] = field(default_factory=dict)
    last_ofi: dict[str, datetime] = field(default_factory=dict)
    # Recently seen keys per stream, for duplicate detection.
    recent: dict[Stream, Recent] = field(default_factory=dict)

    def is_duplicate(self, m: MarketInput) -> bool:
        memory, key = self._memory(m)
        return key in memory

    def apply(self, event: ev.MarketEvent) -> Decimal | None:
        """Record an event; the new mark for its symbol when it is a fresh one."""
        memory, key = self._memory(event)
        memory.add(key)
        if isinstance(event, ev.MarketBarRecorded):
            stream = (event.symbol, event.bar_size)
            at = event.occurred_at
            last = self.last_bar.get(stream)
            if last is None or at > last:
                self.last_bar[stream] = at
                return event.close
        elif isinstance(event, ev.MarketTickRecorded):
            sym, at = event.symbol, event.occurred_at
            last_tick = self.last_tick.get(sym)
            if last_tick is None or at >= last_tick[0]:
                self.last_tick[sym] = (at, event.price, event.size, event.tick_type)
                if event.tick_type in ("TRADE", "LAST"):
                    return event.price
        elif isinstance(event, ev.MarketOfiRecorded):
            sym, at = event.symbol, event.occurred_at
            self.last_ofi[sym] = max(at, self.last_ofi.get(sym, at))
        return None

    def _memory(self, item: ev.MarketEvent | MarketInput) -> tuple[Recent, object]:
        """The memory of an input's or event's stream, and its key in it."""
        stream, key = _KEYS[type(item)](item)
        memory = self.recent.get(stream)
        if memory is None:
            memory = self.recent[stream] = Recent()
        return memory, key
