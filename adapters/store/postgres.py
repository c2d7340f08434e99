"""The ledger's PostgreSQL recorder: eventsourcing's, with the same extensions as SQLite.

Writers take eventsourcing's EXCLUSIVE table lock before anything else, which
serialises them (so the hash chain has one head) and makes commit order equal
notification-id order, so a reader tailing the log never passes over an event
that commits later with a lower id. Readers are not blocked (SELECT takes ACCESS
SHARE). `POSTGRES_ENABLE_DB_FUNCTIONS` is never used: the function path skips
the lock. Notification ids may have gaps from rolled-back writes; committed
events are never skipped.

The lock is taken through `<table>_lock()`, a SECURITY DEFINER function owned by
the table's owner: PostgreSQL lets only roles with UPDATE, DELETE or TRUNCATE on
a table lock it in EXCLUSIVE mode, and the writer role must have none of those.

A connection may run as another role (`LEDGER_DB_ROLE`, see roles.py): the role
is set at connection start (`options=-c role=...`, the same setting as `SET
ROLE`), so it holds for every pooled connection and `RESET ROLE` returns to it.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from typing import Any

import psycopg
from eventsourcing.persistence import PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore, PostgresFactory
from eventsourcing.utils import Environment
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier, Literal

from adapters.store.chain import GENESIS, ChainLinker, ChainRow, LinkRow
from adapters.store.errors import AppendOnlyViolation, StoreUnavailable
from adapters.store.roles import check_role_name, connect_options
from adapters.store.schema import SCHEMA_VERSION
from adapters.store.url import ROLE_KEY
from domain.ports import ConcurrentWriteError

_MAX = 2**63 - 1  # largest bigint: "no upper bound" for position filters


class LedgerPostgresFactory(PostgresFactory):
    """eventsourcing's factory; connections switch to `POSTGRES_ROLE` when it is set."""

    def __init__(self, env: Environment | dict[str, str] | None) -> None:
        super().__init__(env)
        role = self.env.get(ROLE_KEY) or ""
        self.role = check_role_name(role) if role else ""
        kwargs = self.datastore.pool.kwargs
        if not isinstance(kwargs, dict):
            return
        kwargs.update(connect_options(self.role))
        # One direct connection first: the pool would retry a refused login or an
        # unknown role until its timeout and then report only that it timed out.
        timeout = int(self.env.get(self.POSTGRES_CONNECT_TIMEOUT) or 5)
        psycopg.connect(**kwargs, connect_timeout=timeout).close()


def _statements(schema: str, table: str) -> list[Composed]:
    s, t = Identifier(schema), Identifier(table)
    fmt = {"s": s, "t": t, "lock": Identifier(f"{table}_lock")}
    statements = [
        SQL(
            "CREATE TABLE IF NOT EXISTS {s}.{t} ("
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text NOT NULL, state bytea NOT NULL, "
            "notification_id bigserial NOT NULL, recorded_at bigint NOT NULL, "
            "hash bytea NOT NULL, PRIMARY KEY (originator_id, originator_version))"
        ).format(**fmt),
        SQL("CREATE UNIQUE INDEX IF NOT EXISTS {i} ON {s}.{t} (notification_id)").format(
            i=Identifier(f"{table}_position"), **fmt
        ),
        SQL("CREATE INDEX IF NOT EXISTS {i} ON {s}.{t} (recorded_at)").format(
            i=Identifier(f"{table}_recorded_at"), **fmt
        ),
        SQL(
            "CREATE TABLE IF NOT EXISTS {s}.source_positions ("
            "source text PRIMARY KEY, position bigint NOT NULL)"
        ).format(**fmt),
        SQL(
            "CREATE TABLE IF NOT EXISTS {s}.ledger_meta (key text PRIMARY KEY, value text NOT NULL)"
        ).format(**fmt),
        SQL(
            "CREATE OR REPLACE FUNCTION {s}.ledger_refuse_change() RETURNS trigger "
            "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION "
            "'% is append-only: % refused', TG_TABLE_NAME, TG_OP "
            "USING ERRCODE = 'insufficient_privilege'; END $$"
        ).format(**fmt),
        SQL(
            "CREATE OR REPLACE FUNCTION {s}.{lock}() RETURNS void LANGUAGE plpgsql "
            "SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$ BEGIN "
            "LOCK TABLE {s}.{t} IN EXCLUSIVE MODE; END $$"
        ).format(**fmt),
        SQL("REVOKE ALL ON FUNCTION {s}.{lock}() FROM PUBLIC").format(**fmt),
    ]
    statements.extend(append_only_triggers(schema, table))
    # Last, so that a store whose version is current has every object above.
    statements.append(
        SQL(
            "INSERT INTO {s}.ledger_meta VALUES ('schema_version', {v}) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value "
            "WHERE ledger_meta.value::int < excluded.value::int"
        ).format(v=Literal(str(SCHEMA_VERSION)), **fmt)
    )
    return statements


