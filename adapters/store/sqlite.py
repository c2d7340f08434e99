"""The ledger's SQLite recorder: eventsourcing's, plus recorded time, hash chain,
source positions and append-only triggers, all in the one file of the embedded default.

Appends take the write lock first (`BEGIN IMMEDIATE`), so reading the chain
head, checking the expected position and inserting happen under one lock and
writers are serialised. Rows are inserted with one `executemany` per batch.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from adapters.store.chain import GENESIS, originator_text, row_hash
from adapters.store.errors import AppendOnlyViolation
from domain.ports import ConcurrentWriteError

TABLE = "ledger_events"

APPEND_ONLY_TABLES = (TABLE,)


def _append_only_triggers(table: str) -> list[str]:
    # SQLite has no TRUNCATE: a DELETE without WHERE fires the DELETE trigger
    # (the truncate optimisation is off when a table has triggers).
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
        for op in ("UPDATE", "DELETE")
    ]


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = TABLE) -> None:
        super().__init__(datastore, events_table_name)
        self.insert_events_statement = (
            f"INSERT INTO {self.events_table_name} "
            "(originator_id, originator_version, topic, state, recorded_at, hash) "
            "VALUES (?,?,?,?,?,?)"
        )

    def construct_create_table_statements(self) -> list[str]:
        t = self.events_table_name
        return [
            f"CREATE TABLE IF NOT EXISTS {t} ("
            "originator_id TEXT NOT NULL, originator_version INTEGER NOT NULL, "
            "topic TEXT NOT NULL, state BLOB NOT NULL, recorded_at INTEGER NOT NULL, "
            "hash BLOB NOT NULL, PRIMARY KEY (originator_id, originator_version))",
            f"CREATE INDEX IF NOT EXISTS {t}_recorded_at ON {t} (recorded_at)",
            "CREATE TABLE IF NOT EXISTS source_positions ("
            "source TEXT PRIMARY KEY, position INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "INSERT OR IGNORE INTO ledger_meta VALUES ('schema_version', '1')",
            *_append_only_triggers(t),
        ]

    def append(self, stored_events: Sequence[StoredEvent], *, sources: Mapping[str, int],
               expected_position: int) -> int:
        with self.datastore.get_connection(commit=True) as conn:
            raw: sqlite3.Connection = conn._sqlite_conn
            try:
                raw.execute("BEGIN IMMEDIATE")
                row = raw.execute(
                    f"SELECT rowid, hash FROM {self.events_table_name} "
                    "ORDER BY rowid DESC LIMIT 1").fetchone()
                last, prev = (row[0], row[1]) if row else (0, GENESIS)
                if last != expected_position:
                    raise ConcurrentWriteError(
                        f"log is at {last}, this writer decided at {expected_position}")
                params = []
                for s in stored_events:
                    oid = originator_text(s.originator_id)
                    rec: int = s.recorded_at  # type: ignore[attr-defined]
                    prev = row_hash(prev, oid, s.originator_version, s.topic, s.state, rec)
                    params.append((oid, s.originator_version, s.topic, s.state, rec, prev))
                raw.executemany(self.insert_events_statement, params)
                if sources:
                    raw.executemany(
                        "INSERT INTO source_positions VALUES (?, ?) ON CONFLICT (source) "
                        "DO UPDATE SET position = excluded.position "
                        "WHERE excluded.position > source_positions.position",
                        list(sources.items()))
                raw.commit()
            except sqlite3.IntegrityError as e:
                raw.rollback()
                raise ConcurrentWriteError(str(e)) from e
            except sqlite3.DatabaseError as e:
                raw.rollback()
                if "append-only" in str(e):
                    raise AppendOnlyViolation(str(e)) from e
                raise
            except BaseException:
                raw.rollback()
                raise
        return last + len(stored_events)

    def source_positions(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT source, position FROM source_positions")
            return {r[0]: r[1] for r in c.fetchall()}

    def chain_rows(self, start: int, limit: int) -> list[tuple[int, str, int, str, bytes, int,
                                                              bytes]]:
        """Raw rows for verification: position, id, version, topic, state, recorded_at, hash."""
        with self.datastore.get_connection(commit=False) as conn:
            raw: sqlite3.Connection = conn._sqlite_conn
            cur = raw.execute(
                "SELECT rowid, originator_id, originator_version, topic, state, recorded_at, "
                f"hash FROM {self.events_table_name} WHERE rowid >= ? ORDER BY rowid LIMIT ?",
                (start, limit))
            return [tuple(r) for r in cur.fetchall()]  # type: ignore[misc]

    def position_at(self, recorded_at: int) -> int:
        """The last position recorded at or before `recorded_at` (microseconds); 0 if none."""
        with self.datastore.transaction(commit=False) as c:
            # recorded_at never decreases along the log, so the index answers this directly.
            c.execute(f"SELECT rowid FROM {self.events_table_name} WHERE recorded_at <= ? "
                      "ORDER BY recorded_at DESC, rowid DESC LIMIT 1", (recorded_at,))
            row = c.fetchone()
            return int(row[0]) if row else 0

    def describe(self) -> dict[str, Any]:
        return {"backend": "sqlite", "path": self.datastore.pool.db_name}
