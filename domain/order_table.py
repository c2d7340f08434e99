"""The Order state machine: one explicit table, `(state, transition) -> state`.

This is the only place order states change. A pair that is not in the table is
refused (the ledger records an `OrderMessageRefused` anomaly and applies nothing,
so a refused fill never moves a position). Rows marked with a reason exist
because real venues produce them; the reason is stored on the event.

Reports may skip states (a broker does not always report each step), so NEW
may go straight to ACKNOWLEDGED, PARTIAL_FILL or FILLED: forward moves, not
anomalies. DENIED, REJECTED, EXPIRED and FILLED are terminal.

Compared with NautilusTrader's `OrderStatus::transition`: the same forward
edges; one difference is deliberate: a partial fill while a cancel is pending
keeps PENDING_CANCEL (the cancel is still outstanding) instead of moving to
PARTIAL_FILL, and the state to return to when the cancel is rejected is
tracked on the order.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    NEW = "NEW"
    DENIED = "DENIED"
    SUBMITTED = "SUBMITTED"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    PARTIAL_FILL = "PARTIAL_FILL"
    FILLED = "FILLED"
    PENDING_CANCEL = "PENDING_CANCEL"
    CANCELED = "CANCELED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class OrderTransition(StrEnum):
    DENY = "DENY"
    SUBMIT = "SUBMIT"
    ACK = "ACK"
    FILL_PARTIAL = "FILL_PARTIAL"
    FILL_COMPLETE = "FILL_COMPLETE"
    REQUEST_CANCEL = "REQUEST_CANCEL"
    CANCEL_REJECTED = "CANCEL_REJECTED"
    CANCEL = "CANCEL"
    REJECT = "REJECT"
    EXPIRE = "EXPIRE"


S = OrderStatus
T = OrderTransition

TERMINAL: frozenset[OrderStatus] = frozenset({S.DENIED, S.REJECTED, S.EXPIRED, S.FILLED})
WORKING: frozenset[OrderStatus] = frozenset(
    {S.NEW, S.SUBMITTED, S.ACKNOWLEDGED, S.PARTIAL_FILL, S.PENDING_CANCEL}
)

# Sentinel target: "back to the state the order was in before the cancel request".
PREVIOUS = S.PENDING_CANCEL

# (state, transition) -> (next state, reason for a surprising row or "")
TRANSITIONS: dict[tuple[OrderStatus, OrderTransition], tuple[OrderStatus, str]] = {
    (S.NEW, T.DENY): (S.DENIED, ""),
    (S.NEW, T.SUBMIT): (S.SUBMITTED, ""),
    (S.NEW, T.ACK): (S.ACKNOWLEDGED, ""),
    (S.NEW, T.FILL_PARTIAL): (S.PARTIAL_FILL, ""),
    (S.NEW, T.FILL_COMPLETE): (S.FILLED, ""),
    (S.NEW, T.REJECT): (S.REJECTED, ""),
    (S.NEW, T.CANCEL): (S.CANCELED, "canceled at the venue before any acknowledgement"),
    (S.NEW, T.REQUEST_CANCEL): (S.PENDING_CANCEL, ""),
    (S.NEW, T.EXPIRE): (S.EXPIRED, ""),
    (S.SUBMITTED, T.ACK): (S.ACKNOWLEDGED, ""),
    (S.SUBMITTED, T.REJECT): (S.REJECTED, ""),
    (S.SUBMITTED, T.CANCEL): (S.CANCELED, "IOC/FOK canceled by the venue"),
    (S.SUBMITTED, T.REQUEST_CANCEL): (S.PENDING_CANCEL, ""),
    (S.SUBMITTED, T.FILL_PARTIAL): (S.PARTIAL_FILL, ""),
    (S.SUBMITTED, T.FILL_COMPLETE): (S.FILLED, ""),
    (S.SUBMITTED, T.EXPIRE): (S.EXPIRED, ""),
    (S.ACKNOWLEDGED, T.FILL_PARTIAL): (S.PARTIAL_FILL, ""),
    (S.ACKNOWLEDGED, T.FILL_COMPLETE): (S.FILLED, ""),
    (S.ACKNOWLEDGED, T.REQUEST_CANCEL): (S.PENDING_CANCEL, ""),
    (S.ACKNOWLEDGED, T.CANCEL): (S.CANCELED, ""),
    (S.ACKNOWLEDGED, T.EXPIRE): (S.EXPIRED, ""),
    (S.ACKNOWLEDGED, T.REJECT): (S.REJECTED, "a stop-limit rejected when it triggered"),
    (S.PARTIAL_FILL, T.FILL_PARTIAL): (S.PARTIAL_FILL, ""),
    (S.PARTIAL_FILL, T.FILL_COMPLETE): (S.FILLED, ""),
    (S.PARTIAL_FILL, T.REQUEST_CANCEL): (S.PENDING_CANCEL, ""),
    (S.PARTIAL_FILL, T.CANCEL): (S.CANCELED, ""),
    (S.PARTIAL_FILL, T.EXPIRE): (S.EXPIRED, ""),
    (S.PENDING_CANCEL, T.CANCEL): (S.CANCELED, ""),
    (S.PENDING_CANCEL, T.FILL_COMPLETE): (S.FILLED, "the fill raced the cancel request"),
    (S.PENDING_CANCEL, T.FILL_PARTIAL): (
        S.PENDING_CANCEL,
        "a partial fill raced the cancel request; the cancel is still pending",
    ),
    (S.PENDING_CANCEL, T.ACK): (
        S.PENDING_CANCEL,
        "a late acknowledgement of an order whose cancel is pending",
    ),
    (S.PENDING_CANCEL, T.EXPIRE): (S.EXPIRED, ""),
    (S.PENDING_CANCEL, T.REJECT): (S.REJECTED, ""),
    (S.PENDING_CANCEL, T.CANCEL_REJECTED): (PREVIOUS, "the venue refused the cancel"),
    (S.CANCELED, T.FILL_COMPLETE): (S.FILLED, "late fill after cancel (a real-world race)"),
    (S.CANCELED, T.FILL_PARTIAL): (
        S.CANCELED,
        "late partial fill after cancel; the remainder stays canceled",
    ),
}


def next_status(state: OrderStatus, transition: OrderTransition) -> tuple[OrderStatus, str] | None:
    """The table lookup; None when the transition is not allowed in `state`."""
    return TRANSITIONS.get((state, transition))
