"""The broker port: what reconcile and live routing need from a broker.

Two adapters implement it: Interactive Brokers (`adapters.ibkr`) and the
simulated broker. Everything that crosses the port is one of the frozen
dataclasses below or a contract `ExecutionReport`, never a broker library's
own object, so the callers (reconcile, serve) are the same for every broker.

Money, prices and quantities are `Decimal`; times are UTC `datetime`s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, Protocol, runtime_checkable
from uuid import UUID

from contracts.messages import ExecutionReport

Side = Literal["BUY", "SELL"]
OrderKind = Literal["MARKET", "LIMIT", "STOP", "STOP_LIMIT", "ADAPTIVE"]

ReportCallback = Callable[[ExecutionReport], None]
"""Receives every report the broker sends. Runs on the event loop: hand the
report to a queue rather than doing slow work in it."""

PermIdCallback = Callable[[UUID, int], None]
"""Receives (intent id, broker perm id) once per intent, when first seen."""

ResyncCallback = Callable[["BrokerSnapshot"], None]
"""Receives a fresh snapshot after every (re)connect, so the caller can feed the
ledger what it has not seen (fills that happened while disconnected)."""


class BrokerError(Exception):
    """Base of the errors raised through the broker port."""


class BrokerUnreachable(BrokerError):
    """The broker cannot be reached, or the connection broke during a request."""


class BrokerConfigError(BrokerError):
    """The connection settings are unsafe or wrong (account, port, client id)."""


class BrokerOrderUnknown(BrokerError):
    """No working order at the broker carries this intent id."""


class InvalidOrderRequest(BrokerError, ValueError):
    """An order request that no broker could accept (quantity, missing price)."""


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    account: str
    symbol: str
    sec_type: str
    exchange: str
    currency: str
    con_id: int
    quantity: Decimal
    avg_cost: Decimal


@dataclass(frozen=True, slots=True)
class BrokerExecution:
    exec_id: str
    order_ref: str
    perm_id: int
    order_id: int
    account: str
    symbol: str
    side: Side
    quantity: Decimal
    price: Decimal
    time: datetime
    cum_qty: Decimal
    avg_price: Decimal
    commission: Decimal | None
    commission_currency: str | None


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """An order as the broker sees it.

    `status` is in the ledger's vocabulary (SUBMITTED, ACKNOWLEDGED,
    PARTIAL_FILL, FILLED, CANCELED, REJECTED, PENDING_CANCEL); `broker_status`
    keeps the broker's own word as evidence for a reconciliation break.
    """

    perm_id: int
    order_id: int
    order_ref: str
    account: str
    symbol: str
    side: Side
    quantity: Decimal
    order_type: str
    limit_price: Decimal | None
    stop_price: Decimal | None
    status: str
    filled: Decimal
    remaining: Decimal
    avg_fill_price: Decimal | None
    broker_status: str = ""


@dataclass(frozen=True, slots=True)
class BrokerSnapshot:
    positions: tuple[BrokerPosition, ...]
    executions: tuple[BrokerExecution, ...]
    open_orders: tuple[BrokerOrder, ...]
    completed_orders: tuple[BrokerOrder, ...]
    managed_accounts: tuple[str, ...]


_PRICE_REQUIRED: dict[str, tuple[bool, bool]] = {
    # order type: (needs limit price, needs stop price)
    "MARKET": (False, False),
    "LIMIT": (True, False),
    "STOP": (False, True),
    "STOP_LIMIT": (True, True),
    "ADAPTIVE": (False, False),
}


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An accepted intent, to be sent to the broker as one order."""

    intent_id: UUID
    symbol: str
    side: Side
    quantity: Decimal
    order_type: OrderKind
    limit_price: Decimal | None = None
    stop_price: Decimal | None = None
    account: str | None = None

    def __post_init__(self) -> None:
        if self.side not in ("BUY", "SELL"):
            raise InvalidOrderRequest(f"side must be BUY or SELL, not {self.side!r}")
        if not self.quantity.is_finite() or self.quantity <= 0:
            raise InvalidOrderRequest(f"quantity must be positive, not {self.quantity}")
        needs = _PRICE_REQUIRED.get(self.order_type)
        if needs is None:
            raise InvalidOrderRequest(f"unknown order type {self.order_type!r}")
        if needs[0] and self.limit_price is None:
            raise InvalidOrderRequest(f"{self.order_type} needs a limit price")
        if needs[1] and self.stop_price is None:
            raise InvalidOrderRequest(f"{self.order_type} needs a stop price")


@runtime_checkable
class BrokerPort(Protocol):
    """What the ledger asks of a broker. All I/O methods are coroutines."""

    async def connect(self) -> None:
        """Connect, check the account, then call the resync callbacks.

        Raises BrokerUnreachable or BrokerConfigError."""

    async def disconnect(self) -> None: ...

    async def snapshot(self, executions_since: datetime | None = None) -> BrokerSnapshot:
        """Positions, executions (since `executions_since`, else the broker's
        default window), open and completed orders, as of now."""

    async def place(self, order: OrderRequest) -> None:
        """Send one order; its fate arrives later as reports."""

    async def cancel(self, intent_id: UUID) -> None:
        """Ask to cancel the working order of this intent (BrokerOrderUnknown if none)."""

    async def cancel_all(self) -> None:
        """Ask to cancel every working order of the account."""

    def on_report(self, callback: ReportCallback) -> None: ...

    def on_perm_id(self, callback: PermIdCallback) -> None: ...

    def on_resync(self, callback: ResyncCallback) -> None: ...
