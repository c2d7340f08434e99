"""Read model `metrics`: the counters Prometheus exports that no other read model holds.

Counted from the log, not from the process, so they survive restarts and count
every writer: events appended by type, quarantined messages, kill-switch trips by
trigger. Each batch adds its counts to the stored ones (upsert `value + n`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import BigInteger, Column, Connection, MetaData, Table, Text

from domain import events as ev
from projections.base import Projection, upsert_rows
from projections.log import LogEvent
from projections.schema import table_name

EVENTS_APPENDED = "events_appended"
QUARANTINED = "quarantined_messages"
KILLSWITCH_TRIPS = "killswitch_trips"

_QUARANTINED = ev.MessageQuarantined.__name__
_TRIPPED = ev.KillSwitchTripped.__name__


class MetricsProjection(Projection):
    name = "metrics"
    topics = None

    @classmethod
    def define(cls, metadata: MetaData, version: int) -> Sequence[Table]:
        return [
            Table(
                table_name("metrics", version),
                metadata,
                Column("metric", Text, primary_key=True),
                Column("label", Text, primary_key=True),
                Column("value", BigInteger, nullable=False),
            )
        ]

    def __init__(self, version: int, codec: Any) -> None:
        super().__init__(version, codec)
        self._types: dict[str, int] = {}  # events by type: the hot path, one per event
        self._counts: Counter[tuple[str, str]] = Counter()

    def apply(self, event: LogEvent) -> None:
        kind = event.type_name
        types = self._types
        types[kind] = types.get(kind, 0) + 1
        if kind == _QUARANTINED:
            self._counts[(QUARANTINED, "")] += 1
        elif kind == _TRIPPED:
            self._counts[(KILLSWITCH_TRIPS, event.data["trigger"])] += 1

    def flush(self, conn: Connection) -> None:
        for kind, n in self._types.items():
            self._counts[(EVENTS_APPENDED, kind)] += n
        self._types.clear()
        rows = [
            {"metric": m, "label": label, "value": n}
            for (m, label), n in sorted(self._counts.items())
        ]
        upsert_rows(conn, self.table("metrics"), rows, ["metric", "label"], add=["value"])
        self._counts.clear()

    def discard(self) -> None:
        self._types.clear()
        self._counts.clear()
