"""The ledger's SQLite recorder: eventsourcing's, plus recorded time, hash chain,
source positions and append-only triggers, all in the one file of the embedded default.

Appends take the write lock first (`BEGIN IMMEDIATE`), so reading the chain
head, checking the expected position and inserting happen under one lock and
writers are serialised. Rows are inserted with one `executemany` per batch.
Positions are rowids: contiguous, since rows are never deleted.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from adapters.store.chain import GENESIS, ChainLinker, ChainRow, LinkRow
from adapters.store.errors import AppendOnlyViolation
from adapters.store.schema import SCHEMA_VERSION
from domain.ports import ConcurrentWriteError

TABLE = "ledger_events"

APPEND_ONLY_TABLES = (TABLE,)


def append_only_triggers(table: str) -> list[str]:
    # SQLite has no TRUNCATE: a DELETE without WHERE fires the DELETE trigger
    # (the truncate optimisation is off when a table has triggers).
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
        for op in ("UPDATE", "DELETE")
    ]


class LedgerSQLiteRecorder(ChainLinker, SQLiteApplicationRecorder):
    commits_on_server = False  # SQLite works on the caller's thread (LedgerRecorder)

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = TABLE) -> None:
        super().__init__(datastore, events_table_name)
        t = self.events_table_name
        self.insert_events_statement = (
            f"INSERT INTO {t} "
            "(originator_id, originator_version, topic, state, recorded_at, hash) "
            "VALUES (?,?,?,?,?,?)"
        )
        # The casts pin each column's type: SQLite keeps whatever type a value was written
        # with, and the verifier must compare a tampered value, not trip over it.
        self._rows = (
            "SELECT rowid, CAST(originator_id AS TEXT), CAST(originator_version AS INTEGER), "
            "CAST(topic AS TEXT), CAST(state AS BLOB), CAST(recorded_at AS INTEGER), "
            f"CAST(hash AS BLOB) FROM {t} WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?"
        )
        # The verifier's fast path (chain.links_hold): ids and topics as the bytes that are
        # hashed, other columns as stored. A value of an unexpected type fails that path
        # and the rows are then read again through `_rows`, casts and all.
        self._links = (
            "SELECT CAST(originator_id AS BLOB), originator_version, CAST(topic AS BLOB), "
            f"state, recorded_at, hash FROM {t} WHERE rowid BETWEEN ? AND ? ORDER BY rowid"
        )
        self._head = f"SELECT rowid, CAST(hash AS BLOB) FROM {t} ORDER BY rowid DESC LIMIT 1"
        self._before = (
            f"SELECT rowid, CAST(hash AS BLOB), CAST(recorded_at AS INTEGER) FROM {t} "
            "WHERE rowid < ? ORDER BY rowid DESC LIMIT 1"
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
            *append_only_triggers(t),
            "INSERT INTO ledger_meta VALUES ('schema_version', "
            f"'{SCHEMA_VERSION}') ON CONFLICT (key) DO UPDATE SET value = excluded.value "
            "WHERE CAST(ledger_meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)",
        ]

    @contextmanager
    def _raw(self, *, commit: bool) -> Iterator[sqlite3.Connection]:
        with self.datastore.get_connection(commit=commit) as conn:
            yield conn._sqlite_conn

    def schema_version(self) -> int:
        """The recorded schema version; 0 when the ledger's tables do not exist yet."""
        with self._raw(commit=False) as raw:
            try:
                row = raw.execute(
                    "SELECT value FROM ledger_meta WHERE key = 'schema_version'"
                ).fetchone()
            except sqlite3.OperationalError:  # no such table: a new store
                return 0
        return int(row[0]) if row else 0

    def create_table(self) -> None:
        # Opening an initialised store runs no statement that needs the write lock.
        if self.schema_version() < SCHEMA_VERSION:
            super().create_table()

    # ------------------------------------------------------------------ writing

    def append(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        sources: Mapping[str, int],
        expected_position: int,
    ) -> int:
        with self._raw(commit=True) as raw:
            try:
                raw.execute("BEGIN IMMEDIATE")
                row = raw.execute(self._head).fetchone()
                last, prev = (row[0], row[1]) if row else (0, GENESIS)
                if last != expected_position:
                    raise ConcurrentWriteError(
                        f"log is at {last}, this writer decided at {expected_position}"
                    )
                raw.executemany(self.insert_events_statement, self._link_rows(prev, stored_events))
                if sources:
                    raw.executemany(
                        "INSERT INTO source_positions VALUES (?, ?) ON CONFLICT (source) "
                        "DO UPDATE SET position = excluded.position "
                        "WHERE excluded.position > source_positions.position",
                        list(sources.items()),
                    )
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
        return int(last) + len(stored_events)

    # ------------------------------------------------------------------ reading

    def source_positions(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as c:
            c.execute("SELECT source, position FROM source_positions")
            return {r[0]: r[1] for r in c.fetchall()}

    def chain_rows(self, start: int, limit: int, stop: int | None = None) -> list[ChainRow]:
        """Rows for verification from `start` (to `stop` inclusive): position, id (hex),
        version, topic, state, recorded_at, hash."""
        with self._raw(commit=False) as raw:
            cur = raw.cursor()
            cur.row_factory = None  # plain tuples: the verifier reads millions of rows
            try:
                cur.execute(self._rows, (start, _MAX if stop is None else stop, limit))
                return cur.fetchall()
            finally:
                cur.close()

    def chain_links(self, lo: int, hi: int) -> Generator[LinkRow, None, None]:
        """Rows at positions `lo`..`hi` for the verifier's fast path (`chain.links_hold`),
        streamed from the cursor: no list of a page's rows is built, so a long log does
        not wake the garbage collector for tuples that are dropped at once."""
        with self._raw(commit=False) as raw:
            cur = raw.cursor()
            cur.row_factory = None
            try:
                yield from cur.execute(self._links, (lo, hi))
            finally:
                cur.close()

    def chain_anchor(self, before: int) -> tuple[int, bytes, int] | None:
        """The last row before position `before`: (position, hash, recorded_at)."""
        with self._raw(commit=False) as raw:
            row = raw.execute(self._before, (before,)).fetchone()
        return (int(row[0]), bytes(row[1]), int(row[2])) if row else None

    def chain_head(self) -> tuple[int, bytes, int] | None:
        return self.chain_anchor(_MAX)

    def position_at(self, recorded_at: int) -> int:
        """The last position recorded at or before `recorded_at` (microseconds); 0 if none."""
        with self.datastore.transaction(commit=False) as c:
            # recorded_at never decreases along the log, so the index answers this directly.
            c.execute(
                f"SELECT rowid FROM {self.events_table_name} WHERE recorded_at <= ? "
                "ORDER BY recorded_at DESC, rowid DESC LIMIT 1",
                (recorded_at,),
            )
            row = c.fetchone()
            return int(row[0]) if row else 0

    def db_identity(self) -> str:
        return "sqlite"

    def describe(self) -> dict[str, Any]:
        return {"backend": "sqlite", "path": self.datastore.pool.db_name}


_MAX = 2**63 - 1  # largest rowid: "no upper bound" for position filters
