"""Shared fixtures: a ledger store on SQLite and on the real PostgreSQL (same tests on both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.store import open_ledger
from domain.application import LedgerApplication
from domain.clock import SteppingClock
from domain.ledger import LedgerConfig
from tests.support.services import postgres_schema, postgres_store_url

T0 = datetime(2025, 11, 17, 14, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store: an SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        with postgres_schema() as schema:
            yield postgres_store_url(schema)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def make_app(url: str, config: LedgerConfig | None = None) -> LedgerApplication:
    return open_ledger(url, clock=SteppingClock(T0), config=config or LedgerConfig())
