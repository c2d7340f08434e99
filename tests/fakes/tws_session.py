"""One client connection to the fake TWS: handshake, then requests → answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from tests.fakes import tws_messages as m
from tests.fakes import tws_protocol as p
from tests.fakes.tws_state import TwsOrder

if TYPE_CHECKING:
    from tests.fakes.fake_tws import FakeTws


class TwsSession:
    def __init__(
        self, fake: FakeTws, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.fake = fake
        self.reader = reader
        self.writer = writer
        self.version = 0
        self.client_id = -1
        self.api_started = False
        self._handlers: dict[int, Callable[[list[str]], None]] = {
            p.START_API: self._start_api,
            p.REQ_IDS: lambda f: self.send(m.next_valid_id(fake.next_order_id())),
            p.REQ_MANAGED_ACCTS: lambda f: self.send(m.managed_accounts(fake.state.accounts)),
            p.REQ_CURRENT_TIME: lambda f: self.send(m.current_time(int(fake.clock().timestamp()))),
            p.REQ_POSITIONS: self._positions,
            p.REQ_OPEN_ORDERS: lambda f: self._open_orders(all_clients=False),
            p.REQ_ALL_OPEN_ORDERS: lambda f: self._open_orders(all_clients=True),
            p.REQ_AUTO_OPEN_ORDERS: lambda f: None,
            p.REQ_COMPLETED_ORDERS: self._completed_orders,
            p.REQ_ACCOUNT_UPDATES: self._account_updates,
            p.REQ_ACCOUNT_UPDATES_MULTI: self._account_updates_multi,
            p.REQ_EXECUTIONS: self._executions,
            p.PLACE_ORDER: self._place_order,
            p.CANCEL_ORDER: self._cancel_order,
            p.REQ_GLOBAL_CANCEL: self._global_cancel,
        }

    # --- transport ------------------------------------------------------------

    def send(self, fields: m.Fields) -> None:
        if not self.writer.is_closing():
            self.writer.write(p.frame(fields))

    async def drain(self) -> None:
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()

    async def run(self) -> None:
        try:
            _low, high = await p.read_handshake(self.reader)
            if high < 176:
                return
            self.version = min(high, self.fake.server_version)
            conn_time = datetime.now(UTC).strftime("%Y%m%d %H:%M:%S UTC")
            self.send([self.version, conn_time])
            while True:
                fields = await p.read_frame(self.reader)
                self.fake.received.append(fields)
                handler = self._handlers.get(int(fields[0]))
                if handler is not None:
                    handler(fields)
                await self.drain()
        except (asyncio.IncompleteReadError, ConnectionError, p.HandshakeError):
            return

    # --- startup --------------------------------------------------------------

    def _start_api(self, fields: list[str]) -> None:
        self.client_id = int(fields[2])
        if self.client_id in self.fake.busy_client_ids:
            self.send(m.error(-1, 326, "Unable to connect as the client id is already in use.",
                              self.version))  # fmt: skip
            self.writer.close()
            return
        self.api_started = True
        self.send(m.next_valid_id(self.fake.next_order_id()))
        self.send(m.managed_accounts(self.fake.state.accounts))
        for code, text in ((2104, "Market data farm connection is OK:usfarm"),
                           (2106, "HMDS data farm connection is OK:ushmds"),
                           (2158, "Sec-def data farm connection is OK:secdefnj")):  # fmt: skip
            self.send(m.error(-1, code, text, self.version))

    def _positions(self, fields: list[str]) -> None:
        for pos in self.fake.state.positions:
            self.send(m.position(pos))
        self.send(m.position_end())

    def _open_orders(self, *, all_clients: bool) -> None:
        for order in self.fake.state.open_orders:
            if all_clients or self.client_id == 0 or order.client_id == self.client_id:
                self.send(m.open_order(order, self.version))
                self.send(m.order_status(order))
        self.send(m.open_order_end())

    def _completed_orders(self, fields: list[str]) -> None:
        for order in self.fake.state.completed_orders:
            self.send(m.completed_order(order, self.version))
        self.send(m.completed_orders_end())

    def _account_updates(self, fields: list[str]) -> None:
        _, _, subscribe, account = fields[:4]
        if subscribe != "1":
            return
        state = self.fake.state
        for tag, (value, currency) in state.account_values.items():
            self.send(m.account_value(tag, value, currency, account))
        for pos in state.positions:
            if pos.account == account:
                self.send(m.portfolio_value(pos, pos.avg_cost))
        self.send(m.account_time(datetime.now(UTC).strftime("%H:%M")))
        self.send(m.account_download_end(account))

    def _account_updates_multi(self, fields: list[str]) -> None:
        req_id, account = int(fields[2]), fields[3]
        for tag, (value, currency) in self.fake.state.account_values.items():
            self.send(m.account_update_multi(req_id, account, tag, value, currency))
        self.send(m.account_update_multi_end(req_id))

    def _executions(self, fields: list[str]) -> None:
        _, _, req_id, client_id, account, since, symbol, _sec_type, _exchange, side = fields[:10]
        start = _parse_filter_time(since)
        for e in self.fake.state.executions:
            if (client_id not in ("", "0") and str(e.client_id) != client_id) or (
                account and e.account != account
            ):
                continue
            if (symbol and e.contract.symbol != symbol) or (side and e.side != side):
                continue
            if start is not None and e.time < start:
                continue
            self.send(m.execution(int(req_id), e, self.version, self.fake.zone))
            commission = self.fake.state.commissions.get(e.exec_id)
            if commission is not None:
                self.send(m.commission_report(commission))
        self.send(m.execution_end(int(req_id)))

    # --- orders ---------------------------------------------------------------

    def _place_order(self, fields: list[str]) -> None:
        # Fixed positions for a non-combo order (ib_async client.placeOrder):
        # 1 orderId, 2-13 contract, 14-15 secId, 16 action, 17 quantity,
        # 18 orderType, 19 lmtPrice, 20 auxPrice, 21 tif, 22 ocaGroup,
        # 23 account, 24 openClose, 25 origin, 26 orderRef.
        fake = self.fake
        order_id = int(fields[1])
        if any(o.order_id == order_id and o.client_id == self.client_id
               for o in fake.state.open_orders):  # fmt: skip
            self.send(m.error(order_id, 103, "Duplicate order id", self.version))
            return
        fake.take_order_id(order_id)
        order = TwsOrder(
            order_id=order_id,
            perm_id=fake.next_perm_id(),
            client_id=self.client_id,
            account=fields[23] or fake.state.accounts[0],
            contract=fake.contract(fields[3]),
            action=fields[16],
            quantity=Decimal(fields[17]).normalize(),
            order_type=fields[18],
            lmt_price=Decimal(fields[19]) if fields[19] else None,
            aux_price=Decimal(fields[20]) if fields[20] else None,
            tif=fields[21],
            order_ref=fields[26],
        )
        if fake.on_place == "reject":
            self._reject(order)
            return
        fake.state.open_orders.append(order)
        self.send(m.open_order(order, self.version))
        self.send(m.order_status(order))
        if fake.on_place == "fill":
            price = fake.fill_price or order.lmt_price or Decimal(100)
            asyncio.get_running_loop().create_task(fake.fill(order, order.quantity, price))

    def _reject(self, order: TwsOrder) -> None:
        self.send(m.error(order.order_id, 201, self.fake.reject_reason, self.version))
        order.status = self.fake.reject_status
        order.completed_time = m.ib_time(self.fake.clock(), self.fake.zone)
        self.fake.state.completed_orders.append(order)
        self.send(m.order_status(order))

    def _cancel_order(self, fields: list[str]) -> None:
        order_id = int(fields[2])
        order = next(
            (o for o in self.fake.state.open_orders
             if o.order_id == order_id and o.client_id == self.client_id),
            None,
        )  # fmt: skip
        if order is None:
            text = f"OrderId {order_id} that needs to be cancelled is not found."
            self.send(m.error(order_id, 10147, text, self.version))
            return
        self._cancel(order)

    def _global_cancel(self, fields: list[str]) -> None:
        for order in list(self.fake.state.open_orders):
            self._cancel(order)

    def _cancel(self, order: TwsOrder) -> None:
        order.status = "PendingCancel"
        self.fake.broadcast(m.order_status(order))
        self.fake.broadcast(m.error(order.order_id, 202, "Order Canceled - reason:", self.version))
        order.status = "Cancelled"
        order.completed_time = m.ib_time(self.fake.clock(), self.fake.zone)
        self.fake.state.open_orders.remove(order)
        self.fake.state.completed_orders.append(order)
        self.fake.broadcast(m.order_status(order))


def _parse_filter_time(text: str) -> datetime | None:
    """ExecutionFilter.time: 'yyyymmdd-hh:mm:ss' is UTC (the only form the
    adapter sends); '' means TWS's default window (everything, here)."""
    if not text:
        return None
    return datetime.strptime(text, "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
