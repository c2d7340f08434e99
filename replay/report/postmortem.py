"""The data of a post-mortem: one pass over a window of the log, collecting what the
report shows — the kill switch's transitions and why, the account's equity and
drawdown after every change, each position's quantity, each order's lifecycle.

Everything is rebuilt from the log with `Ledger.apply`; values are the exact Decimal
strings of the state documents (the charts convert to float, at the edge, to draw).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any
from uuid import UUID

from domain import events as ev
from domain.ledger import Ledger, LedgerConfig
from projections.views import Row, iso, killswitch_row
from replay.report.events import summary
from replay.report.window import Bound, bound_doc, check_order
from replay.state import (
    EventLog,
    Rebuilder,
    SnapshotSource,
    account_row,
    diff_documents,
    state_document,
)

ACCOUNT_EVENTS = (ev.PositionEvent, ev.MarketEvent, ev.AccountOpened, ev.AccountDayRolled)


def _point(position: int, event: ev.LedgerEvent | None, ledger: Ledger) -> Row:
    row = account_row(ledger)
    return {
        "position": position,
        "recorded_at": iso(event.recorded_at) if event else None,
        "occurred_at": iso(event.occurred_at) if event else None,
        "cash": row["cash"],
        "equity": row["equity"],
        "high_water_mark": row["high_water_mark"],
        "drawdown": row["drawdown"],
    }


def _transition(position: int, e: ev.KillSwitchEvent, previous: str) -> Row:
    row: Row = {
        "position": position,
        "recorded_at": iso(e.recorded_at),
        "occurred_at": iso(e.occurred_at),
        "event": type(e).__name__,
        "previous_state": previous,
        "state": e.state,
        "reason": e.reason,
        "by": e.by,
        "db_role": e.db_role,
        "os_user": e.os_user,
        "source": e.source,
        "trigger": None,
        "action": None,
        "equity": None,
        "high_water_mark": None,
        "measure": None,
        "threshold": None,
    }
    if isinstance(e, ev.KillSwitchTripped):
        row.update(
            trigger=e.trigger,
            action=e.action,
            equity=str(e.equity),
            high_water_mark=str(e.high_water_mark),
            measure=str(e.measure),
            threshold=str(e.threshold),
        )
    return row


class _Orders:
    """Each order's lifecycle in the window: its events, in log order."""

    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}

    def add(self, position: int, e: ev.OrderEvent, ledger: Ledger) -> None:
        key = str(e.originator_id)
        row = self.rows.get(key)
        if row is None:
            order = ledger.orders[e.originator_id]
            row = self.rows[key] = {
                "intent_id": key,
                "symbol": order.symbol,
                "side": order.side,
                "quantity": str(order.quantity),
                "origin": order.origin,
                "events": [],
            }
        row["events"].append(
            {
                "position": position,
                "event": type(e).__name__,
                "status": e.status,
                "recorded_at": iso(e.recorded_at),
                "occurred_at": iso(e.occurred_at),
                "summary": summary(e),
            }
        )

    def finish(self, ledger: Ledger) -> list[Row]:
        out = []
        for row in self.rows.values():
            order = ledger.orders[UUID(row["intent_id"])]
            out.append(
                {**row, "final_status": order.status.value, "filled_quantity": str(order.filled)}
            )
        return out


def after_trip(transitions: list[Row], orders: list[Row]) -> dict[str, int]:
    """What the trips set off: cancel requests, flatten orders, denied intents after them."""
    trips = [t["position"] for t in transitions if t["event"] == "KillSwitchTripped"]
    if not trips:
        return {"cancel_requests": 0, "flatten_orders": 0, "denied_intents": 0}
    first = trips[0]
    events = [e for o in orders for e in o["events"] if e["position"] > first]
    return {
        "cancel_requests": sum(e["event"] == "OrderCancelRequested" for e in events),
        "flatten_orders": sum(o["origin"] == "killswitch" for o in orders),
        "denied_intents": sum(e["event"] == "OrderDenied" for e in events),
    }


def _extremes(curve: list[Row]) -> dict[str, Any]:
    low = min(curve, key=lambda p: (_num(p["equity"]), p["position"]))
    deep = max(curve, key=lambda p: (_num(p["drawdown"]), -p["position"]))
    return {
        "lowest_equity": low["equity"],
        "lowest_equity_at": low["position"],
        "max_drawdown": deep["drawdown"],
        "max_drawdown_at": deep["position"],
    }


def _num(text: str) -> Decimal:
    return Decimal(text)


def collect(
    log: EventLog,
    config: LedgerConfig,
    since: Bound,
    until: Bound,
    by: str = "recorded",
    snapshots: SnapshotSource | None = None,
) -> dict[str, Any]:
    check_order(since, until)
    ledger = Rebuilder(log, config, snapshots).state_at(since.position)
    state_since = state_document(ledger)
    since_doc = bound_doc(since, ledger)
    curve = [_point(since.position, None, ledger)]
    positions: dict[str, list[Row]] = {
        f"{p['account']}:{p['symbol']}": [{"position": since.position, "quantity": p["quantity"]}]
        for p in state_since["positions"]
    }
    transitions: list[Row] = []
    orders = _Orders()
    counts: Counter[str] = Counter()
    for position, event in log.events(since.position + 1, until.position):
        previous = ledger.killswitch.state.value
        ledger.apply(event)
        counts[type(event).__name__] += 1
        if isinstance(event, ACCOUNT_EVENTS):
            curve.append(_point(position, event, ledger))
        if isinstance(event, ev.PositionEvent):
            positions.setdefault(f"{event.account}:{event.symbol}", []).append(
                {"position": position, "quantity": str(event.quantity)}
            )
        elif isinstance(event, ev.OrderEvent):
            orders.add(position, event, ledger)
        elif isinstance(event, ev.KillSwitchEvent):
            transitions.append(_transition(position, event, previous))
    state_until = state_document(ledger)
    order_rows = orders.finish(ledger)
    return {
        "by": by,
        "since": since_doc,
        "until": bound_doc(until, ledger),
        "kill_switch": {
            "at_since": state_since["kill_switch"],
            "at_until": killswitch_row(ledger),
            "transitions": transitions,
            "after_trip": after_trip(transitions, order_rows),
        },
        "account": {
            "at_since": state_since["account"],
            "at_until": state_until["account"],
            **_extremes(curve),
        },
        "equity_curve": curve,
        "positions": positions,
        "orders": order_rows,
        "event_counts": dict(sorted(counts.items())),
        "state_at_since": state_since,
        "state_at_until": state_until,
        "diff": diff_documents(state_since, state_until),
    }
