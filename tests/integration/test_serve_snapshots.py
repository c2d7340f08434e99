"""`ledger serve`'s snapshot writer, on both stores: every N events a snapshot of the
ledger it serves lands in `ledger_snapshots`, and replay starts from it to the same
state as a replay of the whole log."""

from __future__ import annotations

import threading

from adapters.projections import open_projection_store
from adapters.projections.service import ServeContext
from adapters.projections.snapshot_writer import SnapshotWriter
from adapters.store import open_recorder
from adapters.store.snapshots import SnapshotTable
from domain.clock import FixedClock
from domain.ledger import LedgerConfig
from projections.metrics import LedgerCollector, ServeMetrics
from replay.report.window import state_at
from replay.snapshots import StoreSnapshots
from replay.state import Rebuilder, open_event_log, state_document
from tests.conftest import T0, make_app
from tests.unit.projections.helpers import demo_lines, ingest, more_messages


def test_serve_writes_snapshots_replay_uses_them(store_url: str) -> None:
    app = make_app(store_url)
    ingest(app, demo_lines(), batch_size=7)
    if not store_url.startswith("sqlite"):
        with open_recorder(store_url, create=False) as rec:
            SnapshotTable(rec).create()  # `ledger db init` on PostgreSQL
    store = open_projection_store(store_url)
    logged: list[str] = []
    try:
        clock = FixedClock(T0)
        metrics = ServeMetrics("9.9.9", LedgerCollector(store.read_engine, store.source, clock))
        ctx = ServeContext(
            store, metrics, clock, threading.Event(), logged.append, open_ledger=lambda: app
        )
        writer = SnapshotWriter(store_url, every=10)
        writer.start(ctx)
        writer.tick(ctx)
        first = writer.last
        assert writer.written == 1 and first == app.position
        writer.tick(ctx)  # nothing new: nothing written
        assert writer.written == 1
        ingest(app, more_messages(), source="file:/more.jsonl")
        writer.tick(ctx)
        assert writer.written == (2 if app.position - first >= 10 else 1)
        writer.stop(ctx)
    finally:
        store.close()
    assert logged == []
    with open_event_log(store_url) as log:
        snapshots = StoreSnapshots(log, LedgerConfig())
        for position in (first, first + 1, log.last_position()):
            got = state_at(log, LedgerConfig(), position, snapshots=snapshots)
            assert snapshots.used == max(p for p in (first, writer.last) if p <= position)
            assert got == state_document(Rebuilder(log, LedgerConfig()).state_at(position))
    app.close()


def test_the_embedded_store_gets_the_table_postgresql_needs_db_init(store_url: str) -> None:
    app = make_app(store_url)
    ingest(app, demo_lines())
    store = open_projection_store(store_url)
    logged: list[str] = []
    try:
        clock = FixedClock(T0)
        metrics = ServeMetrics("9.9.9", LedgerCollector(store.read_engine, store.source, clock))
        ctx = ServeContext(
            store, metrics, clock, threading.Event(), logged.append, open_ledger=lambda: app
        )
        writer = SnapshotWriter(store_url, every=1)
        writer.start(ctx)
        writer.tick(ctx)
        writer.stop(ctx)
    finally:
        store.close()
        app.close()
    if store_url.startswith("sqlite"):  # the embedded store needs no set-up step
        assert writer.written == 1 and logged == []
    else:
        assert writer.written == 0 and "ledger db init" in logged[0]


def test_serve_writes_snapshots_unless_told_not_to() -> None:
    from replay.commands.serve import ServeOptions, components

    names = [c.name for c in components(ServeOptions(store_url="sqlite:///x.db"))]
    assert "snapshots" in names
    off = ServeOptions(store_url="sqlite:///x.db", snapshot_every=0)
    assert "snapshots" not in [c.name for c in components(off)]
