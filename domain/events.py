"""Every fact the ledger records, as immutable past-tense events.

Each event carries the two times of DESIGN.md §3: `occurred_at` (when it
happened at the venue or source) and `recorded_at` (when the ledger wrote it,
from the injected clock), plus `source`, the coordinates of the input that
caused it ("file:/x.jsonl@12", "kafka:exec_reports:0@991", "cli", or "" for an
event derived from another, such as a kill-switch flatten order).

Events hold the state *after* the change where that makes replay trivial and
audit readable (a position event states the resulting quantity and average
price), so applying an event never re-runs a decision.

Events are immutable by contract: nothing assigns to an event's fields once it
is built (the codec, the hash chain and every projection rely on that). The
dataclasses are not declared `frozen`, because a frozen dataclass's `__init__`
sets each field through `object.__setattr__`: three times the cost of building
the event, paid for every event decided and every event decoded on a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID


@dataclass(slots=True, kw_only=True)
class LedgerEvent:
    originator_id: UUID
    originator_version: int
    occurred_at: datetime
    recorded_at: datetime
    source: str

    @property
    def timestamp(self) -> datetime:
        """eventsourcing's name for the time an event was recorded."""
        return self.recorded_at


# --------------------------------------------------------------------------- Order


@dataclass(slots=True, kw_only=True)
class OrderEvent(LedgerEvent):
    status: str  # the order's status after this event


@dataclass(slots=True, kw_only=True)
class OrderIntentRecorded(OrderEvent):
    symbol: str
    side: str
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    account: str
    origin: str  # "intent" (the strategy), "killswitch" (flatten), "broker" (reconciliation)


@dataclass(slots=True, kw_only=True)
class OrderDenied(OrderEvent):
    reason: str


@dataclass(slots=True, kw_only=True)
class OrderSubmitted(OrderEvent):
    broker_order_id: str


@dataclass(slots=True, kw_only=True)
class OrderAcknowledged(OrderEvent):
    broker_order_id: str


@dataclass(slots=True, kw_only=True)
class OrderFillEvent(OrderEvent):
    broker_order_id: str
    exec_id: str
    fill_quantity: Decimal
    fill_price: Decimal
    commission: Decimal
    filled_quantity: Decimal  # cumulative, after this fill
    avg_fill_price: Decimal  # after this fill
    note: str  # why a race row allowed it ("late fill after cancel"), else ""


@dataclass(slots=True, kw_only=True)
class OrderPartiallyFilled(OrderFillEvent):
    pass


@dataclass(slots=True, kw_only=True)
class OrderFilled(OrderFillEvent):
    pass


@dataclass(slots=True, kw_only=True)
class OrderFillCorrected(OrderEvent):
    """An execution correction: `exec_id` replaces `replaced_exec_id` (same base)."""

    exec_id: str
    replaced_exec_id: str
    fill_quantity: Decimal
    fill_price: Decimal
    commission: Decimal
    filled_quantity: Decimal
    avg_fill_price: Decimal


@dataclass(slots=True, kw_only=True)
class OrderCancelRequested(OrderEvent):
    reason: str


@dataclass(slots=True, kw_only=True)
class OrderCancelRejected(OrderEvent):
    reason: str


@dataclass(slots=True, kw_only=True)
class OrderCanceled(OrderEvent):
    reason: str


@dataclass(slots=True, kw_only=True)
class OrderRejected(OrderEvent):
    reason: str


@dataclass(slots=True, kw_only=True)
class OrderExpired(OrderEvent):
    reason: str


@dataclass(slots=True, kw_only=True)
class OrderMessageRefused(OrderEvent):
    """An anomaly: a valid message the order refused (state machine, over-fill, conflict).

    Nothing of the message is applied: a refused fill moves no position.
    """

    kind: str  # transition_not_allowed | over_fill | inconsistent_report | conflicting_intent
    reason: str
    message: str  # the offending message, canonical JSON


@dataclass(slots=True, kw_only=True)
class OrderStatusCorrected(OrderEvent):
    """A status the broker proves, booked by reconciliation outside the transition table.

    The only event that may leave a terminal state; it always names its run.
    """

    previous_status: str
    reason: str
    run_id: str


# --------------------------------------------------------------------------- reconciliation


@dataclass(slots=True, kw_only=True)
class ReconciliationRecorded(LedgerEvent):
    """One reconciliation run against a broker: when, what it found, what it booked."""

    run_id: str
    broker: str
    result: str  # "agreed" | "breaks" | "applied"
    counts: str  # JSON object: compared items per kind and breaks per kind
    breaks: str  # JSON list of breaks with their evidence
    applied: bool


