"""The Order aggregate: state, `apply`, and the decision on an execution report.

Decisions return *proposals* (event class + fields); the ledger turns them into
events with ids, versions and times, then applies them. A report is decided as
a whole: if any part is refused, nothing of it is proposed, so a refused fill
never moves a position (the NautilusTrader 1.221 bug this ledger must not have).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from contracts import ExecutionReport, ReportStatus
from domain import events as ev
from domain.money import ZERO, div
from domain.order_table import (
    PREVIOUS,
    TERMINAL,
    WORKING,
    OrderStatus,
    OrderTransition,
    next_status,
)

S = OrderStatus
T = OrderTransition

REPORT_TRANSITION: dict[ReportStatus, OrderTransition] = {
    ReportStatus.SUBMITTED: T.SUBMIT,
    ReportStatus.ACKNOWLEDGED: T.ACK,
    ReportStatus.PARTIAL_FILL: T.FILL_PARTIAL,
    ReportStatus.FILLED: T.FILL_COMPLETE,
    ReportStatus.CANCELED: T.CANCEL,
    ReportStatus.REJECTED: T.REJECT,
}

# Where a non-fill transition lands when it is a plain repeat of the current state.
_SAME_STATE: dict[OrderTransition, OrderStatus] = {
    T.SUBMIT: S.SUBMITTED,
    T.ACK: S.ACKNOWLEDGED,
    T.CANCEL: S.CANCELED,
    T.REJECT: S.REJECTED,
    T.EXPIRE: S.EXPIRED,
}

_STATUS_EVENT: dict[OrderTransition, type[ev.OrderEvent]] = {
    T.SUBMIT: ev.OrderSubmitted,
    T.ACK: ev.OrderAcknowledged,
    T.CANCEL: ev.OrderCanceled,
    T.REJECT: ev.OrderRejected,
    T.EXPIRE: ev.OrderExpired,
}


def split_exec_id(exec_id: str) -> tuple[str, str]:
    """`0000e0d5.6553a6b2.01.01` -> (`0000e0d5.6553a6b2.01`, `01`): base and correction suffix."""
    base, dot, suffix = exec_id.rpartition(".")
    return (base, suffix) if dot else (exec_id, "")


def _suffix_key(suffix: str) -> tuple[int, int | str]:
    # Numeric suffixes compare as numbers (".10" is after ".9"); others as text.
    return (1, int(suffix)) if suffix.isdigit() else (0, suffix)


@dataclass(frozen=True, slots=True)
class Fill:
    exec_id: str
    quantity: Decimal
    price: Decimal
    commission: Decimal


@dataclass(frozen=True, slots=True)
class Proposal:
    cls: type[ev.LedgerEvent]
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Refusal:
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class FillEffect:
    """What a decided fill or correction does to the position (consumed by the ledger)."""

    exec_id: str
    replaced: Fill | None
    fill: Fill


@dataclass(slots=True)
class Order:
    intent_id: UUID
    symbol: str
    side: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    account: str
    origin: str
    status: OrderStatus = S.NEW
    version: int = 0
    status_before_cancel: OrderStatus = S.NEW
    broker_order_id: str = ""
    filled: Decimal = ZERO
    avg_fill_price: Decimal = ZERO
    commission: Decimal = ZERO
    fills: dict[str, Fill] = field(default_factory=dict)
    exec_by_base: dict[str, str] = field(default_factory=dict)
    refused: set[str] = field(default_factory=set)
    intent_json: str = ""

    @property
    def is_working(self) -> bool:
        return self.status in WORKING

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == "BUY" else -self.quantity

    # ------------------------------------------------------------------ apply

    def apply(self, event: ev.OrderEvent) -> None:
        self.version = event.originator_version
        if isinstance(event, ev.OrderFillEvent):
            self._add_fill(Fill(event.exec_id, event.fill_quantity, event.fill_price,
                                event.commission))
            self.filled, self.avg_fill_price = event.filled_quantity, event.avg_fill_price
        elif isinstance(event, ev.OrderFillCorrected):
            old = self.fills.pop(event.replaced_exec_id)
            self.commission -= old.commission
            self._add_fill(Fill(event.exec_id, event.fill_quantity, event.fill_price,
                                event.commission))
            self.filled, self.avg_fill_price = event.filled_quantity, event.avg_fill_price
        elif isinstance(event, ev.OrderSubmitted | ev.OrderAcknowledged):
            self.broker_order_id = event.broker_order_id or self.broker_order_id
        elif isinstance(event, ev.OrderMessageRefused):
            self.refused.add(event.message)
        if event.status == S.PENDING_CANCEL and self.status != S.PENDING_CANCEL:
            self.status_before_cancel = self.status
        elif self.status == S.PENDING_CANCEL and event.status == S.PENDING_CANCEL:
            if isinstance(event, ev.OrderFillEvent):
                self.status_before_cancel = S.PARTIAL_FILL
        self.status = S(event.status)

    def _add_fill(self, fill: Fill) -> None:
        self.fills[fill.exec_id] = fill
        self.exec_by_base[split_exec_id(fill.exec_id)[0]] = fill.exec_id
        self.commission += fill.commission

    # ------------------------------------------------------------------ decide

    def decide_report(
        self, r: ExecutionReport, message_json: str | None
    ) -> tuple[list[Proposal], list[FillEffect]] | Refusal | None:
        """Proposals for a report, a Refusal, or None when it changes nothing (a duplicate).

        `message_json` is needed only once this order has refused something (to recognise
        a refused message delivered again); the ledger computes it only then.
        """
        if message_json is not None and message_json in self.refused:
            return None
        proposals: list[Proposal] = []
        effects: list[FillEffect] = []
        status, filled, avg = self.status, self.filled, self.avg_fill_price
        commission = r.commission if r.commission is not None else ZERO
        new_fill: Fill | None = None
        replaced: Fill | None = None

        if r.exec_id is not None and r.last_quantity is not None and r.last_price is not None:
            known = self.fills.get(r.exec_id)
            if known is not None:
                if r.commission is not None and r.commission != known.commission:
                    # A commission report for a fill we have: a correction of that fill alone.
                    replaced, new_fill = known, Fill(known.exec_id, known.quantity,
                                                     known.price, commission)
            else:
                base, suffix = split_exec_id(r.exec_id)
                current = self.exec_by_base.get(base)
                incoming = Fill(r.exec_id, r.last_quantity, r.last_price, commission)
                if current is None:
                    new_fill = incoming
                elif _suffix_key(suffix) > _suffix_key(split_exec_id(current)[1]):
                    replaced, new_fill = self.fills[current], incoming
                # else: an older version of a fill already corrected: nothing new.
        elif r.filled_quantity > filled:
            delta = r.filled_quantity - filled
            price = div(r.avg_fill_price * r.filled_quantity - avg * filled, delta)
            if price <= 0:
                return Refusal("inconsistent_report",
                               "cumulative quantity and average price imply a non-positive fill price")
            new_fill = Fill(f"implied:{self.intent_id}:{r.filled_quantity}", delta, price,
                            commission)

        if new_fill is not None:
            removed = replaced.quantity if replaced is not None else ZERO
            total = filled - removed + new_fill.quantity
            if total > self.quantity:
                return Refusal("over_fill", f"fills would total {total} of {self.quantity}")
            notional = avg * filled - (replaced.quantity * replaced.price if replaced else ZERO)
            new_avg = div(notional + new_fill.quantity * new_fill.price, total) if total else ZERO
            if replaced is not None:
                proposals.append(Proposal(ev.OrderFillCorrected, {
                    "status": status, "exec_id": new_fill.exec_id,
                    "replaced_exec_id": replaced.exec_id, "fill_quantity": new_fill.quantity,
                    "fill_price": new_fill.price, "commission": new_fill.commission,
                    "filled_quantity": total, "avg_fill_price": new_avg}))
            else:
                kind = T.FILL_COMPLETE if total == self.quantity else T.FILL_PARTIAL
                step = next_status(status, kind)
                if step is None:
                    return Refusal("transition_not_allowed",
                                   f"{kind.value} is not allowed in {status.value}")
                status, note = step
                cls = ev.OrderFilled if status == S.FILLED else ev.OrderPartiallyFilled
                proposals.append(Proposal(cls, {
                    "status": status, "broker_order_id": r.order_id,
                    "exec_id": new_fill.exec_id, "fill_quantity": new_fill.quantity,
                    "fill_price": new_fill.price, "commission": new_fill.commission,
                    "filled_quantity": total, "avg_fill_price": new_avg, "note": note}))
            effects.append(FillEffect(new_fill.exec_id, replaced, new_fill))
            filled = total

        transition = REPORT_TRANSITION[r.status]
        if transition in (T.FILL_PARTIAL, T.FILL_COMPLETE):
            if transition == T.FILL_COMPLETE and filled < self.quantity:
                return Refusal("inconsistent_report",
                               f"FILLED report but only {filled} of {self.quantity} filled")
            if not proposals and next_status(status, transition) is None and status != S.FILLED:
                return Refusal("transition_not_allowed",
                               f"{transition.value} is not allowed in {status.value}")
        elif new_fill is not None and transition in (T.SUBMIT, T.ACK):
            pass  # the fill in this report already implies the order is working
        elif _SAME_STATE.get(transition) != status:
            step = next_status(status, transition)
            if step is None:
                return Refusal("transition_not_allowed",
                               f"{transition.value} is not allowed in {status.value}")
            target, note = step
            fields: dict[str, Any] = {"status": target}
            if transition in (T.SUBMIT, T.ACK):
                fields["broker_order_id"] = r.order_id
            else:
                fields["reason"] = r.reject_reason or note
            proposals.append(Proposal(_STATUS_EVENT[transition], fields))
        return (proposals, effects) if proposals else None

    def decide_status(self, transition: OrderTransition, reason: str) -> Proposal | Refusal:
        """Ledger-initiated transitions: DENY, REQUEST_CANCEL, CANCEL_REJECTED, EXPIRE."""
        step = next_status(self.status, transition)
        if step is None:
            return Refusal("transition_not_allowed",
                           f"{transition.value} is not allowed in {self.status.value}")
        target, note = step
        if target == PREVIOUS and transition == T.CANCEL_REJECTED:
            target = self.status_before_cancel
        cls: type[ev.OrderEvent] = {
            T.DENY: ev.OrderDenied,
            T.REQUEST_CANCEL: ev.OrderCancelRequested,
            T.CANCEL_REJECTED: ev.OrderCancelRejected,
            T.EXPIRE: ev.OrderExpired,
        }[transition]
        return Proposal(cls, {"status": target, "reason": reason or note})
