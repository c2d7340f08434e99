"""`--apply`: book what the broker proves, through the ledger's own decisions.

Runs inside `LedgerApplication.command` (one transaction with the run's
record). Nothing is edited: every booking is a contract message decided by
`Ledger.handle` exactly as live input would be (so duplicates change nothing
and a refusal is an anomaly event), or, where the transition table has no
row for what the broker proves, `Ledger.correct_order_status`, which names the
run. Each message's source is `broker:<name>:reconcile:<run_id>@<n>`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from adapters.reconcile.breaks import (
    PHASE,
    BookExternalOrder,
    BookFill,
    Booking,
    ReopenForFills,
    SettleStatus,
)
from adapters.reconcile.orders import statuses_agree
from adapters.reconcile.reports import status_report
from contracts.messages import ContractMessage, ReportStatus
from domain.ledger import Ledger, Outcome
from domain.order import REPORT_TRANSITION
from domain.order_table import next_status

_FILL_STATUSES = frozenset({"FILLED", "PARTIAL_FILL"})


@dataclass
class BookingResult:
    outcomes: Counter[str] = field(default_factory=Counter)
    fill_times: dict[str, datetime] = field(default_factory=dict)

    @property
    def booked(self) -> int:
        return self.outcomes[Outcome.APPLIED.value] + self.outcomes[Outcome.HELD.value]


def source_of(broker: str, run_id: str) -> str:
    return f"broker:{broker}:reconcile:{run_id}"


def book(
    bookings: Iterable[Booking], ledger: Ledger, now: datetime, *, broker: str, run_id: str
) -> BookingResult:
    booker = _Booker(ledger, now, source_of(broker, run_id), run_id)
    for b in sorted(bookings, key=_order):
        booker.run(b)
    return booker.result


def _order(b: Booking) -> tuple[Any, ...]:
    if isinstance(b, BookFill):
        # Fills in the broker's time order: position arithmetic depends on it.
        return (PHASE[BookFill], b.report.timestamp, b.report.exec_id or "")
    return (PHASE[type(b)],)


class _Booker:
    def __init__(self, ledger: Ledger, now: datetime, source: str, run_id: str) -> None:
        self.ledger, self.now, self.source, self.run_id = ledger, now, source, run_id
        self.result = BookingResult()
        self._n = 0

    def _next_source(self) -> str:
        self._n += 1
        return f"{self.source}@{self._n}"

    def _handle(self, msg: ContractMessage, origin: str = "intent") -> None:
        outcome = self.ledger.handle(msg, self._next_source(), self.now, origin=origin)
        self.result.outcomes[outcome.value] += 1

    def _correct(self, b_intent: Any, status: str, reason: str) -> None:
        outcome = self.ledger.correct_order_status(
            b_intent, status, reason, self.run_id, self._next_source(), self.now
        )
        self.result.outcomes[outcome.value] += 1

    def run(self, b: Booking) -> None:
        if isinstance(b, BookExternalOrder):
            self._handle(b.intent, origin="broker")
            self._handle(b.ack)
        elif isinstance(b, ReopenForFills):
            order = self.ledger.orders.get(b.intent_id)
            if order is not None and order.status.value == b.previous_status:
                self._correct(b.intent_id, "ACKNOWLEDGED", b.reason)
        elif isinstance(b, BookFill):
            self._handle(b.report)
            if b.report.exec_id:
                self.result.fill_times[b.report.exec_id] = b.report.timestamp
        else:
            self._settle(b)

    def _settle(self, b: SettleStatus) -> None:
        order = self.ledger.orders.get(b.intent_id)
        if order is None or statuses_agree(order.status.value, b.status):
            return
        reason = b.reject_reason or f"broker status {b.broker_status}"
        if b.status in _FILL_STATUSES:
            # Fills make these statuses; only when they are all booked may the
            # status be corrected (never to claim fills the ledger has not got).
            if order.filled == b.broker_filled:
                self._correct(b.intent_id, b.status, reason)
            return
        if b.status not in ReportStatus.__members__:
            return  # PENDING_CANCEL or a word the contract lacks: nothing proven yet
        status = ReportStatus(b.status)
        if next_status(order.status, REPORT_TRANSITION[status]) is None:
            self._correct(b.intent_id, b.status, reason)
            return
        self._handle(
            status_report(
                b.intent_id,
                order.symbol,
                order.account,
                status,
                b.order_id,
                order.filled,
                order.avg_fill_price,
                b.time,
                b.reject_reason,
            )
        )
