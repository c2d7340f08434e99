"""The pure comparison: a ledger view and a broker snapshot in, breaks out.

No I/O, no clock: `as_of` (the run's time) only dates what a booking would
record when the broker gives no time of its own (e.g. a status change).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from adapters.broker.port import BrokerOrder, BrokerSnapshot
from adapters.reconcile.breaks import Break
from adapters.reconcile.executions import compare_executions
from adapters.reconcile.ids import effective_executions, external_intent_id, parse_intent_id
from adapters.reconcile.orders import compare_orders
from adapters.reconcile.positions import DEFAULT_TOLERANCE, AvgCostTolerance, compare_positions
from adapters.reconcile.view import LedgerView


@dataclass(frozen=True, slots=True)
class Comparison:
    breaks: list[Break]
    compared: dict[str, int]  # items compared: positions, executions, orders


def compare(
    view: LedgerView,
    snapshot: BrokerSnapshot,
    *,
    as_of: datetime,
    broker: str = "broker",
    tolerance: AvgCostTolerance = DEFAULT_TOLERANCE,
) -> list[Break]:
    return comparison(view, snapshot, as_of=as_of, broker=broker, tolerance=tolerance).breaks


def comparison(
    view: LedgerView,
    snapshot: BrokerSnapshot,
    *,
    as_of: datetime,
    broker: str = "broker",
    tolerance: AvgCostTolerance = DEFAULT_TOLERANCE,
) -> Comparison:
    account = view.account
    effective, superseded = effective_executions(
        e for e in snapshot.executions if e.account == account
    )
    by_perm = view.by_broker_order_id()

    def resolve(perm_id: int, order_ref: str) -> UUID | None:
        """The ledger order of a broker order: by permId where the ledger knows
        it, else by orderRef, else as the external order a past run booked."""
        if perm_id > 0 and str(perm_id) in by_perm:
            return by_perm[str(perm_id)]
        ref = parse_intent_id(order_ref)
        if ref is not None:
            return ref if ref in view.orders else None
        external = external_intent_id(broker, perm_id, order_ref)
        return external if perm_id > 0 and external in view.orders else None

    executions = compare_executions(
        view, effective, superseded, lambda e: resolve(e.perm_id, e.order_ref)
    )
    position_breaks, positions = compare_positions(view, snapshot.positions, tolerance)
    order_breaks, orders = compare_orders(
        view,
        _unique_orders(snapshot),
        executions,
        resolve,
        broker=broker,
        as_of=as_of,
    )
    return Comparison(
        position_breaks + executions.breaks + order_breaks,
        {"positions": positions, "executions": executions.compared, "orders": orders},
    )


def _unique_orders(snapshot: BrokerSnapshot) -> list[BrokerOrder]:
    """One entry per broker order: an order can be listed as open and, moments
    later, as completed; the later listing (completed) wins."""
    unique: dict[tuple[int, int, str], BrokerOrder] = {}
    for o in (*snapshot.open_orders, *snapshot.completed_orders):
        key = (o.perm_id, 0, "") if o.perm_id > 0 else (0, o.order_id, o.order_ref)
        unique.pop(key, None)
        unique[key] = o
    return list(unique.values())
