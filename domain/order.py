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

_STATUS: dict[str, OrderStatus] = {s.value: s for s in OrderStatus}

_SEEN_ON: dict[type[ev.OrderEvent], OrderTransition] = {
    ev.OrderCanceled: T.CANCEL,
    ev.OrderRejected: T.REJECT,
    ev.OrderExpired: T.EXPIRE,
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


def _suffix_key(suffix: str) -> tuple[int, str]:
    # Longer suffixes are later (".10" after ".9"); same length compares as text, which
    # orders fixed-width decimal and hexadecimal suffixes alike (".0a" after ".09").
    return (len(suffix), suffix.lower())


class _Duplicate:
    """The report re-delivers something already applied."""


_DUPLICATE = _Duplicate()


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
    # Status reports applied (SUBMIT, ACK, CANCEL, REJECT, EXPIRE): the same one again
    # is a re-delivery, even after the order moved on.
    seen: set[OrderTransition] = field(default_factory=set)
    # Commissions reported per execution: a report repeating one is a re-delivery.
    commissions_seen: dict[str, set[Decimal]] = field(default_factory=dict)
    # The highest cumulative quantity recorded from the broker's fills: implied fills are
    # measured from it, so a downward correction followed by an old cumulative report
    # does not invent a fill.
    high_filled: Decimal = ZERO

    @property
    def is_working(self) -> bool:
        return self.status in WORKING

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def signed_quantity(self) -> Decimal:
        return self.quantity if self.side == "BUY" else -self.quantity

    @property
    def signed_remaining(self) -> Decimal:
        """What is left to fill, signed by side."""
        left = self.quantity - self.filled
        return left if self.side == "BUY" else -left

    # ------------------------------------------------------------------ apply

    def apply(self, event: ev.OrderEvent) -> None:
        self.version = event.originator_version
        if isinstance(event, ev.OrderFillEvent):
            self._add_fill(
                Fill(event.exec_id, event.fill_quantity, event.fill_price, event.commission)
            )
            self.filled, self.avg_fill_price = event.filled_quantity, event.avg_fill_price
            self.high_filled = max(self.high_filled, event.filled_quantity)
            self._note_broker_id(event.broker_order_id)
        elif isinstance(event, ev.OrderFillCorrected):
            old = self.fills.pop(event.replaced_exec_id)
            self.commission -= old.commission
            self._add_fill(
                Fill(event.exec_id, event.fill_quantity, event.fill_price, event.commission)
            )
            self.filled, self.avg_fill_price = event.filled_quantity, event.avg_fill_price
        elif isinstance(event, ev.OrderCanceled | ev.OrderRejected | ev.OrderExpired):
            self.seen.add(_SEEN_ON[type(event)])
        elif isinstance(event, ev.OrderSubmitted):
            self._note_broker_id(event.broker_order_id)
            self.seen.add(T.SUBMIT)
        elif isinstance(event, ev.OrderAcknowledged):
            self._note_broker_id(event.broker_order_id)
            self.seen.add(T.ACK)
            if self.status == S.PENDING_CANCEL and self.status_before_cancel in (
                S.NEW,
                S.SUBMITTED,
            ):
                self.status_before_cancel = S.ACKNOWLEDGED
        elif isinstance(event, ev.OrderMessageRefused):
            self.refused.add(event.message)
        elif isinstance(event, ev.OrderStatusCorrected):
            # The broker proved a different status: messages refused under the old one
            # must be decided afresh, not recognised as duplicates.
            self.refused.clear()
        if event.status == S.PENDING_CANCEL and self.status != S.PENDING_CANCEL:
            self.status_before_cancel = self.status
        elif (
            self.status == S.PENDING_CANCEL
            and event.status == S.PENDING_CANCEL
            and isinstance(event, ev.OrderFillEvent)
        ):
            self.status_before_cancel = S.PARTIAL_FILL
        self.status = _STATUS[event.status]  # a dict lookup: cheaper than an Enum call

    def _note_broker_id(self, broker_order_id: str) -> None:
        # A durable id (IBKR permId) replaces a session-scoped one ("oid:<orderId>").
        if broker_order_id and (
            not self.broker_order_id or self.broker_order_id.startswith("oid:")
        ):
            self.broker_order_id = broker_order_id

    def _add_fill(self, fill: Fill) -> None:
        self.fills[fill.exec_id] = fill
        self.commissions_seen.setdefault(fill.exec_id, set()).add(fill.commission)
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
        incoming = self._incoming_fill(r)
        if isinstance(incoming, _Duplicate):
            return None
        if isinstance(incoming, Refusal):
            return incoming
        proposals: list[Proposal] = []
        effects: list[FillEffect] = []
        status, filled = self.status, self.filled
        if incoming is not None:
            new_fill, replaced = incoming
            decided = self._decide_fill(r, new_fill, replaced)
            if isinstance(decided, Refusal):
                return decided
            proposal, status, filled = decided
            proposals.append(proposal)
            effects.append(FillEffect(new_fill.exec_id, replaced, new_fill))
        outcome = self._decide_status_part(r, status, filled, had_fill=incoming is not None)
        if isinstance(outcome, Refusal):
            return outcome
        if outcome is not None:
            proposals.append(outcome)
        return (proposals, effects) if proposals else None

    def _incoming_fill(
        self, r: ExecutionReport
    ) -> tuple[Fill, Fill | None] | Refusal | _Duplicate | None:
        """The fill a report brings: (new fill, the fill it replaces or None), None when it
        brings none, _DUPLICATE when it is one already applied (or superseded)."""
        commission = r.commission if r.commission is not None else ZERO
        if r.exec_id is not None and r.last_quantity is not None and r.last_price is not None:
            known = self.fills.get(r.exec_id)
            if known is not None:
                # A commission report (non-zero, different) updates the fill's commission;
                # anything else about a known execution, such as the original fill report
                # delivered again without its commission, is a re-delivery.
                if commission != 0 and commission not in self.commissions_seen.get(
                    known.exec_id, ()
                ):
                    return Fill(known.exec_id, known.quantity, known.price, commission), known
                return _DUPLICATE
            base, suffix = split_exec_id(r.exec_id)
            current = self.exec_by_base.get(base)
            fill = Fill(r.exec_id, r.last_quantity, r.last_price, commission)
            if current is None:
                return fill, None
            if _suffix_key(suffix) > _suffix_key(split_exec_id(current)[1]):
                return fill, self.fills[current]
            return _DUPLICATE  # an older version of a fill already corrected
        reported = max(self.filled, self.high_filled)
        if r.filled_quantity > reported:
            delta = r.filled_quantity - reported
            if reported == self.filled:
                price = div(
                    r.avg_fill_price * r.filled_quantity - self.avg_fill_price * self.filled, delta
                )
            else:  # after a downward correction the averages no longer line up
                price = r.avg_fill_price
            if price <= 0:
                return Refusal(
                    "inconsistent_report",
                    "cumulative quantity and average price imply a non-positive fill price",
                )
            return Fill(
                f"implied:{self.intent_id}:{r.filled_quantity}", delta, price, commission
            ), None
        return None

    def _decide_fill(
        self, r: ExecutionReport, fill: Fill, replaced: Fill | None
    ) -> tuple[Proposal, OrderStatus, Decimal] | Refusal:
        filled, avg = self.filled, self.avg_fill_price
        removed = replaced.quantity if replaced is not None else ZERO
        total = filled - removed + fill.quantity
        if total > self.quantity:
            return Refusal("over_fill", f"fills would total {total} of {self.quantity}")
        notional = avg * filled - (replaced.quantity * replaced.price if replaced else ZERO)
        new_avg = div(notional + fill.quantity * fill.price, total) if total else ZERO
        kind = T.FILL_COMPLETE if total == self.quantity else T.FILL_PARTIAL
        status = self.status
        if replaced is not None:
            # Not a transition of its own, but a correction that completes the quantity
            # completes the order.
            if kind == T.FILL_COMPLETE and status != S.FILLED:
                step = next_status(status, kind)
                status = step[0] if step is not None else status
            return (
                Proposal(
                    ev.OrderFillCorrected,
                    {
                        "status": status,
                        "exec_id": fill.exec_id,
                        "replaced_exec_id": replaced.exec_id,
                        "fill_quantity": fill.quantity,
                        "fill_price": fill.price,
                        "commission": fill.commission,
                        "filled_quantity": total,
                        "avg_fill_price": new_avg,
                    },
                ),
                status,
                total,
            )
        step = next_status(status, kind)
        if step is None:
            return Refusal(
                "transition_not_allowed", f"{kind.value} is not allowed in {status.value}"
            )
        status, note = step
        cls = ev.OrderFilled if status == S.FILLED else ev.OrderPartiallyFilled
        return (
            Proposal(
                cls,
                {
                    "status": status,
                    "broker_order_id": r.order_id,
                    "exec_id": fill.exec_id,
                    "fill_quantity": fill.quantity,
                    "fill_price": fill.price,
                    "commission": fill.commission,
                    "filled_quantity": total,
                    "avg_fill_price": new_avg,
                    "note": note,
                },
            ),
            status,
            total,
        )

    def _decide_status_part(
        self, r: ExecutionReport, status: OrderStatus, filled: Decimal, *, had_fill: bool
    ) -> Proposal | Refusal | None:
        transition = REPORT_TRANSITION[r.status]
        if transition in (T.FILL_PARTIAL, T.FILL_COMPLETE):
            if transition == T.FILL_COMPLETE and filled < self.quantity:
                return Refusal(
                    "inconsistent_report",
                    f"FILLED report but only {filled} of {self.quantity} filled",
                )
            if not had_fill and next_status(status, transition) is None and status != S.FILLED:
                return Refusal(
                    "transition_not_allowed", f"{transition.value} is not allowed in {status.value}"
                )
            return None
        if transition in self.seen or (had_fill and transition in (T.SUBMIT, T.ACK)):
            return None  # a re-delivered status report, or one the fill already implies
        if _SAME_STATE.get(transition) == status:
            return None
        step = next_status(status, transition)
        if step is None:
            return Refusal(
                "transition_not_allowed", f"{transition.value} is not allowed in {status.value}"
            )
        target, note = step
        fields: dict[str, Any] = {"status": target}
        if transition in (T.SUBMIT, T.ACK):
            fields["broker_order_id"] = r.order_id
        else:
            fields["reason"] = r.reject_reason or note
        return Proposal(_STATUS_EVENT[transition], fields)

    def decide_status(self, transition: OrderTransition, reason: str) -> Proposal | Refusal:
        """Ledger-initiated transitions: DENY, REQUEST_CANCEL, CANCEL_REJECTED, EXPIRE."""
        step = next_status(self.status, transition)
        if step is None:
            return Refusal(
                "transition_not_allowed",
                f"{transition.value} is not allowed in {self.status.value}",
            )
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
