"""The ledger's PostgreSQL recorder: eventsourcing's, with the same extensions as SQLite.

Writers take eventsourcing's EXCLUSIVE table lock before anything else, which
serialises them (so the hash chain has one head) and makes commit order equal
notification-id order, so a reader tailing the log never passes over an event
that commits later with a lower id. Readers are not blocked (SELECT takes ACCESS
SHARE). `POSTGRES_ENABLE_DB_FUNCTIONS` is never used: the function path skips
the lock. Notification ids may have gaps from rolled-back writes; committed
events are never skipped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg.sql import SQL, Composed, Identifier

from adapters.store.chain import GENESIS, originator_text, row_hash
from adapters.store.errors import AppendOnlyViolation
from domain.ports import ConcurrentWriteError


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    def __init__(self, datastore: PostgresDatastore, *,
                 events_table_name: str = "ledger_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema, table = Identifier(datastore.schema), Identifier(self.events_table_name)
        self._t = table
        self._s = schema
        # Replace the library's table with ours and drop its insert function: the
        # function path does not take the table lock, and the ledger never uses it.
        statements: list[Composed] = [
            SQL("CREATE TABLE IF NOT EXISTS {s}.{t} ("
                "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
                "topic text NOT NULL, state bytea NOT NULL, "
                "notification_id bigserial NOT NULL, recorded_at bigint NOT NULL, "
                "hash bytea NOT NULL, PRIMARY KEY (originator_id, originator_version))"
                ).format(s=schema, t=table),
            SQL("CREATE UNIQUE INDEX IF NOT EXISTS {i} ON {s}.{t} (notification_id)").format(
                i=Identifier(f"{self.events_table_name}_position"), s=schema, t=table),
            SQL("CREATE INDEX IF NOT EXISTS {i} ON {s}.{t} (recorded_at)").format(
                i=Identifier(f"{self.events_table_name}_recorded_at"), s=schema, t=table),
            SQL("CREATE TABLE IF NOT EXISTS {s}.source_positions ("
                "source text PRIMARY KEY, position bigint NOT NULL)").format(s=schema),
            SQL("CREATE TABLE IF NOT EXISTS {s}.ledger_meta ("
                "key text PRIMARY KEY, value text NOT NULL)").format(s=schema),
            SQL("INSERT INTO {s}.ledger_meta VALUES ('schema_version', '1') "
                "ON CONFLICT DO NOTHING").format(s=schema),
            SQL("CREATE OR REPLACE FUNCTION {s}.ledger_refuse_change() RETURNS trigger "
                "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
                "'% is append-only: % refused', TG_TABLE_NAME, TG_OP "
                "USING ERRCODE = 'insufficient_privilege'; END $$").format(s=schema),
        ]
        for op, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
            name = Identifier(f"{self.events_table_name}_no_{op.lower()}")
            statements.append(SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = {n} "
                "AND tgrelid = {rel}::regclass) THEN "
                "CREATE TRIGGER {name} BEFORE {op} ON {s}.{t} FOR EACH {level} "
                "EXECUTE FUNCTION {s}.ledger_refuse_change(); END IF; END $$"
            ).format(n=psycopg.sql.Literal(f"{self.events_table_name}_no_{op.lower()}"),
                     rel=psycopg.sql.Literal(f"{datastore.schema}.{self.events_table_name}"),
                     name=name, op=SQL(op), level=SQL(level), s=schema, t=table))
        self.sql_create_statements = statements  # type: ignore[assignment]
        self._insert = SQL(
            "INSERT INTO {s}.{t} (originator_id, originator_version, topic, state, "
            "recorded_at, hash) VALUES (%s, %s, %s, %s, %s, %s)").format(s=schema, t=table)
        self._head = SQL("SELECT notification_id, hash FROM {s}.{t} "
                         "ORDER BY notification_id DESC LIMIT 1").format(s=schema, t=table)
        self._upsert_source = SQL(
            "INSERT INTO {s}.source_positions VALUES (%s, %s) ON CONFLICT (source) DO UPDATE "
            "SET position = excluded.position "
            "WHERE excluded.position > source_positions.position").format(s=schema)

    def append(self, stored_events: Sequence[StoredEvent], *, sources: Mapping[str, int],
               expected_position: int) -> int:
        try:
            with self.datastore.transaction(commit=True) as curs:
                self._lock_table(curs)
                curs.execute(self._head)
                row = curs.fetchone()
                last, prev = (row["notification_id"], bytes(row["hash"])) if row else (0, GENESIS)
                if last != expected_position:
                    raise ConcurrentWriteError(
                        f"log is at {last}, this writer decided at {expected_position}")
                params = []
                for s in stored_events:
                    oid = originator_text(s.originator_id)
                    rec: int = s.recorded_at  # type: ignore[attr-defined]
                    prev = row_hash(prev, oid, s.originator_version, s.topic, s.state, rec)
                    params.append((s.originator_id, s.originator_version, s.topic, s.state,
                                   rec, prev))
                if params:
                    curs.executemany(self._insert, params)
                if sources:
                    curs.executemany(self._upsert_source, list(sources.items()))
                self._notify_channel(curs)
                if not params:
                    return int(last)
                curs.execute(SQL("SELECT MAX(notification_id) AS m FROM {s}.{t}").format(
                    s=self._s, t=self._t))
                head = curs.fetchone()
                return int(head["m"]) if head else int(last)
        except psycopg.errors.UniqueViolation as e:
            raise ConcurrentWriteError(str(e)) from e
        except psycopg.errors.InsufficientPrivilege as e:
            raise AppendOnlyViolation(str(e)) from e

    def source_positions(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT source, position FROM {s}.source_positions").format(
                s=self._s))
            return {r["source"]: int(r["position"]) for r in curs.fetchall()}

    def chain_rows(self, start: int, limit: int) -> list[tuple[int, str, int, str, bytes, int,
                                                              bytes]]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state, "
                "recorded_at, hash FROM {s}.{t} WHERE notification_id >= %s "
                "ORDER BY notification_id LIMIT %s").format(s=self._s, t=self._t),
                (start, limit))
            return [(r["notification_id"], originator_text(r["originator_id"]),
                     r["originator_version"], r["topic"], bytes(r["state"]),
                     r["recorded_at"], bytes(r["hash"])) for r in curs.fetchall()]

    def position_at(self, recorded_at: int) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL(
                "SELECT notification_id FROM {s}.{t} WHERE recorded_at <= %s "
                "ORDER BY recorded_at DESC, notification_id DESC LIMIT 1").format(
                    s=self._s, t=self._t), (recorded_at,))
            row = curs.fetchone()
            return int(row["notification_id"]) if row else 0

    def describe(self) -> dict[str, Any]:
        return {"backend": "postgresql", "schema": self.datastore.schema}
