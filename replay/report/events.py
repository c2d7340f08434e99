"""What an event is about and what it says, in a line: shared by the timeline, the
audit rows and the post-mortem.

`facts` names the aggregate an event belongs to and the order, symbol and account it
concerns (the keys of the `--order/--symbol/--account` filters and of the audit
index). Order events carry neither symbol nor account, so they come from the order's
intent, looked up through `OrderInfo`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

import orjson

from domain import events as ev

OrderInfo = Callable[[UUID], "tuple[str, str] | None"]  # intent id -> (symbol, account)

EVENT_TYPES: frozenset[str] = frozenset(c.__name__ for c in ev.EVENT_CLASSES)


@dataclass(frozen=True, slots=True)
class Facts:
    aggregate_type: str  # order | position | account | market | kill_switch | ...
    aggregate_id: str  # the originator id
    label: str  # readable: order:<intent>, position:SIM:AAPL, market:AAPL, kill_switch
    intent_id: UUID | None
    symbol: str | None
    account: str | None


def facts(event: ev.LedgerEvent, order_info: OrderInfo) -> Facts:
    oid = str(event.originator_id)
    if isinstance(event, ev.OrderEvent):
        # An intent names its own symbol and account (its order may not exist yet).
        info = (
            (event.symbol, event.account)
            if isinstance(event, ev.OrderIntentRecorded)
            else order_info(event.originator_id)
        )
        symbol, account = info if info is not None else (None, None)
        return Facts("order", oid, f"order:{oid}", event.originator_id, symbol, account)
    if isinstance(event, ev.PositionEvent):
        return Facts(
            "position",
            oid,
            f"position:{event.account}:{event.symbol}",
            event.intent_id,
            event.symbol,
            event.account,
        )
    if isinstance(event, ev.MarketEvent):
        return Facts("market", oid, f"market:{event.symbol}", None, event.symbol, None)
    if isinstance(event, ev.KillSwitchEvent):
        return Facts("kill_switch", oid, "kill_switch", None, None, None)
    if isinstance(event, ev.AccountOpened):
        return Facts("account", oid, f"account:{event.account}", None, None, event.account)
    if isinstance(event, ev.AccountDayRolled):
        return Facts("account", oid, "account", None, None, None)
    if isinstance(event, ev.ExecutionReportHeld):
        report = orjson.loads(event.report)
        return Facts(
            "held_reports",
            oid,
            f"held:{event.intent_id}",
            event.intent_id,
            report.get("symbol"),
            report.get("account"),
        )
    if isinstance(event, ev.MessageQuarantined):
        return Facts(
            "quarantine",
            oid,
            f"quarantine:{event.message_source}@{event.message_position}",
            None,
            None,
            None,
        )
    if isinstance(event, ev.ReconciliationRecorded):
        return Facts("reconciliation", oid, f"reconciliation:{event.run_id}", None, None, None)
    return Facts("other", oid, oid, None, None, None)


def _px(fill_quantity: object, fill_price: object) -> str:
    return f"{fill_quantity} @ {fill_price}"


def summary(event: ev.LedgerEvent) -> str:
    """One human line: what the event says (the times and ids are in other columns)."""
    e = event
    if isinstance(e, ev.OrderIntentRecorded):
        price = f" {e.limit_price}" if e.limit_price is not None else ""
        stop = f" stop {e.stop_price}" if e.stop_price is not None else ""
        return (
            f"{e.side} {e.quantity} {e.symbol} {e.order_type}{price}{stop} "
            f"account {e.account} ({e.origin})"
        )
    if isinstance(e, ev.OrderSubmitted | ev.OrderAcknowledged):
        return f"broker order {e.broker_order_id}"
    if isinstance(e, ev.OrderFillEvent):
        note = f" ({e.note})" if e.note else ""
        return (
            f"fill {_px(e.fill_quantity, e.fill_price)} exec {e.exec_id}, "
            f"filled {e.filled_quantity} avg {e.avg_fill_price}{note}"
        )
    if isinstance(e, ev.OrderFillCorrected):
        return (
            f"exec {e.exec_id} replaces {e.replaced_exec_id}: "
            f"{_px(e.fill_quantity, e.fill_price)} commission {e.commission}"
        )
    if isinstance(e, ev.OrderMessageRefused):
        return f"refused ({e.kind}): {e.reason}"
    if isinstance(e, ev.OrderStatusCorrected):
        return f"{e.previous_status} -> {e.status} by reconciliation {e.run_id}: {e.reason}"
    if isinstance(
        e,
        ev.OrderDenied
        | ev.OrderCancelRequested
        | ev.OrderCancelRejected
        | ev.OrderCanceled
        | ev.OrderRejected
        | ev.OrderExpired,
    ):
        return e.reason or "(no reason given)"
    if isinstance(e, ev.PositionFillCorrected):
        return (
            f"{e.side} {_px(e.fill_quantity, e.fill_price)} replaces exec "
            f"{e.replaced_exec_id} -> quantity {e.quantity}"
        )
    if isinstance(e, ev.PositionEvent):
        return f"{e.side} {_px(e.fill_quantity, e.fill_price)} -> quantity {e.quantity}"
    return _other_summary(e)


def _other_summary(e: ev.LedgerEvent) -> str:
    if isinstance(e, ev.MarketBarRecorded):
        return f"bar close {e.close}" + (f" ({e.bar_size})" if e.bar_size else "")
    if isinstance(e, ev.MarketTickRecorded):
        return f"{e.tick_type} {e.price} x {e.size}"
    if isinstance(e, ev.MarketOfiRecorded):
        return f"ofi {e.ofi_value}"
    if isinstance(e, ev.KillSwitchTripped):
        return f"TRIPPED ({e.trigger}, {e.action}) by {e.by}: {e.reason}"
    if isinstance(e, ev.KillSwitchReset):
        return f"{e.previous_state} -> {e.state} by {e.by}: {e.reason}"
    if isinstance(e, ev.AccountOpened):
        return f"opened with {e.starting_equity} {e.currency}, day {e.day.isoformat()}"
    if isinstance(e, ev.AccountDayRolled):
        return (
            f"day {e.closed_day.isoformat()} closed at {e.closing_equity} "
            f"(return {e.daily_return}); {e.day.isoformat()} opens at {e.opening_equity}"
        )
    if isinstance(e, ev.ExecutionReportHeld):
        return f"report held until intent {e.intent_id} arrives"
    if isinstance(e, ev.MessageQuarantined):
        errors = "; ".join(f"{_loc(x.get('loc'))}: {x.get('msg')}" for x in orjson.loads(e.errors))
        return f"quarantined {e.message_source}@{e.message_position}: {errors}"
    if isinstance(e, ev.ReconciliationRecorded):
        return f"reconciliation {e.run_id} with {e.broker}: {e.result}"
    return type(e).__name__


def _loc(loc: object) -> str:
    if isinstance(loc, list | tuple):
        return ".".join(str(x) for x in loc)
    return str(loc)
