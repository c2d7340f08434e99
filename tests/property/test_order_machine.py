"""The Order state machine against an independent model of its table (DESIGN.md §3, issue 2).

The model below is written from the design text, not from `domain.order_table`:
- NEW may be denied, submitted, or (first seen at the venue) acknowledged, rejected,
  canceled, partially filled or filled; the ledger may also request a cancel or expire it;
- SUBMITTED -> ACKNOWLEDGED, REJECTED, CANCELED (IOC/FOK), PENDING_CANCEL, fills, EXPIRED;
- ACKNOWLEDGED -> fills, PENDING_CANCEL, CANCELED, EXPIRED, REJECTED (stop-limit);
- PARTIAL_FILL -> itself, FILLED, PENDING_CANCEL, CANCELED, EXPIRED;
- PENDING_CANCEL -> CANCELED, FILLED, a partial fill (the cancel stays pending), a late
  acknowledgement (stays), EXPIRED, REJECTED, or back where it was when the cancel is
  rejected (PARTIAL_FILL if something filled meanwhile);
- CANCELED -> FILLED (late fill), a late partial fill keeps CANCELED;
- DENIED, REJECTED, EXPIRED, FILLED are terminal.
A report repeating the current status changes nothing. Executions: an unknown exec id is a
fill; a known one a duplicate; a higher suffix of a known base a correction (in any state,
not a transition); fills past the order quantity are refused. A refused message is one
OrderMessageRefused event and moves nothing.

The machine drives the real `Ledger` (reports through `handle`, ledger decisions through
`request_cancel` and `Order.decide_status` + `Ledger.apply`) for up to three orders on one
symbol, and checks statuses, filled quantities and the net position after every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from contracts import ContractMessage
from domain import events as ev
from domain.ledger import Ledger, LedgerConfig, Outcome
from domain.order import Refusal
from domain.order_table import OrderTransition
from tests.support.messages import NOW, at, fill, intent, report, uid

QTY = Decimal(10)
PRICES = [Decimal(p) for p in ("99.5", "100", "100.25", "101", "98.125")]

TERMINAL = {"DENIED", "REJECTED", "EXPIRED", "FILLED"}
PREVIOUS = "<previous>"
# (state, what happens) -> next state. "PARTIAL"/"FILL": a new execution leaving the order
# part-filled / completing it. Reports: SUBMIT, ACK, CANCEL, REJECT. The ledger's own
# decisions: DENY, REQUEST_CANCEL, CANCEL_REJECTED, EXPIRE.
TABLE: dict[str, dict[str, str]] = {
    "NEW": {
        "DENY": "DENIED",
        "SUBMIT": "SUBMITTED",
        "ACK": "ACKNOWLEDGED",
        "REJECT": "REJECTED",
        "CANCEL": "CANCELED",
        "PARTIAL": "PARTIAL_FILL",
        "FILL": "FILLED",
        "REQUEST_CANCEL": "PENDING_CANCEL",
        "EXPIRE": "EXPIRED",
    },
    "SUBMITTED": {
        "ACK": "ACKNOWLEDGED",
        "REJECT": "REJECTED",
        "CANCEL": "CANCELED",
        "REQUEST_CANCEL": "PENDING_CANCEL",
        "PARTIAL": "PARTIAL_FILL",
        "FILL": "FILLED",
        "EXPIRE": "EXPIRED",
    },
    "ACKNOWLEDGED": {
        "PARTIAL": "PARTIAL_FILL",
        "FILL": "FILLED",
        "REQUEST_CANCEL": "PENDING_CANCEL",
        "CANCEL": "CANCELED",
        "EXPIRE": "EXPIRED",
        "REJECT": "REJECTED",
    },
    "PARTIAL_FILL": {
        "PARTIAL": "PARTIAL_FILL",
        "FILL": "FILLED",
        "REQUEST_CANCEL": "PENDING_CANCEL",
        "CANCEL": "CANCELED",
        "EXPIRE": "EXPIRED",
    },
    "PENDING_CANCEL": {
        "CANCEL": "CANCELED",
        "FILL": "FILLED",
        "PARTIAL": "PENDING_CANCEL",
        "ACK": "PENDING_CANCEL",
        "EXPIRE": "EXPIRED",
        "REJECT": "REJECTED",
        "CANCEL_REJECTED": PREVIOUS,
    },
    "CANCELED": {"FILL": "FILLED", "PARTIAL": "CANCELED"},
    "DENIED": {},
    "REJECTED": {},
    "EXPIRED": {},
    "FILLED": {},
}
SAME_STATE = {
    "SUBMIT": "SUBMITTED",
    "ACK": "ACKNOWLEDGED",
    "CANCEL": "CANCELED",
    "REJECT": "REJECTED",
}
REPORT_STATUS = {
    "SUBMIT": "SUBMITTED",
    "ACK": "ACKNOWLEDGED",
    "CANCEL": "CANCELED",
    "REJECT": "REJECTED",
}
LEDGER_DECISION = {
    "DENY": OrderTransition.DENY,
    "CANCEL_REJECTED": OrderTransition.CANCEL_REJECTED,
    "EXPIRE": OrderTransition.EXPIRE,
}


@dataclass
class ModelOrder:
    intent_id: UUID
    side: str
    status: str = "NEW"
    before_cancel: str = "NEW"
    seen: set[str] = field(default_factory=set)  # SUBMIT / ACK reports applied
    # exec base -> (suffix, quantity, price)
    fills: dict[str, tuple[int, Decimal, Decimal]] = field(default_factory=dict)
    first_terminal: str | None = None
    sent: list[ContractMessage] = field(default_factory=list)

    @property
    def filled(self) -> Decimal:
        return sum((q for _, q, _ in self.fills.values()), Decimal(0))

    @property
    def notional(self) -> Decimal:
        return sum((q * p for _, q, p in self.fills.values()), Decimal(0))

    @property
    def signed_filled(self) -> Decimal:
        return self.filled if self.side == "BUY" else -self.filled

    def move(self, target: str) -> None:
        if target == "PENDING_CANCEL" and self.status != "PENDING_CANCEL":
            self.before_cancel = self.status
        self.status = target
        if target in TERMINAL and self.first_terminal is None:
            self.first_terminal = target


class OrderMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger(LedgerConfig())
        self.model: dict[UUID, ModelOrder] = {}
        self.step = 0
        self.next_exec = 0

    # ------------------------------------------------------------------ helpers

    def _now(self) -> Any:
        self.step += 1
        return at(self.step)

    def _handle(self, m: ModelOrder, msg: ContractMessage) -> tuple[Outcome, list[Any]]:
        m.sent.append(msg)
        outcome = self.ledger.handle(msg, f"test@{self.step}", NOW)
        return outcome, self.ledger.drain()

    def _position(self) -> Decimal:
        pos = self.ledger.positions.get(("SIM", "AAPL"))
        return pos.quantity if pos is not None else Decimal(0)

    def _expect_refused(
        self,
        m: ModelOrder,
        outcome: Outcome,
        events: list[Any],
        kind: str,
        before: tuple[Decimal, Decimal],
    ) -> None:
        assert outcome == Outcome.ANOMALY, (outcome, kind)
        assert [type(e) for e in events] == [ev.OrderMessageRefused], events
        assert events[0].kind == kind
        assert (self._position(), self.ledger.orders[m.intent_id].filled) == before

    # ------------------------------------------------------------------ rules

    def _open(self, side: str) -> UUID:
        iid = uid(len(self.model) + 1)
        m = ModelOrder(iid, side)
        self.model[iid] = m
        outcome, events = self._handle(
            m, intent(iid, direction=side, quantity=QTY, timestamp=self._now())
        )
        assert outcome == Outcome.APPLIED
        assert ev.OrderIntentRecorded in [type(e) for e in events]
        return iid

    @initialize(target=orders, side=st.sampled_from(["BUY", "SELL"]))
    def first_order(self, side: str) -> UUID:
        return self._open(side)

    @precondition(lambda self: len(self.model) < 3)
    @rule(target=orders, side=st.sampled_from(["BUY", "SELL"]))
    def new_order(self, side: str) -> UUID:
        return self._open(side)

    @rule(iid=orders, what=st.sampled_from(["SUBMIT", "ACK", "CANCEL", "REJECT"]))
    def status_report(self, iid: UUID, what: str) -> None:
        m = self.model[iid]
        before = (self._position(), m.filled)
        msg = report(
            iid,
            REPORT_STATUS[what],
            filled=m.filled,
            avg=0,
            timestamp=self._now(),
            reject_reason="venue says no" if what == "REJECT" else None,
        )
        outcome, events = self._handle(m, msg)
        if what in m.seen or SAME_STATE[what] == m.status:
            # A repeat: the state it reports is the current one, or the venue said so
            # before and the order has moved on.
            assert outcome == Outcome.DUPLICATE and events == []
            return
        target = TABLE[m.status].get(what)
        if target is None:
            self._expect_refused(m, outcome, events, "transition_not_allowed", before)
            return
        assert outcome == Outcome.APPLIED
        assert len(events) == 1
        m.seen.add(what)  # the same status report again is a re-delivery
        # A late acknowledgement while a cancel is pending: a rejected cancel returns there.
        late_ack = what == "ACK" and m.status == "PENDING_CANCEL"
        if late_ack and m.before_cancel in ("NEW", "SUBMITTED"):
            m.before_cancel = "ACKNOWLEDGED"
        m.move(target)

    @rule(iid=orders, what=st.sampled_from(["DENY", "REQUEST_CANCEL", "CANCEL_REJECTED", "EXPIRE"]))
    def ledger_decision(self, iid: UUID, what: str) -> None:
        m = self.model[iid]
        target = TABLE[m.status].get(what)
        order = self.ledger.orders[iid]
        before = (self._position(), order.filled, order.status)
        if what == "REQUEST_CANCEL":
            outcome = self.ledger.request_cancel(iid, "test", "test", NOW)
            events = self.ledger.drain()
            if target is None:
                assert outcome == Outcome.DUPLICATE and events == []
            else:
                assert outcome == Outcome.APPLIED
                assert [type(e) for e in events] == [ev.OrderCancelRequested]
                m.move(target)
            return
        decision = order.decide_status(LEDGER_DECISION[what], "test")
        if target is None:
            assert isinstance(decision, Refusal), (m.status, what)
            assert (self._position(), order.filled, order.status) == before
            return
        assert not isinstance(decision, Refusal), (m.status, what, decision)
        if target == PREVIOUS:
            target = m.before_cancel
        assert decision.fields["status"] == target
        self.ledger.apply(
            decision.cls(
                originator_id=iid,
                originator_version=order.version + 1,
                occurred_at=self._now(),
                recorded_at=NOW,
                source="test",
                **decision.fields,
            )
        )
        m.move(target)

    @rule(iid=orders, qty=st.integers(1, 6), price=st.sampled_from(PRICES))
    def new_execution(self, iid: UUID, qty: int, price: Decimal) -> None:
        m = self.model[iid]
        self.next_exec += 1
        base = f"{self.next_exec:08x}.{iid.int:02d}"
        total = m.filled + qty
        status = "FILLED" if total == QTY else "PARTIAL_FILL"
        before = (self._position(), m.filled)
        msg = fill(
            iid,
            f"{base}.01",
            qty,
            price,
            cumulative=min(total, QTY),
            status=status,
            timestamp=self._now(),
        )
        outcome, events = self._handle(m, msg)
        if total > QTY:
            self._expect_refused(m, outcome, events, "over_fill", before)
            return
        target = TABLE[m.status].get("FILL" if total == QTY else "PARTIAL")
        if target is None:
            self._expect_refused(m, outcome, events, "transition_not_allowed", before)
            return
        assert outcome == Outcome.APPLIED, (m.status, outcome, events)
        kinds = [type(e) for e in events]
        assert kinds[:2] in (
            [ev.OrderPartiallyFilled, ev.PositionFillApplied],
            [ev.OrderFilled, ev.PositionFillApplied],
        ), kinds
        if m.status == "PENDING_CANCEL" and target == "PENDING_CANCEL":
            m.before_cancel = "PARTIAL_FILL"
        m.fills[base] = (1, Decimal(qty), price)
        m.move(target)

    @precondition(lambda self: any(m.fills for m in self.model.values()))
    @rule(data=st.data(), qty=st.integers(1, 6), price=st.sampled_from(PRICES))
    def correction(self, data: st.DataObject, qty: int, price: Decimal) -> None:
        m = data.draw(st.sampled_from([m for m in self.model.values() if m.fills]))
        base = data.draw(st.sampled_from(sorted(m.fills)))
        suffix, old_qty, _ = m.fills[base]
        total = m.filled - old_qty + qty
        status = "FILLED" if total == QTY else "PARTIAL_FILL"
        before = (self._position(), m.filled)
        msg = fill(
            m.intent_id,
            f"{base}.{suffix + 1:02d}",
            qty,
            price,
            cumulative=min(total, QTY),
            status=status,
            timestamp=self._now(),
        )
        outcome, events = self._handle(m, msg)
        if total > QTY:
            self._expect_refused(m, outcome, events, "over_fill", before)
            return
        assert outcome == Outcome.APPLIED, (m.status, outcome, events)
        assert [type(e) for e in events] == [ev.OrderFillCorrected, ev.PositionFillCorrected]
        m.fills[base] = (suffix + 1, Decimal(qty), price)
        # Not a transition of its own, but one completing the quantity completes the order.
        completes = TABLE[m.status].get("FILL")
        if total == QTY and m.status != "FILLED" and completes is not None:
            m.move(completes)

    @precondition(lambda self: any(m.sent for m in self.model.values()))
    @rule(data=st.data())
    def deliver_again(self, data: st.DataObject) -> None:
        """An exact earlier message again changes nothing and records nothing."""
        m = data.draw(st.sampled_from([m for m in self.model.values() if m.sent]))
        msg = data.draw(st.sampled_from(m.sent))
        order = self.ledger.orders[m.intent_id]
        before = (self._position(), order.filled, order.status, dict(order.fills))
        outcome = self.ledger.handle(msg, "test@again", NOW)
        events = self.ledger.drain()
        assert (self._position(), order.filled, order.status, dict(order.fills)) == before
        assert outcome == Outcome.DUPLICATE, (outcome, msg, m.status)
        assert events == []

    # ------------------------------------------------------------------ invariants

    @invariant()
    def statuses_and_quantities_agree_with_the_model(self) -> None:
        for iid, m in self.model.items():
            order = self.ledger.orders[iid]
            assert order.status.value == m.status, (iid, order.status, m.status)
            assert order.filled == m.filled
            assert order.is_terminal == (m.status in TERMINAL)
            if m.filled:
                # Average price: the fills' notional over their quantity (rounding aside).
                assert abs(order.avg_fill_price * m.filled - m.notional) < Decimal("1e-20")

    @invariant()
    def terminal_states_never_change(self) -> None:
        for iid, m in self.model.items():
            if m.first_terminal is not None:
                assert self.ledger.orders[iid].status.value == m.first_terminal

    @invariant()
    def the_position_is_the_sum_of_what_the_orders_filled(self) -> None:
        expected = sum((m.signed_filled for m in self.model.values()), Decimal(0))
        assert self._position() == expected

    @invariant()
    def order_versions_follow_the_ledgers_count(self) -> None:
        for iid in self.model:
            assert self.ledger.orders[iid].version == self.ledger.versions[iid]


OrderMachine.TestCase.settings = settings(
    max_examples=45,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_order_machine = OrderMachine.TestCase


def test_the_model_has_no_exit_from_a_terminal_state() -> None:
    assert all(not TABLE[s] for s in TERMINAL)
