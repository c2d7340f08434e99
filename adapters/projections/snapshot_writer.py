"""`ledger serve`'s snapshot writer: every N events, the ledger's state into
`ledger_snapshots`, so that a replay (`--as-of`, windows, checks) starts near where it
is asked instead of at the beginning of the log.

It snapshots the ledger serve already holds in memory (`ServeContext.ledger_app()`),
caught up with the log under the application's lock, so the snapshot is exactly the
state after the event at its position. Serialising holds that lock (ingest waits);
writing the row does not. A failure to write is logged and retried at the next
interval: snapshots are an optimisation, never a reason to stop serving.
"""

from __future__ import annotations

import sqlite3
from contextlib import ExitStack

import psycopg
from eventsourcing.persistence import PersistenceError

from adapters.projections.service import ServeContext
from adapters.store import open_recorder
from adapters.store.snapshots import (
    AS_OF_ROWS,
    SnapshotTable,
)
from adapters.store.sqlite import LedgerSQLiteRecorder
from domain.codec import micros
from domain.snapshot import snapshot_ledger

DEFAULT_EVERY = 100_000
STORE_ERRORS = (PersistenceError, psycopg.Error, sqlite3.Error, OSError)


class SnapshotWriter:
    name = "snapshots"

    def __init__(self, url: str, every: int = DEFAULT_EVERY) -> None:
        self.url, self.every = url, every
        self.table: SnapshotTable | None = None
        self.last = 0  # position of the latest snapshot in the table
        self.written = 0
        self._stack = ExitStack()

    def start(self, ctx: ServeContext) -> None:
        recorder = self._stack.enter_context(open_recorder(self.url, create=False))
        table = SnapshotTable(recorder)
        if isinstance(recorder, LedgerSQLiteRecorder):
            table.create()  # the embedded store needs no set-up step
        elif not table.exists():
            ctx.log(
                "ledger serve: no ledger_snapshots table (run `ledger db init`): "
                "snapshots are not written"
            )
            return
        self.table, self.last = table, table.latest_position()

    def tick(self, ctx: ServeContext) -> bool:
        if self.table is None:
            return False
        # Cheap first: the ledger is opened (a replay into memory) only once the log has
        # grown by a whole interval since the last snapshot.
        if (self.table.recorder.max_notification_id() or 0) - self.last < self.every:
            return False
        app = ctx.ledger_app()
        with app.lock:
            app.catch_up()
            position = app.position
            if position - self.last < self.every:
                return False
            state = snapshot_ledger(app.ledger, AS_OF_ROWS)
        try:
            self.table.append(
                self.table.record_of(position, state, app.config, micros(ctx.clock.now()))
            )
        except STORE_ERRORS as e:
            ctx.log(
                f"ledger serve: writing a snapshot at {position} failed (next try in "
                f"{self.every} events): {e}"
            )
            self.last = position
            return False
        self.last = position
        self.written += 1
        return False

    def stop(self, ctx: ServeContext) -> None:
        self._stack.close()

    def problem(self) -> str | None:
        # Not a health problem: serving is unaffected; the log says what failed.
        return None

    def is_ready(self) -> bool:
        return True
