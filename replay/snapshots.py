"""Replay from the store's persisted snapshots (`ledger_snapshots`), and the state
document straight from a snapshot.

A snapshot is used only when it is bound to this log: same format, same domain code,
same configuration, and the chain hash of the event at its position equal to the one
it was taken at (the chain covers the whole prefix). Anything else, or no snapshot
table at all, means the log is read from the start: a snapshot saves time, it never
decides what the answer is.

The state document at the end of a long log is mostly orders that are long finished.
`snapshot_document` does not rebuild them: it restores only what the tail of events
after the snapshot touches, applies the tail, and takes every other order's row as the
snapshot pre-rendered it (`PrerenderedRows`, written out verbatim by `replay.render`, read
and decompressed a block at a time as it is written).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from adapters.store.postgres import LedgerPostgresRecorder
from adapters.store.snapshots import SnapshotTable, iter_records
from adapters.store.sqlite import LedgerSQLiteRecorder
from domain import events as ev
from domain.ledger import Ledger, LedgerConfig
from domain.snapshot import RowRun, Snapshot, SnapshotFormatError
from projections.views import killswitch_row, position_rows
from replay.state import (
    EVERYTHING,
    STORE_ERRORS,
    EventLog,
    Filter,
    account_row,
    order_row,
    state_document,
)


class PrerenderedRows:
    """Consecutive order rows, already rendered as `replay --as-of --format json` prints
    them (`adapters.store.snapshots.AS_OF_ROWS`). Not a dataclass: orjson would write
    a dataclass as an object instead of asking `replay.render` how to write it."""

    __slots__ = ("run",)

    def __init__(self, run: RowRun) -> None:
        self.run = run

    def prerendered_pieces(self) -> Iterator[memoryview]:
        """The rows' bytes in order (the name `replay.render` writes out verbatim)."""
        return self.run.pieces()

    def rows(self) -> list[dict[str, Any]]:
        parsed: list[dict[str, Any]] = orjson.loads(b"[" + self.run.join() + b"]")
        return parsed


class StoreSnapshots:
    """The `SnapshotSource` of a store: its `ledger_snapshots` rows that fit this log,
    code and configuration. Read-only: replay never writes snapshots."""

    def __init__(self, log: EventLog, config: LedgerConfig) -> None:
        self.log, self.config = log, config
        rec = log.recorder
        self.table = (
            SnapshotTable(rec)
            if isinstance(rec, LedgerSQLiteRecorder | LedgerPostgresRecorder)
            else None
        )
        self._present: bool | None = None
        self.used: int | None = None  # the position of the snapshot last handed out

    def nearest(self, position: int) -> tuple[int, Snapshot] | None:
        table = self.table
        if table is None or position <= 0 or not self._has_table(table):
            return None
        for record in iter_records(table, position, self.config):
            row = self.log.recorder.chain_rows(record.position, 1, record.position)
            if row and bytes(row[0][6]) == record.event_hash:
                try:  # read as far as it is used (the row never changes: append-only)
                    snap = Snapshot(table.reader(record.position))
                except SnapshotFormatError:
                    continue
                self.used = record.position
                return record.position, snap
        return None

    def offer(self, position: int, ledger: Ledger) -> None:
        return None

    def _has_table(self, table: SnapshotTable) -> bool:
        if self._present is None:
            try:
                self._present = table.exists()
            except STORE_ERRORS:
                self._present = False
        return self._present


def snapshot_document(
    log: EventLog,
    config: LedgerConfig,
    snapshot: tuple[int, bytes | Snapshot],
    position: int,
    flt: Filter = EVERYTHING,
) -> dict[str, Any] | None:
    """The state document after event `position` from a snapshot at or before it,
    restoring only what the tail touches; None when the snapshot cannot serve it (no
    pre-rendered rows, or a filter that needs every order), and the caller rebuilds."""
    at, data = snapshot
    try:
        snap = data if isinstance(data, Snapshot) else Snapshot(data)
    except SnapshotFormatError:
        return None
    # Event types filter the timeline, not a state document.
    whole = flt.order is None and flt.symbol is None and flt.account is None
    if at > position or (whole and not snap.has_rows) or (not whole and flt.order is None):
        return None
    tail = [e for _, e in log.events(at + 1, position)]
    created = {e.originator_id for e in tail if isinstance(e, ev.OrderIntentRecorded)}
    touched = {e.originator_id for e in tail if isinstance(e, ev.OrderEvent)} - created
    if flt.order is not None and flt.order not in created:
        touched.add(flt.order)
    corrected = {(e.account, e.symbol) for e in tail if isinstance(e, ev.PositionFillCorrected)}
    ledger = snap.restore_partial(config, touched, corrected)
    for event in tail:
        ledger.apply(event)
    if not whole:  # one order: its row and its position's are all in `ledger`
        return state_document(ledger, flt)
    by_index = {i: o for o in touched if (i := snap.order_index(o)) is not None}
    orders: list[Any] = [
        order_row(ledger.orders[by_index[part]]) if isinstance(part, int) else PrerenderedRows(part)
        for part in snap.rows_around(by_index)
    ]
    orders.extend(order_row(o) for o in ledger.orders.values() if o.intent_id in created)
    return {
        "positions": position_rows(ledger),
        "orders": orders,
        "account": account_row(ledger),
        "kill_switch": killswitch_row(ledger),
    }


def expand_rows(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with pre-rendered rows parsed back into row objects (for text output
    and comparisons)."""
    orders: list[Any] = []
    for item in doc["orders"]:
        if isinstance(item, PrerenderedRows):
            orders.extend(item.rows())
        else:
            orders.append(item)
    return {**doc, "orders": orders}
