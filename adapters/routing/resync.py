"""After a (re)connect: what the broker knows that the ledger has not seen.

Pure functions of the ledger and a broker snapshot, giving the reports a live
connection would have delivered, for the ledger's own orders only (orders the
ledger never saw are reconciliation's business: `ledger reconcile --apply`):

1. fills: executions missing in the ledger, corrections of fills it holds,
   and commissions it lacks (a fill reported before its commission report, or
   a commission report re-sent after the reconnect), found by the same
   comparison reconciliation uses;
2. statuses, once those fills are in: an acknowledgement, cancel or
   rejection the ledger never saw, only where the transition table allows it
   (a report the table refuses would only record an anomaly).
"""

from __future__ import annotations

from datetime import datetime

from adapters.broker.port import BrokerSnapshot
from adapters.reconcile.breaks import BookFill, BreakKind
from adapters.reconcile.compare import comparison
from adapters.reconcile.ids import broker_order_id, parse_intent_id
from adapters.reconcile.orders import statuses_agree
from adapters.reconcile.reports import status_report
from adapters.reconcile.view import ledger_view
from contracts.messages import ExecutionReport, ReportStatus
from domain.ledger import Ledger
from domain.order import REPORT_TRANSITION
from domain.order_table import next_status

_FILL_KINDS = frozenset(
    {BreakKind.MISSING_IN_LEDGER, BreakKind.CORRECTION_PENDING, BreakKind.COMMISSION_MISMATCH}
)
_STATUS_REPORTS = frozenset(
    {
        ReportStatus.SUBMITTED,
        ReportStatus.ACKNOWLEDGED,
        ReportStatus.CANCELED,
        ReportStatus.REJECTED,
    }
)


def missed_fill_reports(
    ledger: Ledger, snapshot: BrokerSnapshot, account: str, *, broker: str, as_of: datetime
) -> list[ExecutionReport]:
    view = ledger_view(ledger, account, None, {})
    found = comparison(view, snapshot, as_of=as_of, broker=broker)
    reports = [
        b.report
        for brk in found.breaks
        if brk.item == "execution" and brk.kind in _FILL_KINDS
        for b in brk.bookings
        if isinstance(b, BookFill)
    ]
    return sorted(reports, key=lambda r: (r.timestamp, r.exec_id or ""))


def missed_status_reports(
    ledger: Ledger, snapshot: BrokerSnapshot, account: str, *, as_of: datetime
) -> list[ExecutionReport]:
    by_broker_id = {o.broker_order_id: i for i, o in ledger.orders.items() if o.broker_order_id}
    reports: list[ExecutionReport] = []
    for bo in (*snapshot.open_orders, *snapshot.completed_orders):
        if bo.account and bo.account != account:
            continue
        intent = by_broker_id.get(str(bo.perm_id)) or parse_intent_id(bo.order_ref)
        order = ledger.orders.get(intent) if intent is not None else None
        if order is None or bo.status not in ReportStatus.__members__:
            continue
        status = ReportStatus(bo.status)
        if status not in _STATUS_REPORTS or statuses_agree(order.status.value, bo.status):
            continue
        if next_status(order.status, REPORT_TRANSITION[status]) is None:
            continue
        reason = f"broker status {bo.broker_status}" if status == ReportStatus.REJECTED else None
        reports.append(
            status_report(
                order.intent_id,
                order.symbol,
                order.account,
                status,
                broker_order_id(bo.perm_id, bo.order_id),
                order.filled,
                order.avg_fill_price,
                as_of,
                reason,
            )
        )
    return reports
