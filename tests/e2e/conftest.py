"""Fixtures shared by the CLI tests: the demo session's store, on each backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import postgres_schema, postgres_store_url
from tests.unit.replay.replay_history import demo_store


# Replay and audit only read: one store per module (and backend) serves every test.
@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'ledger.db'}"
        demo_store(url)
        yield url
        return
    with postgres_schema() as schema:
        url = postgres_store_url(schema)
        demo_store(url)
        yield url
