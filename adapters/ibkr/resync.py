"""After a (re)connect: which broker executions has the ledger not seen?

ib_async forgets trades and fills on disconnect, and a fill that happened
while disconnected fires no live event: it shows up only in the executions
of the snapshot taken after reconnecting. The caller (live routing) passes
the snapshot and the exec ids the ledger knows; this module turns the rest
into the same ExecutionReports a live fill would have produced.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from decimal import Decimal

from adapters.broker.port import BrokerExecution, BrokerSnapshot
from adapters.ibkr.mapping import broker_order_id, parse_intent_id
from contracts.messages import ExecutionReport, ReportStatus


@dataclass(frozen=True, slots=True)
class MissedFills:
    reports: tuple[ExecutionReport, ...]
    """Fills of our intents, in broker time order, ready for the ledger."""
    external: tuple[BrokerExecution, ...]
    """Fills of orders that carry no intent id (placed outside the ledger):
    reconcile books them under an external order."""


def missed_fills(snapshot: BrokerSnapshot, known_exec_ids: Container[str]) -> MissedFills:
    totals = {o.perm_id: o.quantity for o in (*snapshot.open_orders, *snapshot.completed_orders)}
    reports: list[ExecutionReport] = []
    external: list[BrokerExecution] = []
    for execution in snapshot.executions:
        if execution.exec_id in known_exec_ids:
            continue
        report = _report(execution, totals.get(execution.perm_id))
        if report is None:
            external.append(execution)
        else:
            reports.append(report)
    return MissedFills(tuple(reports), tuple(external))


def _report(execution: BrokerExecution, total: Decimal | None) -> ExecutionReport | None:
    intent_id = parse_intent_id(execution.order_ref)
    if intent_id is None:
        return None
    # Without the order's total we cannot claim FILLED; the reconciler's status
    # comparison settles it.
    filled = total is not None and execution.cum_qty >= total
    return ExecutionReport(
        intent_id=intent_id,
        order_id=broker_order_id(execution.perm_id, execution.order_id),
        symbol=execution.symbol,
        status=ReportStatus.FILLED if filled else ReportStatus.PARTIAL_FILL,
        filled_quantity=execution.cum_qty,
        avg_fill_price=execution.avg_price,
        timestamp=execution.time,
        account=execution.account or None,
        exec_id=execution.exec_id,
        last_quantity=execution.quantity,
        last_price=execution.price,
        commission=execution.commission,
        commission_currency=execution.commission_currency,
    )
