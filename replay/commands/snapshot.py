"""`ledger snapshot`: write a ledger snapshot at the log's head now.

`ledger serve --snapshot-every N` writes snapshots as the log grows; a store fed only by
`ledger ingest` (batch loads, backfills, backtests) has none, and every `replay --as-of`
on it re-applies the whole log. This writes one, from the state rebuilt from the log,
bound to the log by the chain hash of its last event like serve's (docs/STORE.md).
"""

from __future__ import annotations

import click

from adapters.clock import SystemClock
from adapters.store import open_recorder
from adapters.store.snapshots import AS_OF_ROWS, SnapshotTable
from adapters.store.sqlite import LedgerSQLiteRecorder
from domain.codec import micros
from domain.snapshot import snapshot_ledger
from replay.errors import USAGE, CliError
from replay.render import emit_doc
from replay.runtime import common_options, runtime, translate_errors


@click.command()
@common_options
@click.pass_context
def snapshot(ctx: click.Context, fmt: str | None, store: str | None) -> None:
    """Write a snapshot of the ledger at the log's head into `ledger_snapshots`.

    The state is rebuilt from the log first (this takes as long as a full replay).
    Nothing is written when a snapshot at that position exists already. On PostgreSQL
    the table is created by `ledger db init`.
    """
    rt = runtime(ctx, fmt, store)
    with translate_errors():
        app = rt.open()
        with open_recorder(rt.store_url, create=False) as recorder:
            table = SnapshotTable(recorder)
            if isinstance(recorder, LedgerSQLiteRecorder):
                table.create()  # the embedded store needs no set-up step
            elif not table.exists():
                raise CliError("no ledger_snapshots table: run `ledger db init` first", USAGE)
            if not app.position:
                raise CliError("the log is empty: nothing to snapshot", USAGE)
            with app.lock:
                app.catch_up()
                position = app.position
                state = snapshot_ledger(app.ledger, AS_OF_ROWS)
            record = table.record_of(position, state, app.config, micros(SystemClock().now()))
            written = table.append(record)
    emit_doc(
        {
            "position": position,
            "written": written,
            "bytes": len(state),
            "event_hash": record.event_hash.hex(),
        },
        rt.format,
    )
