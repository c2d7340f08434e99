"""Open and completed orders, by permId where the ledger knows it, else by
orderRef (our intent id).

Statuses are compared in the ledger's vocabulary, after the missing fills
(executions.py) are counted in: an order the ledger holds ACKNOWLEDGED whose
missed fill the broker lists is explained by that fill, not a second break.
Agreement also covers a cancel in flight: PENDING_CANCEL on one side and a
working status on the other.

- An order the ledger does not know is an `unknown_order`, booked as an
  external order (origin "broker"), its acknowledgement, its fills and its
  final status. Fills whose order the broker does not list become one
  external market order per permId.
- A broker status the ledger never saw is a `status_mismatch`, booked through
  a report when the transition table allows it, else `correct_order_status`.
- Fills for an order the ledger holds REJECTED (or DENIED, EXPIRED) are a
  `status_mismatch`: booked as a status correction to ACKNOWLEDGED, then the
  fills through the normal path (in plain ingest such a fill stays an anomaly).
- A working ledger order the broker does not list is `missing_at_broker`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from adapters.broker.port import BrokerExecution, BrokerOrder
from adapters.reconcile.breaks import (
    BookExternalOrder,
    BookFill,
    Booking,
    Break,
    BreakKind,
    ReopenForFills,
    SettleStatus,
)
from adapters.reconcile.executions import ExecutionResult
from adapters.reconcile.ids import broker_order_id, external_intent_id, parse_intent_id
from adapters.reconcile.reports import external_intent, fill_report, status_report
from adapters.reconcile.view import LedgerOrder, LedgerView
from contracts.messages import ReportStatus

WORKING = frozenset({"NEW", "SUBMITTED", "ACKNOWLEDGED", "PARTIAL_FILL", "PENDING_CANCEL"})
_LIVE_AT_BROKER = frozenset({"SUBMITTED", "ACKNOWLEDGED", "PARTIAL_FILL"})


def statuses_agree(ledger: str, broker: str) -> bool:
    if ledger == broker:
        return True
    if broker == "PENDING_CANCEL":
        return ledger in _LIVE_AT_BROKER
    if ledger == "PENDING_CANCEL":
        return broker in _LIVE_AT_BROKER
    return False


def projected_status(order: LedgerOrder, filled: Decimal, reopened: bool) -> str:
    """The order's status once the missing fills are booked."""
    status = "ACKNOWLEDGED" if reopened else order.status
    if filled == order.filled and not reopened:
        return status
    if filled >= order.quantity:
        return "FILLED"
    if filled == order.filled or status in ("PENDING_CANCEL", "CANCELED"):
        return status
    return "PARTIAL_FILL"


def compare_orders(
    view: LedgerView,
    orders: list[BrokerOrder],
    executions: ExecutionResult,
    resolve: Callable[[int, str], UUID | None],
    *,
    broker: str,
    as_of: datetime,
) -> tuple[list[Break], int]:
    breaks: list[Break] = []
    matched: set[UUID] = set()
    unknown = dict(executions.unknown)
    for bo in orders:
        if bo.account and bo.account != view.account:
            continue
        intent = resolve(bo.perm_id, bo.order_ref)
        if intent is None or intent not in view.orders:
            breaks.append(_unknown_order(view, bo, unknown.pop(bo.perm_id, []), broker, as_of))
            continue
        matched.add(intent)
        breaks.extend(_compare_known(view, view.orders[intent], bo, executions, as_of))
    for perm_id, execs in unknown.items():
        breaks.append(_unknown_order(view, None, execs, broker, as_of, perm_id))
    for intent in sorted(executions.needs_reopen - matched):
        breaks.append(_reopen(view, view.orders[intent], None, executions, as_of))
    missing = [o for i, o in view.orders.items() if i not in matched and o.status in WORKING]
    for o in missing:
        breaks.append(
            Break(
                BreakKind.MISSING_AT_BROKER,
                "order",
                str(o.intent_id),
                view.account,
                o.symbol,
                _ledger_evidence(o),
                {},
                f"the ledger holds a {o.status} order the broker does not list",
            )
        )
    return breaks, len(orders) + len(unknown) + len(missing)


def _compare_known(
    view: LedgerView, order: LedgerOrder, bo: BrokerOrder, ex: ExecutionResult, as_of: datetime
) -> list[Break]:
    found: list[Break] = []
    mine, theirs = _ledger_evidence(order), _broker_evidence(bo)
    key = str(order.intent_id)
    filled = ex.projected.get(order.intent_id, order.filled)
    if bo.quantity != order.quantity:
        found.append(
            Break(
                BreakKind.QUANTITY_MISMATCH,
                "order",
                key,
                view.account,
                order.symbol,
                mine,
                theirs,
                f"order quantity {order.quantity} in the ledger, {bo.quantity} at the broker",
            )
        )
    elif bo.filled != filled:
        found.append(
            Break(
                BreakKind.QUANTITY_MISMATCH,
                "order",
                key,
                view.account,
                order.symbol,
                mine,
                theirs,
                f"filled {filled} in the ledger (with the fills found), "
                f"{bo.filled} at the broker: fills outside the executions window?",
            )
        )
    if order.intent_id in ex.needs_reopen:
        found.append(_reopen(view, order, bo, ex, as_of))
        return found
    status = projected_status(order, filled, reopened=False)
    if not statuses_agree(status, bo.status):
        found.append(
            Break(
                BreakKind.STATUS_MISMATCH,
                "order",
                key,
                view.account,
                order.symbol,
                mine,
                theirs,
                f"{order.status} in the ledger, {bo.status} at the "
                f"broker ({bo.broker_status or bo.status})",
                (_settle(order.intent_id, bo, as_of),),
            )
        )
    return found


