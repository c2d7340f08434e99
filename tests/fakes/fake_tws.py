"""A fake TWS / IB Gateway speaking the real API socket protocol.

No gateway can run in tests, so this server stands in for one: the real
ib_async client connects to it over loopback and cannot tell the difference
for what the ledger uses (handshake, startup synchronisation, positions,
executions with corrections and commission reports, open and completed
orders, order placement, rejection, cancellation, dropped connections).

Scripting: mutate `fake.state` (positions, executions, commissions, open and
completed orders) before or between connections; set `fake.on_place` to
"fill", "rest" or "reject"; `await fake.drop_connections()` to cut every
client; `await fake.fill(order, qty, price)` to fill a working order (pushed
live to connected clients, or only recorded while none is connected).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal, Self

from tests.fakes import tws_messages as m
from tests.fakes.tws_session import TwsSession
from tests.fakes.tws_state import TwsCommission, TwsContract, TwsExecution, TwsOrder, TwsState

PlaceBehaviour = Literal["fill", "rest", "reject"]


class FakeTws:
    def __init__(
        self,
        accounts: list[str] | None = None,
        *,
        server_version: int = 178,
        zone: str = "US/Eastern",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not 176 <= server_version <= 178:
            raise ValueError("the fake speaks server versions 176-178")
        self.state = TwsState(accounts=list(accounts or ["DU1234567"]))
        self.server_version = server_version
        self.zone = zone
        self.clock = clock or (lambda: datetime.now(UTC))
        self.on_place: PlaceBehaviour = "fill"
        self.fill_price: Decimal | None = None  # None: the limit price, else 100
        self.commission_per_share = Decimal("0.005")
        self.min_commission = Decimal("1.00")
        self.reject_reason = "Order rejected - reason:YOUR ORDER IS NOT ACCEPTED (fake)"
        self.reject_status = "Inactive"
        self.busy_client_ids: set[int] = set()  # START_API with these: error 326, close
        self.received: list[list[str]] = []  # every client message, for assertions
        self.sessions: list[TwsSession] = []
        self.connection_count = 0
        self._next_order_id = 1
        self._perm_ids = itertools.count(880_000_001)
        self._exec_seq = itertools.count(1)
        self._contracts: dict[str, TwsContract] = {}
        self._server: asyncio.Server | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        await self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def drop_connections(self) -> None:
        """Cut every client, as a gateway restart or network loss would."""
        for session in list(self.sessions):
            await session.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = TwsSession(self, reader, writer)
        self.sessions.append(session)
        self.connection_count += 1
        try:
            await session.run()
        finally:
            self.sessions.remove(session)
            with contextlib.suppress(ConnectionError):
                writer.close()

    # --- scripting helpers ----------------------------------------------------

    def contract(self, symbol: str) -> TwsContract:
        if symbol not in self._contracts:
            self._contracts[symbol] = TwsContract(symbol, con_id=265_598 + len(self._contracts))
        return self._contracts[symbol]

    def next_perm_id(self) -> int:
        return next(self._perm_ids)

    def next_order_id(self) -> int:
        return self._next_order_id

    def take_order_id(self, order_id: int) -> None:
        self._next_order_id = max(self._next_order_id, order_id + 1)

    def new_exec_id(self, perm_id: int) -> str:
        # Shape of real ids: '0000e0d5.6553a6b2.01.01'; corrections bump the last part.
        return f"0000e0d5.{perm_id:08x}.{next(self._exec_seq):02d}.01"

    def commission_for(self, shares: Decimal) -> Decimal:
        return max(
            self.min_commission, (shares * self.commission_per_share).quantize(Decimal("0.01"))
        )

    def broadcast(self, fields: m.Fields) -> None:
        for session in self.sessions:
            if session.api_started:
                session.send(fields)

    async def fill(
        self, order: TwsOrder, quantity: Decimal, price: Decimal, *, commission: bool = True
    ) -> TwsExecution:
        """Fill (part of) a working order. Connected clients get EXECUTION_DATA,
        ORDER_STATUS and COMMISSION_REPORT as from TWS; with none connected
        the fill is only recorded, to be found by reqExecutions later."""
        order.filled += quantity
        order.avg_fill_price = (
            price
            if order.filled == quantity
            else (
                (order.avg_fill_price * (order.filled - quantity) + price * quantity) / order.filled
            )
        )
        order.last_fill_price = price
        execution = TwsExecution(
            exec_id=self.new_exec_id(order.perm_id),
            order_id=order.order_id,
            perm_id=order.perm_id,
            client_id=order.client_id,
            account=order.account,
            contract=order.contract,
            side="BOT" if order.action == "BUY" else "SLD",
            shares=quantity,
            price=price,
            cum_qty=order.filled,
            avg_price=order.avg_fill_price,
            time=self.clock(),
            order_ref=order.order_ref,
        )
        self.state.executions.append(execution)
        signed = quantity if order.action == "BUY" else -quantity
        self.state.apply_fill(order.account, order.contract, signed, price)
        if order.remaining <= 0:
            order.status = "Filled"
            order.completed_time = m.ib_time(self.clock(), self.zone)
            if order in self.state.open_orders:
                self.state.open_orders.remove(order)
            self.state.completed_orders.append(order)
        report = TwsCommission(execution.exec_id, self.commission_for(quantity))
        if commission:
            self.state.commissions[execution.exec_id] = report
        self.broadcast(m.execution(-1, execution, self.server_version, self.zone))
        self.broadcast(m.order_status(order))
        if commission:
            self.broadcast(m.commission_report(report))
        await self.flush()
        return execution

    async def correct(self, execution: TwsExecution, price: Decimal) -> TwsExecution:
        """Send a correction: same exec id up to the last '.', suffix + 1, with
        its own commission report."""
        base, _, suffix = execution.exec_id.rpartition(".")
        corrected = dataclasses.replace(
            execution, exec_id=f"{base}.{int(suffix) + 1:02d}", price=price, avg_price=price
        )
        self.state.executions.append(corrected)
        report = TwsCommission(corrected.exec_id, self.commission_for(corrected.shares))
        self.state.commissions[corrected.exec_id] = report
        self.broadcast(m.execution(-1, corrected, self.server_version, self.zone))
        self.broadcast(m.commission_report(report))
        await self.flush()
        return corrected

    async def resend_commissions(self) -> None:
        """TWS re-sends commission reports after a reconnect."""
        for report in self.state.commissions.values():
            self.broadcast(m.commission_report(report))
        await self.flush()

    async def flush(self) -> None:
        for session in self.sessions:
            await session.drain()

    def order_by_ref(self, order_ref: str) -> TwsOrder:
        for order in (*self.state.open_orders, *self.state.completed_orders):
            if order.order_ref == order_ref:
                return order
        raise KeyError(order_ref)

    def messages_of(self, msg_id: int) -> list[list[str]]:
        return [f for f in self.received if f and f[0] == str(msg_id)]
