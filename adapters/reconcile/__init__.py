"""Reconciliation of the ledger against a broker (`ledger reconcile`).

- `view.ledger_view(ledger, account, window_start, fill_times) -> LedgerView`
- `compare.compare(view, snapshot, as_of=...) -> list[Break]` (pure)
- `book.book(bookings, ledger, now, broker=, run_id=)` (`--apply`, pure on the Ledger)
- `run.reconcile(app, broker, broker_name=..., since=, apply=) -> ReconcileReport` (I/O)
"""

from adapters.reconcile.breaks import BREAK_KINDS, Break, BreakKind, count_by_kind
from adapters.reconcile.compare import Comparison, compare, comparison
from adapters.reconcile.positions import DEFAULT_TOLERANCE, AvgCostTolerance
from adapters.reconcile.run import ReconcileReport, reconcile, run_id_for
from adapters.reconcile.view import LedgerView, ledger_view

__all__ = [
    "BREAK_KINDS",
    "DEFAULT_TOLERANCE",
    "AvgCostTolerance",
    "Break",
    "BreakKind",
    "Comparison",
    "LedgerView",
    "ReconcileReport",
    "compare",
    "comparison",
    "count_by_kind",
    "ledger_view",
    "reconcile",
    "run_id_for",
]
