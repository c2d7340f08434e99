"""Read model `audit_index`: one row per event, to find events without scanning the log.

Columns: global position, aggregate type and id, aggregate version, event type, intent
id, symbol, occurred_at and recorded_at (µs since the epoch, UTC), and the input
coordinates (`source`). Indexed for the audit queries: by intent (an order's whole
lifecycle, its fills and position effects), by symbol, by event type and by time.

Order events after the intent do not repeat the symbol; it is looked up from the
intent seen earlier (in memory, else in this table: one query per batch).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import BigInteger, Column, Connection, Index, Integer, MetaData, Table, Text, select

from domain import events as ev
from projections.base import EventRejected, Projection, insert_rows
from projections.log import KINDS, LogEvent
from projections.schema import LOG_POSITION, table_name

_INTENT = ev.OrderIntentRecorded.__name__
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_CACHE_LIMIT = 200_000  # intents remembered in memory; older ones are read back
_CHUNK = 500


def _micros(text: str) -> int:
    return (datetime.fromisoformat(text) - _EPOCH) // _MICRO


class AuditIndexProjection(Projection):
    name = "audit_index"
    topics = None

    @classmethod
    def define(cls, metadata: MetaData, version: int) -> Sequence[Table]:
        name = table_name("audit_index", version)
        return [
            Table(
                name,
                metadata,
                Column("position", LOG_POSITION, primary_key=True, autoincrement=False),
                Column("aggregate_type", Text, nullable=False),
                Column("aggregate_id", Text, nullable=False),
                Column("aggregate_version", Integer, nullable=False),
                Column("event_type", Text, nullable=False),
                Column("intent_id", Text),
                Column("symbol", Text),
                Column("occurred_at", BigInteger, nullable=False),
                Column("recorded_at", BigInteger, nullable=False),
                Column("source", Text, nullable=False),
                Index(f"ix_{name}_intent", "intent_id"),
                Index(f"ix_{name}_symbol", "symbol"),
                Index(f"ix_{name}_type", "event_type"),
                Index(f"ix_{name}_recorded", "recorded_at"),
            )
        ]

    def __init__(self, version: int, codec: Any) -> None:
        super().__init__(version, codec)
        self._rows: list[tuple[Any, ...]] = []
        self._unresolved: list[tuple[int, str]] = []  # (row index, intent id)
        self._symbols: dict[str, str] = {}
        # The events of one input share its time: convert each distinct text once.
        self._occurred: tuple[str, int] = ("", 0)

    def apply(self, event: LogEvent) -> None:
        kind = KINDS.get(event.topic)  # without the property call: one per row
        if kind is None:
            kind = event.kind  # raises UnknownEventTopic, naming the topic
        d = event.data
        aggregate, intent, symbol = kind.aggregate, None, None
        if aggregate == "Order":
            intent = event.originator_id
            if kind.name == _INTENT:
                symbol = self._symbols[intent] = d["symbol"]
            else:
                symbol = self._symbols.get(intent)
                if symbol is None:
                    self._unresolved.append((len(self._rows), intent))
        elif aggregate == "Position":
            intent, symbol = d["intent_id"], d["symbol"]
        elif aggregate == "Market":
            symbol = d["symbol"]
        elif aggregate == "HeldReports":
            intent, symbol = d["intent_id"], orjson.loads(d["report"]).get("symbol")
        text, occurred = self._occurred
        if d["occurred_at"] != text:
            text = d["occurred_at"]
            occurred = _micros(text)
            self._occurred = (text, occurred)
        self._rows.append(
            (
                event.position,
                aggregate,
                event.originator_id,
                event.version,
                kind.name,
                intent,
                symbol,
                occurred,
                event.recorded_at,
                d["source"],
            )
        )

    def flush(self, conn: Connection) -> None:
        table = self.table("audit_index")
        if self._unresolved:
            self._resolve(conn, table)
        insert_rows(conn, table, self._rows)
        self._rows.clear()
        if len(self._symbols) > _CACHE_LIMIT:
            self._symbols.clear()

    def _resolve(self, conn: Connection, table: Table) -> None:
        wanted = sorted({i for _, i in self._unresolved})
        c = table.c
        for k in range(0, len(wanted), _CHUNK):
            q = select(c.intent_id, c.symbol).where(
                c.intent_id.in_(wanted[k : k + _CHUNK]), c.event_type == _INTENT
            )
            for intent, symbol in conn.execute(q):
                self._symbols[intent] = symbol
        for index, intent in self._unresolved:
            symbol = self._symbols.get(intent)
            row = self._rows[index]
            if symbol is None:
                raise EventRejected(
                    row[0], row[4], f"no order {intent} (its intent was never recorded)"
                )
            self._rows[index] = (*row[:6], symbol, *row[7:])
        self._unresolved.clear()

    def discard(self) -> None:
        self._rows.clear()
        self._unresolved.clear()
