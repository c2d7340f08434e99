"""Events <-> stored bytes: canonical, fast, and lossless for Decimal.

The state of an event is a JSON object of its fields in declaration order
(without originator id and version, which are columns): Decimals as strings,
times as ISO-8601, UUIDs as canonical text. The bytes are a pure function of the
event, which the hash chain and byte-identical backtests rely on.

This plugs into eventsourcing as its `Mapper`, so the library's recorders and
notification log carry our events unchanged.
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent

from domain import events as ev
from domain.errors import EventDecodingError

_SKIP = ("originator_id", "originator_version")


@dataclass(frozen=True)
class LedgerStoredEvent(StoredEvent):
    """eventsourcing's StoredEvent plus the recorded time, a column of its own (indexed)."""

    recorded_at: int  # microseconds since the epoch, UTC


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return str(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _decoder(hint: Any) -> Callable[[Any], Any] | None:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        base = _decoder(inner[0]) if len(inner) == 1 else None
        if base is None:
            return None
        return lambda v: None if v is None else base(v)
    table: dict[Any, Callable[[Any], Any]] = {
        Decimal: Decimal,
        datetime: datetime.fromisoformat,
        date: date.fromisoformat,
        UUID: _uuid,
    }
    return table.get(hint)


@dataclass(frozen=True, slots=True)
class _Spec:
    cls: type[ev.LedgerEvent]
    topic: str
    names: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]  # the event's field values, in `names` order
    decoders: tuple[tuple[str, Callable[[Any], Any]], ...]


@functools.lru_cache(maxsize=1 << 16)
def _uuid(text: str) -> UUID:
    # Replays see the same aggregate ids again and again (an order's events, a symbol's
    # position); parsing a UUID costs more than the rest of the row's bookkeeping.
    return UUID(text)


def _one(name: str) -> Callable[[Any], tuple[Any, ...]]:
    get = operator.attrgetter(name)
    return lambda obj: (get(obj),)


def topic_of(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


class EventCodec:
    def __init__(self, classes: tuple[type[ev.LedgerEvent], ...] = ev.EVENT_CLASSES) -> None:
        self._by_cls: dict[type, _Spec] = {}
        self._by_topic: dict[str, _Spec] = {}
        for cls in classes:
            hints = typing.get_type_hints(cls)
            names = tuple(f.name for f in dataclasses.fields(cls) if f.name not in _SKIP)
            decs = tuple((n, d) for n in names if (d := _decoder(hints[n])) is not None)
            # attrgetter of several names returns a tuple, read in C.
            values = operator.attrgetter(*names) if len(names) > 1 else _one(names[0])
            spec = _Spec(cls, topic_of(cls), names, values, decs)
            self._by_cls[cls] = spec
            self._by_topic[spec.topic] = spec

    def encode(self, event: ev.LedgerEvent) -> tuple[str, bytes]:
        spec = self._by_cls[type(event)]
        # orjson writes every other field type itself and calls `_default` for Decimals
        # (measured: cheaper than converting them in a Python loop first).
        state = dict(zip(spec.names, spec.values(event), strict=True))
        return spec.topic, orjson.dumps(state, default=_default)

    def decode(
        self, topic: str, originator_id: UUID | str, version: int, state: bytes
    ) -> ev.LedgerEvent:
        spec = self._by_topic.get(topic)
        if spec is None:
            raise EventDecodingError(f"unknown event topic {topic!r}")
        try:
            data = orjson.loads(state)
            for name, dec in spec.decoders:
                data[name] = dec(data[name])
            oid = originator_id if isinstance(originator_id, UUID) else _uuid(originator_id)
            return spec.cls(originator_id=oid, originator_version=version, **data)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as e:
            raise EventDecodingError(
                f"cannot decode {topic} v{version} of {originator_id}: {e}"
            ) from e

    def topics(self) -> list[str]:
        return list(self._by_topic)


def micros(at: datetime) -> int:
    """UTC microseconds since the epoch, exact (no float)."""
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LedgerMapper(Mapper[UUID]):
    """eventsourcing's Mapper, specialised to the ledger's events and canonical JSON."""

    def __init__(self, codec: EventCodec | None = None) -> None:
        super().__init__(transcoder=JSONTranscoder())
        self.codec = codec or EventCodec()

    def to_stored_event(self, domain_event: Any) -> LedgerStoredEvent:
        topic, state = self.codec.encode(domain_event)
        return LedgerStoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=topic,
            state=state,
            recorded_at=micros(domain_event.recorded_at),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self.codec.decode(
            stored_event.topic,
            stored_event.originator_id,
            stored_event.originator_version,
            stored_event.state,
        )
