"""What the fake TWS knows: contracts, orders, executions, commissions,
positions. Plain mutable dataclasses that tests script directly."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class TwsContract:
    symbol: str
    con_id: int
    sec_type: str = "STK"
    exchange: str = "SMART"
    primary_exchange: str = "NASDAQ"
    currency: str = "USD"

    @property
    def local_symbol(self) -> str:
        return self.symbol


@dataclass
class TwsOrder:
    order_id: int
    perm_id: int
    client_id: int
    account: str
    contract: TwsContract
    action: str  # BUY / SELL
    quantity: Decimal
    order_type: str = "LMT"
    lmt_price: Decimal | None = None
    aux_price: Decimal | None = None
    tif: str = "DAY"
    order_ref: str = ""
    status: str = "Submitted"
    filled: Decimal = Decimal(0)
    avg_fill_price: Decimal = Decimal(0)
    last_fill_price: Decimal = Decimal(0)
    completed_time: str = ""
    why_held: str = ""

    @property
    def remaining(self) -> Decimal:
        return self.quantity - self.filled


@dataclass
class TwsExecution:
    exec_id: str
    order_id: int
    perm_id: int
    client_id: int
    account: str
    contract: TwsContract
    side: str  # BOT / SLD
    shares: Decimal
    price: Decimal
    cum_qty: Decimal
    avg_price: Decimal
    time: datetime  # aware
    order_ref: str = ""
    exchange: str = "ISLAND"
    liquidation: int = 0
    last_liquidity: int = 1


@dataclass
class TwsCommission:
    exec_id: str
    commission: Decimal
    currency: str = "USD"
    realized_pnl: Decimal | None = None


@dataclass
class TwsPosition:
    account: str
    contract: TwsContract
    quantity: Decimal
    avg_cost: Decimal


@dataclass
class TwsState:
    accounts: list[str]
    positions: list[TwsPosition] = field(default_factory=list)
    executions: list[TwsExecution] = field(default_factory=list)
    commissions: dict[str, TwsCommission] = field(default_factory=dict)
    open_orders: list[TwsOrder] = field(default_factory=list)
    completed_orders: list[TwsOrder] = field(default_factory=list)
    account_values: dict[str, tuple[str, str]] = field(
        default_factory=lambda: {
            "NetLiquidation": ("1000000.00", "USD"),
            "TotalCashValue": ("1000000.00", "USD"),
        }
    )

    def position(self, account: str, contract: TwsContract) -> TwsPosition | None:
        return next(
            (p for p in self.positions if p.account == account and p.contract == contract), None
        )

    def apply_fill(
        self, account: str, contract: TwsContract, signed: Decimal, price: Decimal
    ) -> None:
        """Net a fill into the position: average cost grows on increase, stays on
        reduce, restarts at the fill price on a flip."""
        pos = self.position(account, contract)
        if pos is None:
            self.positions.append(TwsPosition(account, contract, signed, price))
            return
        new_qty = pos.quantity + signed
        if new_qty == 0:
            self.positions.remove(pos)
        elif pos.quantity * signed > 0:
            pos.avg_cost = (pos.avg_cost * pos.quantity + price * signed) / new_qty
        elif pos.quantity * new_qty < 0:
            pos.avg_cost = price
        pos.quantity = new_qty
