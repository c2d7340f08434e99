"""Opening the ledger on a store URL: SQLite (embedded default) or PostgreSQL."""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing.persistence import PersistenceError

from adapters.store.errors import StoreError, StoreUnavailable, StoreUrlError
from adapters.store.url import StoreLocation, mask_url, parse_store_url
from domain.application import LedgerApplication
from domain.clock import Clock
from domain.ledger import LedgerConfig

__all__ = [
    "StoreError",
    "StoreLocation",
    "StoreUnavailable",
    "StoreUrlError",
    "mask_url",
    "open_ledger",
    "parse_store_url",
]


def open_ledger(url: str, *, clock: Clock, config: LedgerConfig) -> LedgerApplication:
    """Open (and create on first use) the ledger at `url`, caught up with its log."""
    location = parse_store_url(url)
    if location.sqlite_path is not None:
        try:
            location.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreUnavailable(f"cannot create {location.sqlite_path.parent}: {e}") from e
    try:
        return LedgerApplication(location.env, clock=clock, config=config)
    except (PersistenceError, psycopg.Error, sqlite3.Error, OSError) as e:
        raise StoreUnavailable(f"cannot open store {location.masked}: {e}") from e
