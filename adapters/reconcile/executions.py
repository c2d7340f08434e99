"""Executions by execId over the broker's window, corrections grouped.

The broker's executions are first grouped by base id (the execId up to its
last '.'): the highest suffix is the effective fill, the others are
superseded. Each effective execution is then matched against every ledger
fill (whatever its time) by base id:
- the same execId: quantity and price must agree (`fill_mismatch`), and the
  commission, matched by execId, too (`commission_mismatch`, booked as the
  same fill with its commission: the ledger corrects the commission alone);
- a lower suffix in the ledger: `correction_pending`, booked as the
  corrected execId through the normal path (the ledger replaces the fill);
- nothing: `missing_in_ledger`, booked as the fill, unless the order is not
  the ledger's (then it belongs to an `unknown_order`, see orders.py) or the
  fill would over-fill the order (reported only).
Ledger fills inside the window that match nothing at the broker are
`missing_at_broker` (reported only: the broker proves nothing). Fills the
ledger implied from cumulative figures carry no execId and are compared
through their order's filled quantity instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from uuid import UUID

from adapters.broker.port import BrokerExecution
from adapters.reconcile.breaks import BookFill, Break, BreakKind
from adapters.reconcile.ids import split_exec_id, suffix_rank
from adapters.reconcile.reports import fill_report
from adapters.reconcile.view import LedgerFill, LedgerView

# Terminal states whose table row refuses any fill: reconciliation must reopen them.
REFUSING = frozenset({"REJECTED", "DENIED", "EXPIRED"})


@dataclass
class ExecutionResult:
    breaks: list[Break] = field(default_factory=list)
    compared: int = 0
    unknown: dict[int, list[BrokerExecution]] = field(default_factory=dict)
    """Effective executions of orders the ledger does not know, by permId."""
    projected: dict[UUID, Decimal] = field(default_factory=dict)
    """Each ledger order's filled quantity once the missing fills are booked."""
    needs_reopen: set[UUID] = field(default_factory=set)
    """Orders in a REFUSING state that the broker proves fills for."""


def compare_executions(
    view: LedgerView,
    effective: list[BrokerExecution],
    superseded: dict[str, list[str]],
    resolve: Callable[[BrokerExecution], UUID | None],
) -> ExecutionResult:
    result = ExecutionResult(projected={i: o.filled for i, o in view.orders.items()})
    fills = view.fills()
    by_base = {_split_key(x): f for x, f in fills.items()}
    matched: set[str] = set()
    for e in effective:
        if e.account != view.account:
            continue
        result.compared += 1
        ours = by_base.get(_split_key(e.exec_id))
        if ours is not None:
            matched.add(ours.exec_id)
            found = _compare_matched(view, e, ours, superseded)
            if found is not None:
                result.breaks.append(found)
            continue
        intent = resolve(e)
        if intent is None or intent not in view.orders:
            result.unknown.setdefault(e.perm_id, []).append(e)
            continue
        result.breaks.append(_missing_in_ledger(view, e, intent, result))
    for exec_id, f in fills.items():
        if exec_id in matched or f.implied or not f.in_window:
            continue
        result.compared += 1
        order = view.orders[f.intent_id]
        result.breaks.append(
            Break(
                BreakKind.MISSING_AT_BROKER,
                "execution",
                exec_id,
                view.account,
                order.symbol,
                _ledger_evidence(f),
                {},
                "the ledger holds a fill the broker does not list",
            )
        )
    return result


def _split_key(x: str) -> str:
    return split_exec_id(x)[0]


def _compare_matched(
    view: LedgerView, e: BrokerExecution, ours: LedgerFill, superseded: dict[str, list[str]]
) -> Break | None:
    order = view.orders[ours.intent_id]
    mine, theirs = _ledger_evidence(ours), _broker_evidence(e, superseded)
    if ours.exec_id != e.exec_id:
        if suffix_rank(e.exec_id) > suffix_rank(ours.exec_id):
            report = fill_report(e, ours.intent_id, complete=False, symbol=order.symbol)
            return Break(
                BreakKind.CORRECTION_PENDING,
                "execution",
                e.exec_id,
                view.account,
                order.symbol,
                mine,
                theirs,
                f"the broker corrected {ours.exec_id} as {e.exec_id}",
                (BookFill(report),),
            )
        return Break(
            BreakKind.FILL_MISMATCH,
            "execution",
            ours.exec_id,
            view.account,
            order.symbol,
            mine,
            theirs,
            f"the ledger holds correction {ours.exec_id}; the broker's latest is {e.exec_id}",
        )
    if e.quantity != ours.quantity or e.price != ours.price:
        return Break(
            BreakKind.FILL_MISMATCH,
            "execution",
            e.exec_id,
            view.account,
            order.symbol,
            mine,
            theirs,
            f"{ours.quantity} @ {ours.price} in the ledger, {e.quantity} @ {e.price} at the broker",
        )
    if e.commission is not None and e.commission != ours.commission:
        report = fill_report(e, ours.intent_id, complete=False, symbol=order.symbol)
        return Break(
            BreakKind.COMMISSION_MISMATCH,
            "execution",
            e.exec_id,
            view.account,
            order.symbol,
            mine,
            theirs,
            f"commission {ours.commission} in the ledger, {e.commission} at the broker",
            (BookFill(report),),
        )
    return None


def _missing_in_ledger(
    view: LedgerView, e: BrokerExecution, intent: UUID, result: ExecutionResult
) -> Break:
    order = view.orders[intent]
    after = result.projected[intent] + e.quantity
    evidence = {
        "order": str(intent),
        "order_status": order.status,
        "filled": str(order.filled),
        "quantity": str(order.quantity),
    }
    theirs = _broker_evidence(e, {})
    if after > order.quantity:
        return Break(
            BreakKind.MISSING_IN_LEDGER,
            "execution",
            e.exec_id,
            view.account,
            order.symbol,
            evidence,
            theirs,
            f"booking it would over-fill the order ({after} of {order.quantity})",
        )
    result.projected[intent] = after
    if order.status in REFUSING:
        result.needs_reopen.add(intent)
    report = fill_report(e, intent, complete=after == order.quantity, symbol=order.symbol)
    return Break(
        BreakKind.MISSING_IN_LEDGER,
        "execution",
        e.exec_id,
        view.account,
        order.symbol,
        evidence,
        theirs,
        "the broker lists a fill the ledger never booked",
        (BookFill(report),),
    )


def _ledger_evidence(f: LedgerFill) -> dict[str, str | None]:
    return {
        "exec_id": f.exec_id,
        "order": str(f.intent_id),
        "quantity": str(f.quantity),
        "price": str(f.price),
        "commission": str(f.commission),
        "time": f.time.isoformat() if f.time else None,
    }


def _broker_evidence(e: BrokerExecution, superseded: dict[str, list[str]]) -> dict[str, str | None]:
    evidence: dict[str, str | None] = {
        "exec_id": e.exec_id,
        "perm_id": str(e.perm_id),
        "order_ref": e.order_ref,
        "side": e.side,
        "quantity": str(e.quantity),
        "price": str(e.price),
        "commission": None if e.commission is None else str(e.commission),
        "time": e.time.isoformat(),
    }
    replaced = superseded.get(split_exec_id(e.exec_id)[0])
    if replaced:
        evidence["supersedes"] = ", ".join(replaced)
    return evidence
