"""Opening the ledger on a store URL: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from eventsourcing.persistence import InfrastructureFactory, PersistenceError
from eventsourcing.utils import Environment

from adapters.store.errors import StoreError, StoreUnavailable, StoreUrlError
from adapters.store.postgres import ROLE_KEY, LedgerPostgresRecorder
from adapters.store.roles import ROLE_ENV, RoleNames, resolve_role
from adapters.store.sqlite import LedgerSQLiteRecorder
from adapters.store.url import StoreLocation, mask_url, parse_store_url
from domain.application import LedgerApplication
from domain.clock import Clock
from domain.ledger import LedgerConfig

__all__ = [
    "ROLE_ENV",
    "LedgerRecorders",
    "RoleNames",
    "StoreError",
    "StoreLocation",
    "StoreUnavailable",
    "StoreUrlError",
    "mask_url",
    "open_ledger",
    "open_recorder",
    "parse_store_url",
    "store_env",
]

LedgerRecorders = LedgerSQLiteRecorder | LedgerPostgresRecorder

_DRIVER_ERRORS = (PersistenceError, psycopg.Error, sqlite3.Error, OSError)


def store_env(url: str, role: str | None = None) -> tuple[StoreLocation, dict[str, str]]:
    """The location and eventsourcing environment of `url`, running as `role` (a kind or a
    name; None: `LEDGER_DB_ROLE`; "": the login role). SQLite has no roles."""
    location = parse_store_url(url)
    env = dict(location.env)
    if location.backend == "postgresql":
        env[ROLE_KEY] = resolve_role(role)
    elif location.sqlite_path is not None:
        try:
            location.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreUnavailable(f"cannot create {location.sqlite_path.parent}: {e}") from e
    return location, env


def open_ledger(
    url: str, *, clock: Clock, config: LedgerConfig, role: str | None = None
) -> LedgerApplication:
    """Open (and create on first use) the ledger at `url`, caught up with its log."""
    location, env = store_env(url, role)
    try:
        return LedgerApplication(env, clock=clock, config=config)
    except _DRIVER_ERRORS as e:
        raise StoreUnavailable(f"cannot open store {location.masked}: {e}") from e


@contextmanager
def open_recorder(
    url: str, *, role: str | None = None, create: bool = True
) -> Iterator[LedgerRecorders]:
    """The store's recorder alone (no ledger state is built): for verification and
    administration. Creates the tables on first use unless `create` is False."""
    location, env = store_env(url, role)
    env["CREATE_TABLE"] = "yes" if create else "no"
    try:
        factory = InfrastructureFactory.construct(Environment(LedgerApplication.name, env))
        recorder = factory.application_recorder()
    except _DRIVER_ERRORS as e:
        raise StoreUnavailable(f"cannot open store {location.masked}: {e}") from e
    if not isinstance(recorder, LedgerSQLiteRecorder | LedgerPostgresRecorder):
        factory.close()
        raise StoreUrlError(f"{location.masked} is not a ledger store")
    try:
        yield recorder
    finally:
        factory.close()