# --------------------------------------------------------------------------- held reports


@dataclass(slots=True, kw_only=True)
class ExecutionReportHeld(LedgerEvent):
    """A report whose intent has not arrived yet (intents and reports travel apart)."""

    intent_id: UUID
    report: str


# --------------------------------------------------------------------------- Position


@dataclass(slots=True, kw_only=True)
class PositionEvent(LedgerEvent):
    account: str
    symbol: str
    exec_id: str
    intent_id: UUID
    quantity: Decimal  # signed quantity after
    cost: Decimal  # open cost basis after (quantity x price of what is open; 0 when flat)
    avg_price: Decimal  # average open price after: cost / |quantity| (0 when flat)
    realized_pnl: Decimal  # cumulative, after
    commission: Decimal  # cumulative, after
    cash_delta: Decimal  # effect on the account's cash
    multiplier: Decimal
    side: str  # of the fill (the order's side)
    fill_quantity: Decimal
    fill_price: Decimal
    fill_commission: Decimal


@dataclass(slots=True, kw_only=True)
class PositionFillApplied(PositionEvent):
    pass


@dataclass(slots=True, kw_only=True)
class PositionFillCorrected(PositionEvent):
    replaced_exec_id: str


# --------------------------------------------------------------------------- Account


@dataclass(slots=True, kw_only=True)
class AccountOpened(LedgerEvent):
    account: str
    currency: str
    starting_equity: Decimal
    day: date


@dataclass(slots=True, kw_only=True)
class AccountDayRolled(LedgerEvent):
    """A new UTC day began: the closed day's return, the new day's opening equity."""

    closed_day: date
    closing_equity: Decimal
    daily_return: Decimal
    day: date
    opening_equity: Decimal
    active: bool  # the closed day held a position or traded: its return counts for the PSR


# --------------------------------------------------------------------------- market data


@dataclass(slots=True, kw_only=True)
class MarketEvent(LedgerEvent):
    symbol: str


@dataclass(slots=True, kw_only=True)
class MarketBarRecorded(MarketEvent):
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    bar_size: str | None


@dataclass(slots=True, kw_only=True)
class MarketTickRecorded(MarketEvent):
    price: Decimal
    size: Decimal
    tick_type: str


@dataclass(slots=True, kw_only=True)
class MarketOfiRecorded(MarketEvent):
    ofi_value: Decimal
    volume_imbalance: Decimal
    bid_volume: Decimal
    ask_volume: Decimal


# --------------------------------------------------------------------------- KillSwitch


@dataclass(slots=True, kw_only=True)
class KillSwitchEvent(LedgerEvent):
    state: str  # after
    reason: str
    by: str  # operator name, or "risk-policy"
    db_role: str
    os_user: str


@dataclass(slots=True, kw_only=True)
class KillSwitchTripped(KillSwitchEvent):
    trigger: str  # daily_loss | drawdown | psr | manual
    action: str  # HALT_AND_FLATTEN | HALT_AND_INVESTIGATE | HALT
    equity: Decimal
    high_water_mark: Decimal
    measure: Decimal  # the value that breached: loss fraction, drawdown fraction, PSR
    threshold: Decimal


@dataclass(slots=True, kw_only=True)
class KillSwitchReset(KillSwitchEvent):
    previous_state: str


# --------------------------------------------------------------------------- Quarantine


@dataclass(slots=True, kw_only=True)
class MessageQuarantined(LedgerEvent):
    """An input that failed validation: kept whole, with where it came from and why."""

    message_source: str
    message_position: int
    raw: str  # the bytes as text (undecodable bytes are backslash-escaped)
    raw_hex: str  # the exact bytes when they are not valid UTF-8, else ""
    errors: str  # JSON list of {"loc", "msg"}


EVENT_CLASSES: tuple[type[LedgerEvent], ...] = (
    OrderIntentRecorded,
    OrderDenied,
    OrderSubmitted,
    OrderAcknowledged,
    OrderPartiallyFilled,
    OrderFilled,
    OrderFillCorrected,
    OrderCancelRequested,
    OrderCancelRejected,
    OrderCanceled,
    OrderRejected,
    OrderExpired,
    OrderMessageRefused,
    OrderStatusCorrected,
    ReconciliationRecorded,
    ExecutionReportHeld,
    PositionFillApplied,
    PositionFillCorrected,
    AccountOpened,
    AccountDayRolled,
    MarketBarRecorded,
    MarketTickRecorded,
    MarketOfiRecorded,
    KillSwitchTripped,
    KillSwitchReset,
    MessageQuarantined,
)
