"""The messages routing makes: an accepted intent as an order request, and the
cancel of an order that never left as the report that settles it."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import cast, get_args

from adapters.broker.port import OrderKind, OrderRequest, Side
from contracts.messages import ExecutionReport, ReportStatus
from domain import events as ev
from domain.order import Order

log = logging.getLogger(__name__)

UNSENT_ORDER_ID = "unsent"
UNSENT_REASON = "canceled before it was sent to the broker"


def order_request(e: ev.OrderIntentRecorded) -> OrderRequest | None:
    """The order for an accepted intent. The contract admits only what the port
    can send; should that ever drift, say so loudly rather than break the
    commit that called us."""
    if e.side not in get_args(Side) or e.order_type not in get_args(OrderKind):
        log.error(
            "routing: intent %s (%s %s) cannot be routed", e.originator_id, e.side, e.order_type
        )
        return None
    return OrderRequest(
        intent_id=e.originator_id,
        symbol=e.symbol,
        side=cast(Side, e.side),
        quantity=e.quantity,
        order_type=cast(OrderKind, e.order_type),
        limit_price=e.limit_price,
        stop_price=e.stop_price,
        account=e.account,
    )


def unsent_cancel_report(order: Order, now: datetime) -> ExecutionReport:
    """Settles the cancel of an order this process never sent (no broker will
    ever report on it, so it would stay PENDING_CANCEL for ever). The order id
    says the order never reached a broker."""
    return ExecutionReport(
        intent_id=order.intent_id,
        order_id=UNSENT_ORDER_ID,
        symbol=order.symbol,
        status=ReportStatus.CANCELED,
        filled_quantity=order.filled,
        avg_fill_price=order.avg_fill_price,
        timestamp=now,
        reject_reason=UNSENT_REASON,
        account=order.account,
    )
