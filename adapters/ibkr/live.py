"""Turns the live stream of order updates, fills and commissions into the
ExecutionReports the ledger ingests, in an order the ledger can apply.

Rules, and why:
- Fills are reported only from executions (with exec_id, last quantity and
  price), never implied from an order status: IB sends both for the same fill,
  and the ledger would count it twice.
- A fill waits for its commission report (IB sends it right after the
  execution) for at most `commission_wait` seconds, then goes without one;
  reconcile matches a late commission by execId. Status updates of the same
  intent queue behind a waiting fill so the ledger sees them in order.
- Each execId is reported once; commission reports IB re-sends (after a
  reconnect, with every reqExecutions) change nothing.
- A status report is sent only when it moves the order forward: SUBMITTED →
  ACKNOWLEDGED → PARTIAL_FILL, or to CANCELED / REJECTED; nothing follows a
  terminal status except a (late) fill.
- Filled quantity and average price in a status report are those of the fills
  already reported, so a report without exec_id never implies a fill.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol
from uuid import UUID

from adapters.ibkr.mapping import OrderUpdate
from contracts.messages import ExecutionReport, ReportStatus

_RANK = {ReportStatus.SUBMITTED: 0, ReportStatus.ACKNOWLEDGED: 1, ReportStatus.PARTIAL_FILL: 2}
_TERMINAL = frozenset({ReportStatus.FILLED, ReportStatus.CANCELED, ReportStatus.REJECTED})


class Cancellable(Protocol):
    def cancel(self) -> None: ...


Scheduler = Callable[[float, Callable[[], None]], Cancellable]
"""Runs a function after a delay (asyncio's `loop.call_later`)."""


@dataclass
class _Pending:
    report: ExecutionReport
    ready: bool


@dataclass
class _IntentState:
    status: ReportStatus | None = None
    filled: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)
    queue: list[_Pending] = field(default_factory=list)


class ReportTracker:
    def __init__(
        self,
        emit: Callable[[ExecutionReport], None],
        schedule: Scheduler,
        commission_wait: float,
    ) -> None:
        self._emit = emit
        self._schedule = schedule
        self._wait = commission_wait
        self._intents: dict[UUID, _IntentState] = {}
        self._reported: set[str] = set()  # exec ids reported or queued
        self._waiting: dict[str, tuple[UUID, _Pending, Cancellable | None]] = {}

    def reported_exec_ids(self) -> frozenset[str]:
        return frozenset(self._reported)

    def on_update(self, update: OrderUpdate) -> None:
        state = self._intents.setdefault(update.intent_id, _IntentState())
        if not self._moves_forward(state.status, update.status):
            return
        state.status = update.status
        report = ExecutionReport(
            intent_id=update.intent_id,
            order_id=update.order_id,
            symbol=update.symbol,
            status=update.status,
            filled_quantity=state.filled,
            avg_fill_price=state.avg_price,
            timestamp=update.time,
            reject_reason=update.reject_reason,
            account=update.account,
        )
        state.queue.append(_Pending(report, ready=True))
        self._flush(state)

    def on_fill(self, report: ExecutionReport) -> None:
        exec_id = report.exec_id
        if exec_id is None or exec_id in self._reported:
            return
        self._reported.add(exec_id)
        state = self._intents.setdefault(report.intent_id, _IntentState())
        # A fill moves the order even after a terminal status (a late fill).
        if state.status not in _TERMINAL or report.status == ReportStatus.FILLED:
            state.status = report.status
        state.filled, state.avg_price = report.filled_quantity, report.avg_fill_price
        pending = _Pending(report, ready=report.commission is not None)
        state.queue.append(pending)
        if not pending.ready:
            handle = (
                self._schedule(self._wait, lambda: self._release(exec_id)) if self._wait else None
            )
            self._waiting[exec_id] = (report.intent_id, pending, handle)
            if handle is None:
                self._release(exec_id)
                return
        self._flush(state)

    def on_commission(self, exec_id: str, commission: Decimal, currency: str | None) -> None:
        waiting = self._waiting.get(exec_id)
        if waiting is None:
            return  # unknown or already reported: a re-sent commission report
        _, pending, handle = waiting
        if handle is not None:
            handle.cancel()
        pending.report = pending.report.model_copy(
            update={"commission": commission, "commission_currency": currency or None}
        )
        self._release(exec_id)

    def _release(self, exec_id: str) -> None:
        waiting = self._waiting.pop(exec_id, None)
        if waiting is None:
            return
        intent_id, pending, _ = waiting
        pending.ready = True
        self._flush(self._intents[intent_id])

    def _flush(self, state: _IntentState) -> None:
        while state.queue and state.queue[0].ready:
            self._emit(state.queue.pop(0).report)

    @staticmethod
    def _moves_forward(current: ReportStatus | None, new: ReportStatus) -> bool:
        if new in (ReportStatus.FILLED, ReportStatus.PARTIAL_FILL):
            return False  # fills are reported from executions only
        if current in _TERMINAL:
            return False
        if new in _TERMINAL:
            return True
        return current is None or _RANK[new] > _RANK[current]
