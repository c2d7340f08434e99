"""Row views of the ledger's state: what `positions`, `orders` and `killswitch status` print.

Decimal values are rendered as exact strings (no float formatting); times as
ISO-8601 UTC with `Z`. These shapes are the CLI's JSON contract (DESIGN.md §7).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from domain import events as ev
from domain.ledger import Ledger
from domain.order import Order

Row = dict[str, Any]


def dec(x: Decimal | None) -> str | None:
    return None if x is None else str(x)


def iso(at: datetime | None) -> str | None:
    if at is None:
        return None
    return at.isoformat().replace("+00:00", "Z")


def position_rows(ledger: Ledger) -> list[Row]:
    return [
        {
            "account": p.account,
            "symbol": p.symbol,
            "quantity": dec(p.quantity),
            "avg_price": dec(p.avg_price),
            "realized_pnl": dec(p.realized_pnl),
            "commission": dec(p.commission),
        }
        for _, p in sorted(ledger.positions.items())
    ]


def order_row(o: Order) -> Row:
    return {
        "intent_id": str(o.intent_id),
        "symbol": o.symbol,
        "side": o.side,
        "quantity": dec(o.quantity),
        "status": o.status.value,
        "filled_quantity": dec(o.filled),
        "avg_fill_price": dec(o.avg_fill_price),
    }


def order_rows(ledger: Ledger, *, open_only: bool = False) -> list[Row]:
    return [order_row(o) for o in ledger.orders.values() if not open_only or o.is_working]


def killswitch_row(ledger: Ledger) -> Row:
    ks = ledger.killswitch
    return {
        "state": ks.state.value,
        "since": iso(ks.since),
        "reason": ks.reason or None,
        "by": ks.by or None,
        "trigger": ks.trigger or None,
    }


def quarantine_row(log_position: int, e: ev.MessageQuarantined) -> Row:
    """`source` is `file:<path>` or `kafka:<topic>:<partition>`; `position` the line or offset."""
    return {
        "log_position": log_position,
        "source": e.message_source,
        "position": e.message_position,
        "recorded_at": iso(e.recorded_at),
        "raw": e.raw,
        "errors": orjson.loads(e.errors),
    }
