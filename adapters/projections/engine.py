"""SQLAlchemy engines on the ledger's own database, per store URL.

The read models live next to the log (same SQLite file, same PostgreSQL schema), so:
- SQLite: one engine on the file. Writing transactions start with BEGIN IMMEDIATE
  (the write lock first, like the ledger's own appends), so reading the checkpoint
  and the log and writing rows happen under one lock; reading transactions use a
  plain BEGIN, a consistent WAL snapshot that never waits for writers.
- PostgreSQL (psycopg 3): `search_path` is the store's schema on every connection;
  readers use REPEATABLE READ so one scrape or listing sees one snapshot.
The event store itself is created on first use exactly as `open_ledger` would (the
ledger's recorder creates its tables), without replaying the log into memory.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Any

import psycopg
from eventsourcing.persistence import InfrastructureFactory, PersistenceError
from eventsourcing.utils import Environment
from psycopg import sql
from sqlalchemy import URL, Engine, create_engine, event, inspect
from sqlalchemy.exc import SQLAlchemyError

from adapters.projections.source import (
    EVENTS_TABLE,
    PostgresEventSource,
    SQLiteEventSource,
    _SqlEventSource,
)
from adapters.store import StoreLocation, StoreUnavailable, parse_store_url

_BEGIN_OPTION = "ledger_sqlite_begin"


@dataclass
class ProjectionStore:
    """The engines and the log reader for one store URL."""

    location: StoreLocation
    engine: Engine  # writing transactions
    read_engine: Engine  # reading transactions (snapshots)
    source: _SqlEventSource
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def backend(self) -> str:
        return self.location.backend

    def close(self) -> None:
        self.engine.dispose()


def open_projection_store(url: str) -> ProjectionStore:
    """Engines on the store at `url`; creates the event store on first use."""
    location = parse_store_url(url)
    try:
        if location.sqlite_path is not None:
            store = _sqlite(location)
        else:
            store = _postgres(location)
        with store.engine.connect() as conn:
            exists = inspect(conn).has_table(EVENTS_TABLE)
    except SQLAlchemyError as e:
        raise StoreUnavailable(f"cannot open store {location.masked}: {e}") from e
    if not exists:
        store.engine.dispose()  # no idle connection while the recorder switches SQLite to WAL
        _create_event_store(location)
    return store


def _create_event_store(location: StoreLocation) -> None:
    try:
        factory = InfrastructureFactory.construct(Environment("ledger", location.env))
        factory.application_recorder()
        factory.close()
    except (PersistenceError, psycopg.Error, sqlite3.Error, OSError) as e:
        raise StoreUnavailable(f"cannot create store {location.masked}: {e}") from e


def _sqlite(location: StoreLocation) -> ProjectionStore:
    path = location.sqlite_path
    if path is None:  # for mypy: only called for SQLite URLs
        raise StoreUnavailable(f"{location.masked} is not an SQLite URL")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreUnavailable(f"cannot create {path.parent}: {e}") from e
    timeout = float(location.env.get("SQLITE_LOCK_TIMEOUT", "30"))
    engine = create_engine(
        f"sqlite+pysqlite:///{path}", connect_args={"timeout": timeout, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from pysqlite, so BEGIN is ours (IMMEDIATE or not).
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql(conn.get_execution_options().get(_BEGIN_OPTION, "BEGIN IMMEDIATE"))

    return ProjectionStore(
        location, engine, engine.execution_options(**{_BEGIN_OPTION: "BEGIN"}), SQLiteEventSource()
    )


def _postgres(location: StoreLocation) -> ProjectionStore:
    env = location.env
    url = URL.create(
        "postgresql+psycopg",
        username=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        database=env["POSTGRES_DBNAME"],
    )
    schema = env["POSTGRES_SCHEMA"]
    engine = create_engine(
        url,
        pool_size=2,
        max_overflow=4,
        pool_pre_ping=True,
        connect_args={"connect_timeout": int(env["POSTGRES_CONNECT_TIMEOUT"])},
    )

    @event.listens_for(engine, "connect", insert=True)
    def _search_path(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        with dbapi_connection.cursor() as cur:
            cur.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        dbapi_connection.autocommit = autocommit

    store = ProjectionStore(
        location,
        engine,
        engine.execution_options(isolation_level="REPEATABLE READ"),
        PostgresEventSource(),
    )
    params = {
        "host": env["POSTGRES_HOST"],
        "port": env["POSTGRES_PORT"],
        "dbname": env["POSTGRES_DBNAME"],
        "user": env["POSTGRES_USER"],
        "connect_timeout": env["POSTGRES_CONNECT_TIMEOUT"],
    }
    if env["POSTGRES_PASSWORD"]:
        params["password"] = env["POSTGRES_PASSWORD"]
    store.extra["conninfo"] = psycopg.conninfo.make_conninfo(**params)
    return store
