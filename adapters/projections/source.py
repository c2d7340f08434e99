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


# SQLite stores the originator as 32 hex digits; the read models use the UUID text. The
# database inserts the dashes (in C, ~0.5 µs per row less than doing it in Python).
_SQLITE_DASHED = (
    "CASE WHEN length(originator_id) = 32 THEN substr(originator_id, 1, 8) || '-' || "
    "substr(originator_id, 9, 4) || '-' || substr(originator_id, 13, 4) || '-' || "
    "substr(originator_id, 17, 4) || '-' || substr(originator_id, 21) "
    "ELSE originator_id END"
)


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
        rows = self._fetch(conn, sql + f" ORDER BY {pos}", params)
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
    originator_column = _SQLITE_DASHED
    chain_originator = "originator_id"
    marker = "?"


class PostgresEventSource(_SqlEventSource):
    position_column = "notification_id"
    originator_column = "originator_id::text"
    chain_originator = "replace(originator_id::text, '-', '')"
    marker = "%s"
