"""Pure mapping from ib_async objects to the broker port's types and to
contract ExecutionReports. No I/O, no clock: what a function needs, it is given.

Status vocabulary (IB order status -> contract report status), and why:

- PendingSubmit, ApiPending -> SUBMITTED: sent by the API, not yet confirmed
  by TWS.
- PreSubmitted, Submitted -> ACKNOWLEDGED: TWS holds the order (PreSubmitted:
  accepted but not yet at the exchange, e.g. a stop waiting for its trigger).
- Filled -> FILLED.
- Cancelled, ApiCancelled -> CANCELED, unless an order error (201, 203, ...)
  made ib_async cancel it: then REJECTED with the error as reason.
- Inactive -> REJECTED: IB will not work the order (rejected, or held for a
  missing permission).
- PendingCancel -> no report: the contract has no such status; the ledger
  records its own cancel request.
- ValidationError -> no report: ib_async's mark for an order-bound warning
  (codes 2100-2199 and a few others); the order is still working.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID

from ib_async import Fill, Trade
from ib_async.util import UNSET_DOUBLE

from adapters.broker.port import Side
from contracts.messages import ExecutionReport, ReportStatus


class UnmappableValue(ValueError):
    """An ib_async value that has no Decimal meaning (NaN, infinity, unset)."""


# --- numbers -----------------------------------------------------------------


def to_decimal(value: float | int) -> Decimal:
    """The one place a broker float becomes a Decimal.

    Goes through the shortest repr, so 0.1 becomes Decimal('0.1'), not the
    binary expansion Decimal(0.1) would give. Whole numbers lose their '.0'.
    """
    if isinstance(value, int):
        return Decimal(value)
    if not math.isfinite(value) or value == UNSET_DOUBLE:
        raise UnmappableValue(f"no decimal value for {value!r}")
    if value.is_integer() and abs(value) < 1e15:
        return Decimal(int(value))
    return Decimal(repr(value))


def to_decimal_or_none(value: float | Decimal | None) -> Decimal | None:
    """Like to_decimal, but IB's 'unset' (and NaN, None) become None."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if not math.isfinite(value) or value == UNSET_DOUBLE:
        return None
    return to_decimal(value)


def to_ib_float(value: Decimal) -> float:
    """The one place a Decimal becomes a float: ib_async's Order wants floats
    and writes them with str(), which round-trips the shortest repr."""
    return float(value)


def to_utc(moment: datetime) -> datetime:
    """ib_async gives zone-aware times (UTC by default); a naive one is read as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# --- identifiers -------------------------------------------------------------


def parse_intent_id(order_ref: str) -> UUID | None:
    """Our orders carry the intent id in orderRef; anything else is external."""
    try:
        return UUID(order_ref.strip())
    except ValueError:
        return None


def broker_order_id(perm_id: int, order_id: int) -> str:
    """The order id in reports: IB's permId (stable across sessions); before TWS
    has assigned one (a rejection can arrive first), the session order id."""
    return str(perm_id) if perm_id > 0 else f"oid:{order_id}"


def side_of(action: str) -> Side:
    """Order actions are BUY/SELL; executions say BOT/SLD."""
    upper = action.upper()
    if upper in ("BUY", "BOT"):
        return "BUY"
    if upper in ("SELL", "SLD", "SSHORT"):
        return "SELL"
    raise UnmappableValue(f"unknown side {action!r}")


# --- statuses ----------------------------------------------------------------

_REPORT_STATUS: dict[str, ReportStatus] = {
    "PendingSubmit": ReportStatus.SUBMITTED,
    "ApiPending": ReportStatus.SUBMITTED,
    "PreSubmitted": ReportStatus.ACKNOWLEDGED,
    "Submitted": ReportStatus.ACKNOWLEDGED,
    "Filled": ReportStatus.FILLED,
    "Cancelled": ReportStatus.CANCELED,
    "ApiCancelled": ReportStatus.CANCELED,
    "Inactive": ReportStatus.REJECTED,
}

CANCEL_CONFIRMED = 202
# A refused cancel request (unknown / not cancellable order): ib_async marks the
# trade Cancelled, but the order's real state is whatever it was (maybe filled).
CANCEL_REFUSED = frozenset({10147, 10148})


def report_status(ib_status: str) -> ReportStatus | None:
    """IB status → report status; None when the status is not worth a report."""
    return _REPORT_STATUS.get(ib_status)


# ib_async's own prefix on a logged error: "Error 201, reqId 4: <TWS text>".
_LOGGED_ERROR = re.compile(r"^(?:Error|Warning) -?\d+, reqId -?\d+: ")


def order_error(trade: Trade) -> tuple[int, str] | None:
    """The error (code, TWS text) that made ib_async mark this trade Cancelled.

    ib_async logs such an error as a log entry with status Cancelled and the
    error code; warnings are logged with status ValidationError instead."""
    for entry in reversed(trade.log):
        if entry.errorCode and entry.status == "Cancelled":
            return entry.errorCode, _LOGGED_ERROR.sub("", entry.message)
    return None


def trade_report_status(trade: Trade) -> tuple[ReportStatus | None, str | None]:
    """(status, reject reason) for the trade's current state."""
    ib_status = trade.orderStatus.status
    error = order_error(trade)
    if ib_status in ("Cancelled", "ApiCancelled") and error is not None:
        code, message = error
        if code in CANCEL_REFUSED:
            return None, None
        if code != CANCEL_CONFIRMED:
            return ReportStatus.REJECTED, f"{code}: {message}"
    if ib_status == "Inactive":
        reason = f"{error[0]}: {error[1]}" if error else (trade.orderStatus.whyHeld or "Inactive")
        return ReportStatus.REJECTED, reason
    return report_status(ib_status), None


