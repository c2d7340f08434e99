"""`ledger db init`: create the store's tables and, on PostgreSQL, the role model.

Idempotent: roles are created when absent, grants are revoked and granted again so a
re-run converges on the model in roles.py, the schema version is recorded by the
table set-up itself. It runs as the login role, which on PostgreSQL needs CREATEROLE
and the right to grant on the schema (a superuser, or the schema's owner); the tables
are created *as the owner role* so that the owner, not the login, owns them. That
includes `ledger_snapshots` (append-only; INSERT for the writer, which `serve` runs as).

Read-model tables: PostgreSQL's default privileges cannot select tables by name, so
- tables the projector creates are its own (it has CREATE on the schema), and the
  reader may SELECT them (default privileges for the projector);
- tables the owner creates later are readable by projector and reader, nothing more
  (an event table made later must not become writable by the projector);
- existing `proj_*` tables and their sequences get all rights for the projector and
  SELECT for the reader on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from eventsourcing.persistence import PersistenceError
from psycopg import Connection
from psycopg.rows import DictRow
from psycopg.sql import SQL, Composable, Composed, Identifier

from adapters.store import open_recorder, store_env
from adapters.store.errors import StoreUnavailable, StoreUrlError
from adapters.store.postgres import LedgerPostgresRecorder
from adapters.store.roles import KINDS, RoleNames
from adapters.store.snapshots import TABLE as SNAPSHOTS
from adapters.store.snapshots import SnapshotTable
from adapters.store.url import mask_url

EVENT_TABLE = "ledger_events"
READ_MODEL_PREFIX = "proj_"


@dataclass(frozen=True)
class InitReport:
    store: str  # masked
    backend: str
    schema_version: int
    tables: str  # "created" | "present" | "upgraded"
    roles: dict[str, str] = field(default_factory=dict)
    roles_created: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "backend": self.backend,
            "schema_version": self.schema_version,
            "tables": self.tables,
            "roles": self.roles,
            "roles_created": self.roles_created,
        }


def init_store(url: str, names: RoleNames | None = None) -> InitReport:
    location, _ = store_env(url, "")
    if location.backend != "postgresql":
        with open_recorder(url, role="", create=False) as rec:
            before = rec.schema_version()
            rec.create_table()
            SnapshotTable(rec).create()
            after = rec.schema_version()
        return InitReport(mask_url(url), location.backend, after, _tables(before, after))
    return _init_postgres(url, names or RoleNames.from_env())


def _tables(before: int, after: int) -> str:
    return "created" if before == 0 else "upgraded" if before < after else "present"


def _init_postgres(url: str, names: RoleNames) -> InitReport:
    try:
        with _as_login(url) as rec, rec.datastore.get_connection() as conn:
            schema = rec.datastore.schema
            before = rec.schema_version()
            with conn.transaction():
                created = _create_roles(conn, names)
                _prepare_schema(conn, schema, names)
        with open_recorder(url, role=names.owner, create=True) as owned:
            after = owned.schema_version()
            SnapshotTable(owned).create()
        with _as_login(url) as rec, rec.datastore.get_connection() as conn, conn.transaction():
            _grant(conn, schema, names)
            conn.execute(
                SQL(
                    "INSERT INTO {s}.ledger_meta VALUES ('roles', %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
                ).format(s=Identifier(schema)),
                (orjson.dumps(names.as_dict()).decode(),),
            )
    except (psycopg.Error, PersistenceError) as e:
        raise StoreUnavailable(f"db init on {mask_url(url)} failed: {e}") from e
    return InitReport(
        mask_url(url), "postgresql", after, _tables(before, after), names.as_dict(), created
    )


@contextmanager
def _as_login(url: str) -> Iterator[LedgerPostgresRecorder]:
    """The store's recorder as the login role (no role switch), without creating tables."""
    with open_recorder(url, role="", create=False) as rec:
        if not isinstance(rec, LedgerPostgresRecorder):
            raise StoreUrlError(f"{mask_url(url)} is not a PostgreSQL store")
        yield rec


def _create_roles(conn: Connection[DictRow], names: RoleNames) -> list[str]:
    created: list[str] = []
    for kind in KINDS:
        name = getattr(names, kind)
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
            continue
        conn.execute(SQL("CREATE ROLE {} NOLOGIN").format(Identifier(name)))
        created.append(name)
    row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = session_user").fetchone()
    if not (row and row["rolsuper"]):
        # A non-superuser login must be a member to switch to the roles (LEDGER_DB_ROLE)
        # and to set default privileges for them.
        conn.execute(SQL("GRANT {} TO session_user").format(_idents(names, *KINDS)))
    return created


