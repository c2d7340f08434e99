"""What a reconciliation finds (breaks) and what `--apply` may book for each.

A break names one disagreement between the ledger and the broker, with the
evidence of both sides as flat string maps (Decimals as exact strings), so it
renders the same in a table, JSON and CSV, and is stored as such on the
`ReconciliationRecorded` event.

A break may carry bookings: the facts the broker proves, to be booked through
the ledger's normal decision path (never by editing anything). A break without
bookings is reported only (e.g. a position: positions follow from fills).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from contracts.messages import ExecutionReport, OrderIntent


class BreakKind(StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"  # the broker has it, the ledger does not
    MISSING_AT_BROKER = "missing_at_broker"  # the ledger has it, the broker does not
    QUANTITY_MISMATCH = "quantity_mismatch"
    AVG_COST_MISMATCH = "avg_cost_mismatch"
    FILL_MISMATCH = "fill_mismatch"  # same execId, different quantity or price
    STATUS_MISMATCH = "status_mismatch"
    UNKNOWN_ORDER = "unknown_order"  # an order (and its fills) the ledger never saw
    CORRECTION_PENDING = "correction_pending"  # the broker corrected a fill the ledger has
    COMMISSION_MISMATCH = "commission_mismatch"


BREAK_KINDS: tuple[str, ...] = tuple(k.value for k in BreakKind)

Item = Literal["position", "execution", "order"]
Evidence = Mapping[str, str | None]


# --------------------------------------------------------------------------- bookings


@dataclass(frozen=True, slots=True)
class BookExternalOrder:
    """An order first seen at the broker: its intent (origin "broker") and an
    acknowledgement carrying the broker's order id, so later runs match it."""

    intent: OrderIntent
    ack: ExecutionReport


@dataclass(frozen=True, slots=True)
class ReopenForFills:
    """The ledger holds the order in a terminal state that refuses fills
    (REJECTED, DENIED, EXPIRED) and the broker proves fills: correct the status
    to ACKNOWLEDGED first (`correct_order_status`), then the fills follow."""

    intent_id: UUID
    previous_status: str
    reason: str


@dataclass(frozen=True, slots=True)
class BookFill:
    """A fill (or a correction, or a commission) as the report a live fill makes."""

    report: ExecutionReport


@dataclass(frozen=True, slots=True)
class SettleStatus:
    """Bring the order to the broker's status once its fills are booked: through
    a report when the transition table allows it, else `correct_order_status`."""

    intent_id: UUID
    status: str  # ledger vocabulary
    broker_status: str
    broker_filled: Decimal
    order_id: str
    reject_reason: str | None
    time: datetime


Booking = BookExternalOrder | ReopenForFills | BookFill | SettleStatus

# Bookings run in phases so each one finds the ledger in the state it needs:
# the order exists, then it may take fills, then its fills, then its status.
PHASE: dict[type[Any], int] = {
    BookExternalOrder: 0,
    ReopenForFills: 1,
    BookFill: 2,
    SettleStatus: 3,
}


# --------------------------------------------------------------------------- breaks


@dataclass(frozen=True, slots=True)
class Break:
    kind: BreakKind
    item: Item
    key: str  # "DU1/AAPL", an execId, an intent id or "perm:<permId>"
    account: str
    symbol: str
    ledger: Evidence
    broker: Evidence
    detail: str
    bookings: tuple[Booking, ...] = field(default=())

    @property
    def remedy(self) -> str:
        """What --apply books for this break, in words."""
        if not self.bookings:
            return "report only"
        return "; ".join(_describe(b) for b in self.bookings)

    def as_row(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "item": self.item,
            "key": self.key,
            "account": self.account,
            "symbol": self.symbol,
            "ledger": dict(self.ledger),
            "broker": dict(self.broker),
            "detail": self.detail,
            "remedy": self.remedy,
        }


def _describe(b: Booking) -> str:
    if isinstance(b, BookExternalOrder):
        return f"book external order {b.intent.intent_id}"
    if isinstance(b, ReopenForFills):
        return f"correct status {b.previous_status} -> ACKNOWLEDGED"
    if isinstance(b, BookFill):
        return f"book fill {b.report.exec_id}"
    return f"settle status {b.status}"


def count_by_kind(breaks: list[Break]) -> dict[str, int]:
    """Breaks per kind, every kind present (0 when none): what a gauge needs."""
    counts = dict.fromkeys(BREAK_KINDS, 0)
    for b in breaks:
        counts[b.kind.value] += 1
    return counts