def ledger_order_status(ib_status: str, filled: Decimal) -> str:
    """IB status → the ledger's order vocabulary, for snapshot orders."""
    if ib_status == "PendingCancel":
        return "PENDING_CANCEL"
    if ib_status == "ValidationError":
        return "PARTIAL_FILL" if filled > 0 else "ACKNOWLEDGED"
    status = report_status(ib_status)
    if status is None:
        return ib_status.upper() or "UNKNOWN"
    if status in (ReportStatus.SUBMITTED, ReportStatus.ACKNOWLEDGED) and filled > 0:
        return ReportStatus.PARTIAL_FILL.value
    return status.value


# --- live reports --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """A status change of one of our orders, before it becomes a report."""

    intent_id: UUID
    order_id: str
    symbol: str
    account: str | None
    status: ReportStatus
    reject_reason: str | None
    time: datetime


def order_update(trade: Trade, now: datetime) -> OrderUpdate | None:
    """The trade's current status as an update, or None when it is not one of
    our orders or its status is not worth a report."""
    intent_id = parse_intent_id(trade.order.orderRef)
    if intent_id is None:
        return None
    status, reason = trade_report_status(trade)
    if status is None:
        return None
    last = trade.log[-1].time if trade.log else now
    return OrderUpdate(
        intent_id=intent_id,
        order_id=broker_order_id(
            trade.order.permId or trade.orderStatus.permId, trade.order.orderId
        ),
        symbol=trade.contract.symbol,
        account=trade.order.account or None,
        status=status,
        reject_reason=reason,
        time=to_utc(last),
    )


def fill_report(trade: Trade, fill: Fill) -> ExecutionReport | None:
    """A live fill as a report carrying that one fill (commission comes later)."""
    ex = fill.execution
    intent_id = parse_intent_id(ex.orderRef or trade.order.orderRef)
    if intent_id is None:
        return None
    cum = to_decimal(ex.cumQty)
    total = to_decimal(trade.order.totalQuantity)
    status = ReportStatus.FILLED if total > 0 and cum >= total else ReportStatus.PARTIAL_FILL
    return ExecutionReport(
        intent_id=intent_id,
        order_id=broker_order_id(ex.permId, ex.orderId),
        symbol=fill.contract.symbol,
        status=status,
        filled_quantity=cum,
        avg_fill_price=to_decimal(ex.avgPrice),
        timestamp=to_utc(ex.time),
        account=ex.acctNumber or None,
        exec_id=ex.execId,
        last_quantity=to_decimal(ex.shares),
        last_price=to_decimal(ex.price),
    )
