"""Market data in the ledger: recorded as it came, deduplicated, and turned into marks.

Bars, ticks and OFI values are inputs a replay or a what-if backtest needs, so each is
recorded as an event. Bars (close) and TRADE/LAST ticks are marks; marks only move
forward in time, so a late bar is recorded but re-values nothing. A re-delivered input
is recognised by its key within a bounded window (`domain.recent`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

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
    fields: dict[str, object] = {n: getattr(m, n) for n in EVENTS[type(m)][1]}
    if isinstance(m, TickEvent):
        fields["tick_type"] = m.tick_type.value
    return fields


@dataclass(slots=True)
class MarketData:
    last_bar: dict[tuple[str, str | None], datetime] = field(default_factory=dict)
    last_tick: dict[str, tuple[datetime, Decimal, Decimal, str]] = field(default_factory=dict)
    last_ofi: dict[str, datetime] = field(default_factory=dict)
    # Recently seen keys per stream, for duplicate detection.
    recent: dict[tuple[str, str, str | None], Recent] = field(default_factory=dict)

    def is_duplicate(self, m: MarketInput) -> bool:
        memory, key = self._memory(m)
        return key in memory

    def apply(self, event: ev.MarketEvent) -> Decimal | None:
        """Record an event; the new mark for its symbol when it is a fresh one."""
        memory, key = self._memory(event)
        memory.add(key)
        sym, at = event.symbol, event.occurred_at
        if isinstance(event, ev.MarketBarRecorded):
            stream = (sym, event.bar_size)
            last = self.last_bar.get(stream)
            if last is None or at > last:
                self.last_bar[stream] = at
                return event.close
        elif isinstance(event, ev.MarketTickRecorded):
            last_tick = self.last_tick.get(sym)
            if last_tick is None or at >= last_tick[0]:
                self.last_tick[sym] = (at, event.price, event.size, event.tick_type)
                if event.tick_type in ("TRADE", "LAST"):
                    return event.price
        elif isinstance(event, ev.MarketOfiRecorded):
            self.last_ofi[sym] = max(at, self.last_ofi.get(sym, at))
        return None

    def _memory(self, item: ev.MarketEvent | MarketInput) -> tuple[Recent, object]:
        """The memory of an input's or event's stream, and its key in it."""
        at = item.occurred_at if isinstance(item, ev.MarketEvent) else item.timestamp
        key: object
        if isinstance(item, ev.MarketBarRecorded | BarEvent):
            stream, key = ("bar", item.symbol, item.bar_size), at
        elif isinstance(item, ev.MarketTickRecorded | TickEvent):
            tick_type = item.tick_type if isinstance(item.tick_type, str) else item.tick_type.value
            stream, key = ("tick", item.symbol, None), (at, item.price, item.size, tick_type)
        else:
            stream, key = ("ofi", item.symbol, None), at
        memory = self.recent.get(stream)
        if memory is None:
            memory = self.recent[stream] = Recent()
        return memory, key