def append_only_triggers(schema: str, table: str) -> list[Composed]:
    """Triggers that refuse UPDATE, DELETE and TRUNCATE on `schema.table` (through
    `ledger_refuse_change`, created with the event table), created once."""
    out: list[Composed] = []
    for op, level in (("UPDATE", "ROW"), ("DELETE", "ROW"), ("TRUNCATE", "STATEMENT")):
        name = f"{table}_no_{op.lower()}"
        out.append(
            SQL(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = {n} "
                "AND tgrelid = {rel}::regclass) THEN "
                "CREATE TRIGGER {name} BEFORE {op} ON {s}.{t} FOR EACH {level} "
                "EXECUTE FUNCTION {s}.ledger_refuse_change(); END IF; END $$"
            ).format(
                n=Literal(name),
                rel=Literal(f'"{schema}"."{table}"'),
                name=Identifier(name),
                op=SQL(op),
                level=SQL(level),
                s=Identifier(schema),
                t=Identifier(table),
            )
        )
    return out


class LedgerPostgresRecorder(ChainLinker, PostgresApplicationRecorder):
    commits_on_server = True  # the server commits in its own process (LedgerRecorder)

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "ledger_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        s, t = Identifier(datastore.schema), Identifier(self.events_table_name)
        self._s, self._t = s, t
        # Replace the library's table with ours and drop its insert function: the
        # function path does not take the table lock, and the ledger never uses it.
        self.sql_create_statements = _statements(datastore.schema, self.events_table_name)
        self.lock_table_statements = [
            SQL("SET LOCAL lock_timeout = '{0}s'").format(datastore.lock_timeout),
            SQL("SELECT {s}.{f}()").format(s=s, f=Identifier(f"{self.events_table_name}_lock")),
        ]
        # Rows go in through COPY (text format: the id is hex text for the uuid column):
        # half the client's CPU time of an `executemany` of INSERTs, and fewer messages to
        # the server. It needs only the INSERT privilege, and fires no trigger an INSERT
        # would not; a duplicate key fails it as it fails an INSERT.
        self._copy = SQL(
            "COPY {s}.{t} (originator_id, originator_version, topic, state, recorded_at, "
            "hash) FROM STDIN"
        ).format(s=s, t=t)
        self._head = SQL(
            "SELECT notification_id, hash, recorded_at FROM {s}.{t} "
            "WHERE notification_id < %s ORDER BY notification_id DESC LIMIT 1"
        ).format(s=s, t=t)
        self._upsert_source = SQL(
            "INSERT INTO {s}.source_positions VALUES (%s, %s) ON CONFLICT (source) DO UPDATE "
            "SET position = excluded.position "
            "WHERE excluded.position > source_positions.position"
        ).format(s=s)
        self._rows = SQL(
            "SELECT notification_id, replace(originator_id::text, '-', ''), "
            "originator_version, topic, state, recorded_at, hash FROM {s}.{t} "
            "WHERE notification_id >= %s AND notification_id <= %s "
            "ORDER BY notification_id LIMIT %s"
        ).format(s=s, t=t)

        # The verifier's fast path (chain.links_hold): the id and topic as the bytes hashed.
        self._links = SQL(
            "SELECT convert_to(replace(originator_id::text, '-', ''), 'UTF8'), "
            "originator_version, convert_to(topic, 'UTF8'), state, recorded_at, hash "
            "FROM {s}.{t} WHERE notification_id BETWEEN %s AND %s ORDER BY notification_id"
        ).format(s=s, t=t)

    # ------------------------------------------------------------------ schema

    def schema_version(self) -> int:
        """The recorded schema version; 0 when the ledger's tables do not exist yet."""
        with self.datastore.get_connection() as conn:
            rel = f'"{self.datastore.schema}".ledger_meta'
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (rel,)).fetchone()
            if not row or not row["ok"]:
                return 0
            found = conn.execute(
                SQL("SELECT value FROM {s}.ledger_meta WHERE key = 'schema_version'").format(
                    s=self._s
                )
            ).fetchone()
            return int(found["value"]) if found else 0

    def create_table(self) -> None:
        # Opening an initialised store runs no DDL: a writer or reader role may not, and
        # DDL takes locks a busy ledger does not need.
        if self.schema_version() >= SCHEMA_VERSION:
            return
        try:
            super().create_table()
        except PersistenceError as e:
            if isinstance(e.__cause__, psycopg.errors.InsufficientPrivilege):
                raise StoreUnavailable(
                    f"the store is not initialised and this role may not create it ({e}); "
                    "run `ledger db init`"
                ) from e
            raise

    # ------------------------------------------------------------------ writing

    def append(
        self,
        stored_events: Sequence[StoredEvent],
        *,
        sources: Mapping[str, int],
        expected_position: int,
    ) -> int:
        try:
            with self.datastore.transaction(commit=True) as curs:
                self._lock_table(curs)
                curs.execute(self._head, (_MAX,))
                row = curs.fetchone()
                last, prev = (row["notification_id"], bytes(row["hash"])) if row else (0, GENESIS)
                if last != expected_position:
                    raise ConcurrentWriteError(
                        f"log is at {last}, this writer decided at {expected_position}"
                    )
                params = self._link_rows(prev, stored_events)
                if params:
                    with curs.copy(self._copy) as copy:
                        for linked in params:
                            copy.write_row(linked)
                if sources:
                    curs.executemany(self._upsert_source, list(sources.items()))
                self._notify_channel(curs)
                if not params:
                    return int(last)
                curs.execute(
                    SQL("SELECT MAX(notification_id) AS m FROM {s}.{t}").format(
                        s=self._s, t=self._t
                    )
                )
                head = curs.fetchone()
                return int(head["m"]) if head else int(last)
        except PersistenceError as e:
            cause = e.__cause__
            if isinstance(cause, psycopg.errors.UniqueViolation):
                raise ConcurrentWriteError(str(cause)) from e
            if isinstance(cause, psycopg.errors.InsufficientPrivilege):
                raise AppendOnlyViolation(str(cause)) from e
            raise

    # ------------------------------------------------------------------ reading

    def source_positions(self) -> dict[str, int]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT source, position FROM {s}.source_positions").format(s=self._s))
            return {r["source"]: int(r["position"]) for r in curs.fetchall()}

    def chain_rows(self, start: int, limit: int, stop: int | None = None) -> list[ChainRow]:
        """Rows for verification from `start` (to `stop` inclusive): position, id (hex),
        version, topic, state, recorded_at, hash."""
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cur,
        ):
            cur.execute(self._rows, (start, _MAX if stop is None else stop, limit))
            return cur.fetchall()

    def chain_links(self, lo: int, hi: int) -> Generator[LinkRow, None, None]:
        """Rows at positions `lo`..`hi` for the verifier's fast path (`chain.links_hold`);
        each row is converted as it is consumed."""
        with (
            self.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cur,
        ):
            yield from cur.execute(self._links, (lo, hi))

    def chain_anchor(self, before: int) -> tuple[int, bytes, int] | None:
        """The last row before position `before`: (position, hash, recorded_at)."""
        with self.datastore.get_connection() as conn:
            row = conn.execute(self._head, (before,)).fetchone()
            if row is None:
                return None
            return int(row["notification_id"]), bytes(row["hash"]), int(row["recorded_at"])

    def chain_head(self) -> tuple[int, bytes, int] | None:
        return self.chain_anchor(_MAX)

    def position_at(self, recorded_at: int) -> int:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(
                SQL(
                    "SELECT notification_id FROM {s}.{t} WHERE recorded_at <= %s "
                    "ORDER BY recorded_at DESC, notification_id DESC LIMIT 1"
                ).format(s=self._s, t=self._t),
                (recorded_at,),
            )
            row = curs.fetchone()
            return int(row["notification_id"]) if row else 0

    def db_identity(self) -> str:
        """`login` or `login as role` (after a role switch): who the database sees."""
        with self.datastore.get_connection() as conn:
            row = conn.execute("SELECT session_user AS s, current_user AS c").fetchone()
        if row is None:
            return ""
        return row["s"] if row["s"] == row["c"] else f"{row['s']} as {row['c']}"

    def describe(self) -> dict[str, Any]:
        return {"backend": "postgresql", "schema": self.datastore.schema}
