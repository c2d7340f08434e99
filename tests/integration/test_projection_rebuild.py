"""Blue/green rebuild on the real stores: a new version next to the live one, an atomic swap,
the old one dropped; the live runner follows the swap; a failed rebuild changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import inspect

from adapters.projections import ProjectionStore, open_projection_store
from domain.application import LedgerApplication
from projections.base import ProjectionFailed
from projections.readers import read
from projections.rebuild import rebuild
from projections.registry import ALL, tables_of
from projections.runner import ProjectionRunner, Step, set_up
from projections.schema import known_versions, live_versions
from projections.views import order_rows, position_rows
from tests.conftest import make_app
from tests.unit.projections.helpers import (
    append_unknown_order_event,
    catch_up,
    demo_lines,
    dump,
    ingest,
    more_messages,
)


@pytest.fixture
def app(store_url: str) -> LedgerApplication:
    return make_app(store_url)


@pytest.fixture
def store(store_url: str) -> Iterator[ProjectionStore]:
    s = open_projection_store(store_url)
    yield s
    s.close()


# How the new versions are built: batches under the write lock; read and applied outside
# it; and that, split in two processes (`projections.build`).
MODES = ["locked", "detached", "two processes"]


def _how(store: ProjectionStore, mode: str) -> dict[str, Any]:
    if mode == "locked":
        return {}
    return {"read_engine": store.read_engine, "jobs": 2 if mode == "two processes" else 1}


def _tables_exist(store: ProjectionStore, name: str, version: int) -> list[bool]:
    with store.engine.connect() as conn:
        insp = inspect(conn)
        return [insp.has_table(t) for t in tables_of(name, version)]


@pytest.mark.parametrize("mode", MODES)
def test_rebuild_swaps_to_a_new_version_and_drops_the_old(
    app: LedgerApplication, store: ProjectionStore, mode: str
) -> None:
    ingest(app, demo_lines())
    catch_up(store)
    before = dump(store)

    result = rebuild(
        store.engine,
        store.source,
        ["orders", "positions", "audit_index"],
        batch_size=5,
        **_how(store, mode),
    )

    assert result.versions == {"positions": (1, 2), "orders": (1, 2), "audit_index": (1, 2)}
    assert result.position == result.events == app.position
    with store.engine.connect() as conn:
        rebuilt = ("orders", "positions", "audit_index")
        assert live_versions(conn) == {n: 2 if n in rebuilt else 1 for n in ALL}
        assert known_versions(conn, "orders") == {2}
    assert _tables_exist(store, "orders", 1) == [False]
    assert _tables_exist(store, "orders", 2) == [True]
    assert dump(store) == before
    assert read(store.read_engine, lambda m: m.orders()) == order_rows(app.ledger)


def test_the_live_runner_follows_the_swap(app: LedgerApplication, store: ProjectionStore) -> None:
    ingest(app, demo_lines())
    set_up(store.engine)
    live = ProjectionRunner(store.engine, store.source)
    live.catch_up()

    rebuild(store.engine, store.source, ALL)
    ingest(app, more_messages(), source="file:/more.jsonl")
    live.catch_up()  # same runner object: now on version 2, state reloaded from its tables

    assert read(store.read_engine, lambda m: m.positions()) == position_rows(app.ledger)
    followed = dump(store)
    rebuild(store.engine, store.source, ALL)
    assert dump(store) == followed


@pytest.mark.parametrize("mode", MODES)
def test_events_appended_during_a_rebuild_are_in_before_the_swap(
    app: LedgerApplication, store: ProjectionStore, mode: str
) -> None:
    lines = demo_lines()
    ingest(app, lines[:12])
    catch_up(store)
    extra = iter(more_messages())

    def write_more(step: Step, head: int) -> None:  # another writer, between rebuild batches
        message = next(extra, None)
        if message is not None:
            ingest(
                app,
                [message],
                source="file:/more.jsonl",
                start=app.sources.get("file:/more.jsonl", 0) + 1,
            )

    result = rebuild(
        store.engine, store.source, ALL, batch_size=4, progress=write_more, **_how(store, mode)
    )

    assert result.position == app.position
    assert read(store.read_engine, lambda m: m.positions()) == position_rows(app.ledger)
    rebuilt = dump(store)
    rebuild(store.engine, store.source, ALL)
    assert dump(store) == rebuilt


@pytest.mark.parametrize(
    ("mode", "failing"),
    [("locked", "orders"), ("detached", "orders"), ("two processes", "audit_index")],
)
def test_a_failed_rebuild_keeps_the_live_version_and_leaves_nothing(
    app: LedgerApplication, store: ProjectionStore, mode: str, failing: str
) -> None:
    """In two processes, the audit index (in the worker) stops at the event: the error
    reaches this process, which stops the other half and removes what both built."""
    ingest(app, demo_lines())
    catch_up(store)
    names = [failing, "positions"]
    live = dump(store, names)
    bad = append_unknown_order_event(app)

    with pytest.raises(ProjectionFailed) as failed:
        rebuild(store.engine, store.source, names, batch_size=7, **_how(store, mode))

    assert (failed.value.projection, failed.value.position) == (failing, bad)
    with store.engine.connect() as conn:
        for name in names:
            assert live_versions(conn)[name] == 1
            assert known_versions(conn, name) == {1}
    for name in names:
        assert not any(_tables_exist(store, name, 2))
    assert dump(store, names) == live
