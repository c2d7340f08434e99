"""The event log read by SQL, inside the projection's transaction, per store.

Why not eventsourcing's `select_notifications`: it reads on the recorder's own
connection (another transaction than the projection's) and builds a Notification
with a UUID per row, which costs more than the projection work itself on a
rebuild. These read the same table with one query per batch and leave decoding
to `LogEvent`, on the projection's connection, so the events and the checkpoint
belong to one transaction.

Consistency: SQLite writers are serialised and a projection transaction holds the
write lock; on PostgreSQL the ledger's writers take an exclusive table lock, so
commit order is position order and every position up to the visible maximum is
either committed or will never be (a gap from a rolled-back write).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from projections.log import LogEvent

EVENTS_TABLE = "ledger_events"


# SQLite stores the originator as 32 hex digits; the read models use the UUID text.
_HEX_LENGTH = 32
# Originators dashed and remembered (`SQLiteEventSource._events`); forgotten past this many.
_DASHED_LIMIT = 100_000


def _dashed(hex_id: str) -> str:
    if len(hex_id) != _HEX_LENGTH:  # not 32 hex digits: as stored
        return hex_id
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


class _SqlEventSource:
    position_column = ""
    originator_column = ""
    chain_originator = ""
    marker = ""

    def _fetch(self, conn: Connection, sql: str, params: Sequence[Any]) -> list[Any]:
        # The DB-API cursor of the projection's own connection (same transaction): SQLAlchemy
        # Row objects would add a third to the cost of reading a batch.
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, tuple(params))
            rows = list(cursor.fetchall())
        finally:
            cursor.close()
        return rows

    def head(self, conn: Connection) -> int:
        rows = self._fetch(conn, f"SELECT max({self.position_column}) FROM {EVENTS_TABLE}", ())
        return int(rows[0][0] or 0)

    def read(
        self, conn: Connection, after: int, upto: int, topics: frozenset[str] | None
    ) -> Sequence[LogEvent]:
        if topics is not None and not topics:
            return []
        pos, m = self.position_column, self.marker
        sql = (
            f"SELECT {pos}, {self.originator_column}, originator_version, topic, state, "
            f"recorded_at FROM {EVENTS_TABLE} WHERE {pos} > {m} AND {pos} <= {m}"
        )
        params: list[Any] = [after, upto]
        if topics is not None:
            sql += f" AND topic IN ({', '.join(m for _ in topics)})"
            params.extend(sorted(topics))
        return self._events(self._fetch(conn, sql + f" ORDER BY {pos}", params))

    def _events(self, rows: list[Any]) -> list[LogEvent]:
        return [LogEvent(r[0], r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def first_recorded_after(self, conn: Connection, after: int) -> int | None:
        pos, m = self.position_column, self.marker
        rows = self._fetch(
            conn,
            f"SELECT recorded_at FROM {EVENTS_TABLE} WHERE {pos} > {m} ORDER BY {pos} LIMIT 1",
            (after,),
        )
        return int(rows[0][0]) if rows else None

    def chain_rows(
        self, conn: Connection, after: int, limit: int
    ) -> list[tuple[int, str, int, str, bytes, int, bytes]]:
        """Rows as the hash chain covers them: position, originator (32 hex digits),
        version, topic, state, recorded_at, stored hash."""
        pos, m = self.position_column, self.marker
        rows = self._fetch(
            conn,
            f"SELECT {pos}, {self.chain_originator}, originator_version, "
            f"topic, state, recorded_at, hash FROM {EVENTS_TABLE} "
            f"WHERE {pos} > {m} ORDER BY {pos} LIMIT {m}",
            (after, limit),
        )
        return [(r[0], r[1], r[2], r[3], bytes(r[4]), r[5], bytes(r[6])) for r in rows]


class SQLiteEventSource(_SqlEventSource):
    position_column = "rowid"
    originator_column = "originator_id"
    chain_originator = "originator_id"
    marker = "?"

    def __init__(self) -> None:
        # hex -> UUID text. An aggregate's events come close together (an order's four or
        # five, a position's fills), so most rows find their originator here: a dict look-up
        # instead of building the text again, in SQL (substr and || cost ~1 µs a row, half
        # the cost of reading it) or in Python.
        self._ids: dict[str, str] = {}

    def _events(self, rows: list[Any]) -> list[LogEvent]:
        ids = self._ids
        if len(ids) > _DASHED_LIMIT:
            ids.clear()
        known = ids.get
        # state is bytes already (a BLOB); a dashed id is never empty, so `or` means unknown
        return [
            LogEvent(position, known(hex_id) or self._remember(hex_id), version, topic, state, at)
            for position, hex_id, version, topic, state, at in rows
        ]

    def _remember(self, hex_id: str) -> str:
        uuid = self._ids[hex_id] = _dashed(hex_id)
        return uuid


class PostgresEventSource(_SqlEventSource):
    position_column = "notification_id"
    originator_column = "originator_id::text"
    chain_originator = "replace(originator_id::text, '-', '')"
    marker = "%s"
