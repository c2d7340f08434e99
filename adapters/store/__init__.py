"""Opening the ledger on a store URL: SQLite (embedded default) or PostgreSQL.

The PostgreSQL recorder (and psycopg, a tenth of a second to import) is loaded only for a
PostgreSQL URL: short commands on the embedded store, `ledger verify` above all, do not
pay for a driver they do not use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from eventsourcing.persistence import InfrastructureFactory, PersistenceError
from eventsourcing.utils import Environment

from adapters.store.errors import StoreError, StoreUnavailable, StoreUrlError
from adapters.store.roles import ROLE_ENV, RoleNames, resolve_role
from adapters.store.sqlite import LedgerSQLiteRecorder
from adapters.store.url import ROLE_KEY, StoreLocation, mask_url, parse_store_url
from domain.application import LedgerApplication
from domain.clock import Clock
from domain.ledger import LedgerConfig

if TYPE_CHECKING:
    from adapters.store.postgres import LedgerPostgresRecorder

__all__ = [
    "ROLE_ENV",
    "RoleNames",
    "StoreError",
    "StoreLocation",
    "StoreUnavailable",
    "StoreUrlError",
    "driver_errors",
    "mask_url",
    "open_ledger",
    "open_recorder",
    "parse_store_url",
    "store_env",
]

_SQLITE_ERRORS: tuple[type[Exception], ...] = (PersistenceError, sqlite3.Error, OSError)


def driver_errors(location: StoreLocation) -> tuple[type[Exception], ...]:
    """The errors a store at `location` may raise when it cannot be reached or read."""
    if location.backend != "postgresql":
        return _SQLITE_ERRORS
    import psycopg  # loaded by then: the recorder is psycopg's

    return (*_SQLITE_ERRORS, psycopg.Error)


def _recorder_type(location: StoreLocation) -> type[LedgerSQLiteRecorder | LedgerPostgresRecorder]:
    if location.backend != "postgresql":
        return LedgerSQLiteRecorder
    from adapters.store.postgres import LedgerPostgresRecorder

    return LedgerPostgresRecorder


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
    except driver_errors(location) as e:
        raise StoreUnavailable(f"cannot open store {location.masked}: {e}") from e


@contextmanager
def open_recorder(
    url: str, *, role: str | None = None, create: bool = True
) -> Iterator[LedgerSQLiteRecorder | LedgerPostgresRecorder]:
    """The store's recorder alone (no ledger state is built): for verification and
    administration. Creates the tables on first use unless `create` is False."""
    location, env = store_env(url, role)
    env["CREATE_TABLE"] = "yes" if create else "no"
    try:
        factory = InfrastructureFactory.construct(Environment(LedgerApplication.name, env))
        recorder = factory.application_recorder()
    except driver_errors(location) as e:
        raise StoreUnavailable(f"cannot open store {location.masked}: {e}") from e
    if not isinstance(recorder, _recorder_type(location)):
        factory.close()
        raise StoreUrlError(f"{location.masked} is not a ledger store")
    try:
        yield recorder
    finally:
        factory.close()