def _prepare_schema(conn: Connection[DictRow], schema: str, names: RoleNames) -> None:
    s = Identifier(schema)
    owner = Identifier(names.owner)
    conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(s, owner))
    conn.execute(SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, _idents(names, *KINDS)))
    conn.execute(
        SQL("GRANT CREATE ON SCHEMA {} TO {}").format(s, _idents(names, "owner", "projector"))
    )
    # Tables created before `db init` (the first open of the store, as the login) move
    # to the owner, and so do the functions they use.
    for rel in ("ledger_events", "source_positions", "ledger_meta", SNAPSHOTS):
        if _exists(conn, f'"{schema}".{rel}'):
            conn.execute(SQL("ALTER TABLE {}.{} OWNER TO {}").format(s, Identifier(rel), owner))
    for fn in ("ledger_refuse_change", f"{EVENT_TABLE}_lock"):
        found = conn.execute(
            "SELECT to_regprocedure(%s) IS NOT NULL AS ok", (f'"{schema}".{fn}()',)
        ).fetchone()
        if found and found["ok"]:
            conn.execute(SQL("ALTER FUNCTION {}.{}() OWNER TO {}").format(s, Identifier(fn), owner))


def _grant(conn: Connection[DictRow], schema: str, names: RoleNames) -> None:
    s = Identifier(schema)
    events, sources, meta, snapshots = (
        SQL("{}.{}").format(s, Identifier(t))
        for t in (EVENT_TABLE, "source_positions", "ledger_meta", SNAPSHOTS)
    )
    others = _idents(names, "writer", "projector", "reader")
    statements: list[Composed] = [
        SQL("REVOKE ALL ON {}, {}, {}, {} FROM {}").format(
            events, sources, meta, snapshots, others
        ),
        # Snapshots are append-only like the events: `serve` (the writer) adds them.
        SQL("GRANT SELECT, INSERT ON {}, {} TO {}").format(
            events, snapshots, Identifier(names.writer)
        ),
        SQL("GRANT SELECT ON {} TO {}").format(snapshots, _idents(names, "projector", "reader")),
        SQL("GRANT SELECT, INSERT, UPDATE ON {} TO {}").format(sources, Identifier(names.writer)),
        SQL("GRANT SELECT ON {}, {}, {} TO {}").format(
            events, sources, meta, _idents(names, "projector", "reader")
        ),
        SQL("GRANT SELECT ON {} TO {}").format(meta, Identifier(names.writer)),
        SQL("GRANT USAGE ON SEQUENCE {}.{} TO {}").format(
            s, Identifier(f"{EVENT_TABLE}_notification_id_seq"), Identifier(names.writer)
        ),
        SQL("GRANT EXECUTE ON FUNCTION {}.{}() TO {}").format(
            s, Identifier(f"{EVENT_TABLE}_lock"), Identifier(names.writer)
        ),
        SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
        ).format(Identifier(names.owner), s, _idents(names, "projector", "reader")),
        SQL(
            "ALTER DEFAULT PRIVILEGES FOR ROLE {} IN SCHEMA {} GRANT SELECT ON TABLES TO {}"
        ).format(Identifier(names.projector), s, Identifier(names.reader)),
    ]
    for st in statements:
        conn.execute(st)
    found = conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'S') "
        "AND left(c.relname, %s) = %s ORDER BY c.relname",
        (schema, len(READ_MODEL_PREFIX), READ_MODEL_PREFIX),
    ).fetchall()
    for r in found:
        what = SQL("SEQUENCE") if r["relkind"] == "S" else SQL("TABLE")
        rel = SQL("{}.{}").format(s, Identifier(r["relname"]))
        conn.execute(SQL("GRANT ALL ON {} {} TO {}").format(what, rel, Identifier(names.projector)))
        conn.execute(SQL("GRANT SELECT ON {} {} TO {}").format(what, rel, Identifier(names.reader)))


def _exists(conn: Connection[DictRow], rel: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL AS ok", (rel,)).fetchone()
    return bool(row and row["ok"])


def _idents(names: RoleNames, *kinds: str) -> Composable:
    return SQL(", ").join(Identifier(getattr(names, k)) for k in kinds)