def _reopen(
    view: LedgerView,
    order: LedgerOrder,
    bo: BrokerOrder | None,
    ex: ExecutionResult,
    as_of: datetime,
) -> Break:
    bookings: list[Booking] = [
        ReopenForFills(
            order.intent_id,
            order.status,
            f"the broker proves fills for an order the ledger holds {order.status}",
        )
    ]
    filled = ex.projected.get(order.intent_id, order.filled)
    if bo is not None and not statuses_agree(projected_status(order, filled, True), bo.status):
        bookings.append(_settle(order.intent_id, bo, as_of))
    return Break(
        BreakKind.STATUS_MISMATCH,
        "order",
        str(order.intent_id),
        view.account,
        order.symbol,
        _ledger_evidence(order),
        _broker_evidence(bo) if bo else {},
        f"the ledger holds {order.status}, the broker lists fills",
        tuple(bookings),
    )


def _settle(intent_id: UUID, bo: BrokerOrder, as_of: datetime) -> SettleStatus:
    return SettleStatus(
        intent_id,
        bo.status,
        bo.broker_status or bo.status,
        bo.filled,
        broker_order_id(bo.perm_id, bo.order_id),
        _reason(bo),
        as_of,
    )


def _reason(bo: BrokerOrder) -> str | None:
    if bo.status != "REJECTED":
        return None
    return f"broker status {bo.broker_status or bo.status} (reconciliation)"


def _unknown_order(
    view: LedgerView,
    bo: BrokerOrder | None,
    execs: list[BrokerExecution],
    broker: str,
    as_of: datetime,
    perm_id: int | None = None,
) -> Break:
    perm = bo.perm_id if bo is not None else (perm_id or 0)
    order_id = bo.order_id if bo is not None else execs[0].order_id
    ref = bo.order_ref if bo is not None else execs[0].order_ref
    intent_id = external_intent_id(broker, perm, ref)
    time = execs[0].time if execs else as_of
    intent = external_intent(intent_id, bo, execs, view.account, time)
    ack = status_report(
        intent_id,
        intent.symbol,
        intent.account or view.account,
        ReportStatus.ACKNOWLEDGED,
        broker_order_id(perm, order_id),
        Decimal(0),
        Decimal(0),
        time,
    )
    bookings: list[Booking] = [BookExternalOrder(intent, ack)]
    total = Decimal(0)
    for e in execs:
        total += e.quantity
        bookings.append(
            BookFill(
                fill_report(e, intent_id, complete=total >= intent.quantity, symbol=intent.symbol)
            )
        )
    if bo is not None and bo.status in ("CANCELED", "REJECTED"):
        bookings.append(_settle(intent_id, bo, as_of))  # fills settle the other statuses
    evidence = _broker_evidence(bo) if bo is not None else {}
    evidence["executions"] = ", ".join(e.exec_id for e in execs) or None
    detail = (
        f"an order the ledger never saw ({len(execs)} fills); "
        f"--apply books it as external order {intent_id}"
    )
    if perm <= 0 and parse_intent_id(ref) is None:
        # Without a permId or an intent id no later run could find what this
        # one booked: report it, book nothing.
        bookings, detail = [], "an order the ledger never saw, without a permId or intent id"
    return Break(
        BreakKind.UNKNOWN_ORDER,
        "order",
        f"perm:{perm}",
        view.account,
        intent.symbol,
        {},
        evidence,
        detail,
        tuple(bookings),
    )


def _ledger_evidence(o: LedgerOrder) -> dict[str, str | None]:
    return {
        "intent_id": str(o.intent_id),
        "status": o.status,
        "side": o.side,
        "quantity": str(o.quantity),
        "filled": str(o.filled),
        "broker_order_id": o.broker_order_id or None,
        "origin": o.origin,
    }


def _broker_evidence(bo: BrokerOrder) -> dict[str, str | None]:
    return {
        "perm_id": str(bo.perm_id),
        "order_ref": bo.order_ref,
        "status": bo.status,
        "broker_status": bo.broker_status or None,
        "side": bo.side,
        "quantity": str(bo.quantity),
        "filled": str(bo.filled),
        "order_type": bo.order_type,
    }
