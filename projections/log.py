"""The event log as projections see it: stored rows, decoded only as far as each needs.

A projection pass reads raw rows of the log (position, originator, version, topic,
state bytes, recorded time) through an `EventSource` that the store adapters
implement with one SQL query per batch, inside the projection's own transaction.
Decoding is lazy and shared: `data` parses the JSON state once (strings stay
strings: Decimals are stored as their exact text, which is what the read models
keep), and `event` builds the domain event once, for the projections that run
domain code on it (the account). On a mixed log most events are never fully decoded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

import orjson
from sqlalchemy import Connection

from domain import events as ev
from domain.codec import EventCodec, topic_of


@dataclass(frozen=True, slots=True)
class EventKind:
    """What the projections need to know about a topic without decoding an event."""

    topic: str
    name: str  # the event class name, e.g. "OrderFilled"
    aggregate: str  # Order, HeldReports, Position, Account, Market, KillSwitch, Quarantine, ...


_AGGREGATES: tuple[tuple[type[ev.LedgerEvent], str], ...] = (
    (ev.OrderEvent, "Order"),
    (ev.ExecutionReportHeld, "HeldReports"),
    (ev.PositionEvent, "Position"),
    (ev.AccountOpened, "Account"),
    (ev.AccountDayRolled, "Account"),
    (ev.MarketEvent, "Market"),
    (ev.KillSwitchEvent, "KillSwitch"),
    (ev.MessageQuarantined, "Quarantine"),
    (ev.ReconciliationRecorded, "Reconciliation"),
)


def _aggregate_of(cls: type[ev.LedgerEvent]) -> str:
    for base, name in _AGGREGATES:
        if issubclass(cls, base):
            return name
    return "Unknown"


KINDS: dict[str, EventKind] = {
    topic_of(cls): EventKind(topic_of(cls), cls.__name__, _aggregate_of(cls))
    for cls in ev.EVENT_CLASSES
}
TOPIC_BY_NAME: dict[str, str] = {k.name: k.topic for k in KINDS.values()}
_NAMES: dict[str, str] = {k.topic: k.name for k in KINDS.values()}


def topics_for(*classes: type[ev.LedgerEvent]) -> frozenset[str]:
    """The stored topics of the given event classes and of their subclasses."""
    return frozenset(topic_of(c) for c in ev.EVENT_CLASSES if issubclass(c, classes))


class UnknownEventTopic(Exception):
    """A stored event whose topic no event class of this version of the ledger has."""


class LogEvent:
    """One stored event at its global position; `data` and `event` decode on demand."""

    __slots__ = (
        "_data",
        "_event",
        "originator_id",
        "position",
        "recorded_at",
        "state",
        "topic",
        "type_name",
        "version",
    )

    def __init__(
        self,
        position: int,
        originator_id: str,
        version: int,
        topic: str,
        state: bytes,
        recorded_at: int,
    ) -> None:
        self.position = position
        self.originator_id = originator_id  # canonical UUID text (with dashes)
        self.version = version
        self.topic = topic
        self.state = state
        self.recorded_at = recorded_at  # microseconds since the epoch, UTC
        name = _NAMES.get(topic)
        self.type_name = name if name is not None else topic.rpartition(":")[2]
        self._data: dict[str, Any] | None = None
        self._event: ev.LedgerEvent | None = None

    @property
    def kind(self) -> EventKind:
        kind = KINDS.get(self.topic)
        if kind is None:
            raise UnknownEventTopic(f"unknown event topic {self.topic!r}")
        return kind

    @property
    def data(self) -> dict[str, Any]:
        """The JSON state: Decimals and times as the exact text the log holds."""
        if self._data is None:
            self._data = orjson.loads(self.state)
        return self._data

    def event(self, codec: EventCodec, originator: UUID | None = None) -> ev.LedgerEvent:
        """The domain event; `originator` saves building a UUID the caller already has."""
        if self._event is None:
            self._event = codec.decode(
                self.topic, originator or self.originator_id, self.version, self.state
            )
        return self._event


class EventSource(Protocol):
    """Reading the log inside a projection's transaction (implemented per store)."""

    def head(self, conn: Connection) -> int:
        """The last global position in the log (0 when empty)."""
        ...

    def read(
        self, conn: Connection, after: int, upto: int, topics: frozenset[str] | None
    ) -> Sequence[LogEvent]:
        """Events with `after < position <= upto` in log order, only `topics` unless None."""
        ...

    def first_recorded_after(self, conn: Connection, after: int) -> int | None:
        """Recorded time (µs) of the first event after position `after`; None if none."""
        ...
