"""Deciding inputs one bar group at a time while committing them a few thousand at a time.

`LedgerApplication.process(batch)` decides a batch and commits it in one go.
A backtest cannot hand it a whole batch up front: what it sends next depends
on what the ledger just decided (an intent the kill switch denied is never
sent to the broker; a trip's flatten orders are sent at once, so they fill at
the next open as they would live). So this splits `process` in its two public
halves: `decide` (the same per-message decisions, sources tracked the same way)
after every group, and `commit` (the same mapper, store append, source positions
and `on_committed` callbacks) once enough is staged. Stored events are the same
whatever the batch size.

There is no retry: the backtest's store is its own, so a concurrent write
means something else is writing to it, and the run stops with that error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from adapters.backtest.clock import DataClock
from domain.application import LedgerApplication, ParsedMessage
from domain.errors import LedgerError


class StoreNotEmpty(LedgerError):
    """A backtest writes into a store of its own; this one already holds events."""


class StagedLedger:
    def __init__(self, app: LedgerApplication, clock: DataClock, batch_size: int) -> None:
        if app.position:
            raise StoreNotEmpty(
                f"the backtest store already holds {app.position} events: "
                "give a new --out directory or an empty --store"
            )
        self.app, self.clock, self.batch_size = app, clock, max(1, batch_size)
        self.events = 0
        self._sources: dict[str, int] = {}
        self._staged = 0

    def decide(self, messages: Sequence[ParsedMessage], at: datetime) -> None:
        """Decide these inputs now, recorded at `at`; their events wait for `commit`."""
        self.clock.set(at)
        _, sources = self.app.decide(messages)
        self._sources.update(sources)
        self._staged += len(messages)

    def commit_if_due(self) -> bool:
        """Commit when a batch is staged; whether it did."""
        if self._staged < self.batch_size:
            return False
        self.commit()
        return True

    def commit(self) -> None:
        if not self._staged and not self.app.ledger.pending:
            return
        try:
            written = self.app.commit(self._sources)
        except BaseException:
            self.app.rebuild()  # the decisions staged are gone with the failed transaction
            raise
        self.events += written
        self._sources = {}
        self._staged = 0


@runtime_checkable
class ChainReader(Protocol):
    def chain_rows(
        self, start: int, limit: int
    ) -> list[tuple[int, str, int, str, bytes, int, bytes]]: ...


def ledger_hash(app: LedgerApplication) -> str:
    """The chain head: the last stored row's hash (what `ledger verify` prints)."""
    if not isinstance(app.store, ChainReader) or not app.position:
        return ""
    rows = app.store.chain_rows(app.position, 1)
    return rows[-1][6].hex() if rows else ""
