"""Pure mapping the other way: an OrderRequest → ib_async Contract and Order."""

from __future__ import annotations

from dataclasses import dataclass

from ib_async import Contract, Order, TagValue

from adapters.broker.port import OrderRequest
from adapters.ibkr.mapping import to_ib_float

_IB_ORDER_TYPE = {
    "MARKET": "MKT",
    "LIMIT": "LMT",
    "STOP": "STP",
    "STOP_LIMIT": "STP LMT",
    # IB's Adaptive algo works a market order for a better price.
    "ADAPTIVE": "MKT",
}


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """How a symbol is traded at IB (from the instruments file or defaults)."""

    symbol: str
    sec_type: str = "STK"
    exchange: str = "SMART"
    currency: str = "USD"


def ib_contract(spec: ContractSpec) -> Contract:
    return Contract(
        symbol=spec.symbol, secType=spec.sec_type, exchange=spec.exchange, currency=spec.currency
    )


def ib_order(request: OrderRequest, account: str) -> Order:
    """The IB order for a request; orderRef carries the intent id, which IB
    echoes on executions and completed orders."""
    order = Order(
        action=request.side,
        totalQuantity=to_ib_float(request.quantity),
        orderType=_IB_ORDER_TYPE[request.order_type],
        account=request.account or account,
        orderRef=str(request.intent_id),
        tif="DAY",
    )
    if request.limit_price is not None:
        order.lmtPrice = to_ib_float(request.limit_price)
    if request.stop_price is not None:
        order.auxPrice = to_ib_float(request.stop_price)
    if request.order_type == "ADAPTIVE":
        order.algoStrategy = "Adaptive"
        order.algoParams = [TagValue("adaptivePriority", "Normal")]
    return order
