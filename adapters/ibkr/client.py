"""`IbkrBroker`: the broker port on the real ib_async client.

ib_async objects stay inside this package: callers get the port's
dataclasses and contract ExecutionReports. Only ib_async's coroutine methods
are awaited (its blocking variants raise inside a running loop); placeOrder,
cancelOrder and reqGlobalCancel only write to the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from ib_async import IB, CommissionReport, ExecutionFilter, Fill, Trade

from adapters.broker.port import (
    BrokerConfigError,
    BrokerOrderUnknown,
    BrokerSnapshot,
    BrokerUnreachable,
    OrderRequest,
    PermIdCallback,
    ReportCallback,
    ResyncCallback,
)
from adapters.ibkr.config import IbkrSettings, check_port_account, resolve_account
from adapters.ibkr.live import ReportTracker
from adapters.ibkr.mapping import fill_report, order_update, parse_intent_id, to_decimal
from adapters.ibkr.orders import ContractSpec, ib_contract, ib_order
from adapters.ibkr.pacing import Pacer
from adapters.ibkr.snapshot import build_snapshot
from contracts.messages import ExecutionReport

log = logging.getLogger(__name__)
T = TypeVar("T")

# OSError covers a refused or reset socket and ib_async's ConnectionError
# (startup sync failed, peer closed: e.g. client id in use); TimeoutError
# covers a host that does not answer.
_CONNECTION_ERRORS = (OSError, TimeoutError)


class IbkrBroker:
    """Interactive Brokers through TWS or IB Gateway."""

    def __init__(
        self,
        settings: IbkrSettings,
        *,
        contracts: Callable[[str], ContractSpec] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.account: str | None = None
        self.managed_accounts: tuple[str, ...] = ()
        self.warnings: list[str] = []
        self._contracts = contracts or self._default_contract
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ib = IB()
        self._pacer = Pacer(settings.max_orders_per_second)
        self._report_callbacks: list[ReportCallback] = []
        self._perm_callbacks: list[PermIdCallback] = []
        self._resync_callbacks: list[ResyncCallback] = []
        self._perm_ids: dict[UUID, int] = {}
        self._tracker = ReportTracker(self._emit, self._call_later, settings.commission_wait)
        self._closing = True
        self._connecting = False
        self._reconnect_task: asyncio.Task[None] | None = None
        self._ib.openOrderEvent += self._on_trade
        self._ib.orderStatusEvent += self._on_trade
        self._ib.execDetailsEvent += self._on_exec
        self._ib.commissionReportEvent += self._on_commission
        self._ib.disconnectedEvent += self._on_disconnected

    # --- registration -------------------------------------------------------

    def on_report(self, callback: ReportCallback) -> None:
        self._report_callbacks.append(callback)

    def on_perm_id(self, callback: PermIdCallback) -> None:
        self._perm_callbacks.append(callback)

    def on_resync(self, callback: ResyncCallback) -> None:
        self._resync_callbacks.append(callback)

    @property
    def is_connected(self) -> bool:
        return bool(self._ib.isConnected())

    @property
    def server_version(self) -> int:
        """The API version TWS answered the handshake with (0 when not connected)."""
        return int(self._ib.client.serverVersion())

    def perm_ids(self) -> dict[UUID, int]:
        """Intent id → permId, as first seen in this process."""
        return dict(self._perm_ids)

    # --- connection ---------------------------------------------------------

    async def connect(self) -> None:
        # Refuse an unsafe account/port pair before touching the network.
        check_port_account(self.settings.port, self.settings.account)
        self._closing = False
        try:
            await self._open()
        except BaseException:
            self._closing = True
            raise

    async def disconnect(self) -> None:
        self._closing = True
        task, self._reconnect_task = self._reconnect_task, None
        if task is not None:
            task.cancel()
        self._ib.disconnect()

    async def _open(self) -> None:
        s = self.settings
        self._connecting = True
        try:
            await self._connect_socket()
            self.managed_accounts = tuple(self._ib.managedAccounts())
            try:
                account = resolve_account(s.account, self.managed_accounts)
                self.warnings = check_port_account(s.port, account)
            except BrokerConfigError:
                self._ib.disconnect()
                raise
        finally:
            self._connecting = False
        self.account = account
        for warning in self.warnings:
            log.warning("IBKR: %s", warning)
        snapshot = await self.snapshot()
        for callback in self._resync_callbacks:
            callback(snapshot)

    async def _connect_socket(self) -> None:
        """ib_async's connectAsync, failing fast (not at its timeout) when TWS
        closes the socket during the handshake, e.g. client id in use (326)."""
        s = self.settings
        said: list[str] = []
        lost: asyncio.Future[str] = asyncio.get_running_loop().create_future()

        def on_error(req_id: int, code: int, text: str, contract: object) -> None:
            if req_id == -1 and not 2100 <= code < 2200:  # farm status lines are info
                said.append(f"{code} {text}")

        def on_api_error(message: str) -> None:
            if not lost.done():
                lost.set_result(message)

        self._ib.errorEvent += on_error
        self._ib.client.apiError += on_api_error
        connecting = asyncio.ensure_future(
            self._ib.connectAsync(
                s.host,
                s.port,
                clientId=s.client_id,
                timeout=s.connect_timeout,
                account="",  # checked afterwards, against what the gateway manages
                raiseSyncErrors=True,
            )
        )
        try:
            await asyncio.wait({connecting, lost}, return_when=asyncio.FIRST_COMPLETED)
            if connecting.done():
                connecting.result()
                return
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, *_CONNECTION_ERRORS):
                await connecting
            raise ConnectionError(lost.result())
        except _CONNECTION_ERRORS as e:
            detail = f"; TWS said: {'; '.join(said)}" if said else ""
            raise BrokerUnreachable(
                f"cannot connect to IB at {s.host}:{s.port}: {e!r}{detail}"
            ) from e
        finally:
            self._ib.errorEvent -= on_error
            self._ib.client.apiError -= on_api_error

    def _on_disconnected(self) -> None:
        if self._closing or self._connecting or not self.settings.reconnect_delays:
            return
        if self._reconnect_task is None or self._reconnect_task.done():
            log.warning("IBKR: connection lost, reconnecting")
            self._reconnect_task = asyncio.get_running_loop().create_task(self._reconnect())

    async def _reconnect(self) -> None:
        delays = self.settings.reconnect_delays
        attempt = 0
        while True:
            await asyncio.sleep(delays[min(attempt, len(delays) - 1)])
            if self._closing:  # disconnect() or a failed connect() meanwhile
                return
            try:
                await self._open()
            except BrokerUnreachable as e:
                attempt += 1
                log.warning("IBKR: reconnect attempt %d failed: %s", attempt, e)
            except BrokerConfigError:
                log.exception("IBKR: reconnected to a gateway with the wrong account; giving up")
                return
            else:
                log.info("IBKR: reconnected")
                return

    # --- queries --------------------------------------------------------------

    async def snapshot(self, executions_since: datetime | None = None) -> BrokerSnapshot:
        account = self._require_connected()
        since = ""
        if executions_since is not None:
            # 'yyyymmdd-hh:mm:ss' is read by TWS as UTC (a space would mean its local zone).
            since = executions_since.astimezone(UTC).strftime("%Y%m%d-%H:%M:%S")
        positions = await self._request(self._ib.reqPositionsAsync())
        fills: list[Fill] = await self._request(
            self._ib.reqExecutionsAsync(ExecutionFilter(acctCode=account, time=since))
        )
        open_trades: list[Trade] = await self._request(self._ib.reqAllOpenOrdersAsync())
        completed: list[Trade] = await self._request(
            self._ib.reqCompletedOrdersAsync(apiOnly=False)
        )
        for trade in (*open_trades, *completed):
            self._note_perm_id(trade.order.orderRef, trade.order.permId)
        return build_snapshot(
            account,
            self.managed_accounts,
            positions,
            fills,
            [f.commissionReport for f in self._ib.fills()],
            open_trades,
            completed,
        )

    async def _request(self, awaitable: Awaitable[T]) -> T:
        try:
            return await asyncio.wait_for(awaitable, self.settings.connect_timeout)
        except _CONNECTION_ERRORS as e:
            raise BrokerUnreachable(f"IB request failed: {e!r}") from e

    # --- orders ---------------------------------------------------------------

    async def place(self, order: OrderRequest) -> None:
        """Send the order; idempotent per intent id (an intent whose order IB
        already knows, live or completed, is not sent again)."""
        account = self._require_connected()
        if self._find_trade(order.intent_id, working_only=False) is not None:
            log.warning("IBKR: intent %s already has an order; not sent again", order.intent_id)
            return
        await self._pacer.acquire()
        contract = ib_contract(self._contracts(order.symbol))
        try:
            self._ib.placeOrder(contract, ib_order(order, account))
        except ConnectionError as e:
            raise BrokerUnreachable(f"order {order.intent_id} not sent: {e}") from e

    async def cancel(self, intent_id: UUID) -> None:
        self._require_connected()
        trade = self._find_trade(intent_id, working_only=True)
        if trade is None:
            raise BrokerOrderUnknown(f"no working order for intent {intent_id}")
        await self._pacer.acquire()
        try:
            self._ib.cancelOrder(trade.order)
        except ConnectionError as e:
            raise BrokerUnreachable(f"cancel of {intent_id} not sent: {e}") from e

    async def cancel_all(self) -> None:
        self._require_connected()
        await self._pacer.acquire()
        try:
            self._ib.reqGlobalCancel()  # type: ignore[no-untyped-call]
        except ConnectionError as e:
            raise BrokerUnreachable(f"global cancel not sent: {e}") from e

    def _find_trade(self, intent_id: UUID, *, working_only: bool) -> Trade | None:
        trades = self._ib.openTrades() if working_only else self._ib.trades()
        ref = str(intent_id)
        return next((t for t in trades if t.order.orderRef == ref), None)

    def _require_connected(self) -> str:
        if self.account is None or not self._ib.isConnected():
            raise BrokerUnreachable("not connected to IB")
        return self.account

    def _default_contract(self, symbol: str) -> ContractSpec:
        s = self.settings
        return ContractSpec(symbol, s.sec_type, s.exchange, s.currency)

    # --- events from ib_async -------------------------------------------------

    def _on_trade(self, trade: Trade) -> None:
        self._note_perm_id(trade.order.orderRef, trade.order.permId or trade.orderStatus.permId)
        update = order_update(trade, self._clock())
        if update is not None:
            self._tracker.on_update(update)

    def _on_exec(self, trade: Trade, fill: Fill) -> None:
        self._note_perm_id(fill.execution.orderRef, fill.execution.permId)
        report = fill_report(trade, fill)
        if report is not None:
            self._tracker.on_fill(report)

    def _on_commission(self, trade: Trade, fill: Fill, report: CommissionReport) -> None:
        self._tracker.on_commission(
            report.execId, to_decimal(report.commission), report.currency or None
        )

    def _note_perm_id(self, order_ref: str, perm_id: int) -> None:
        intent_id = parse_intent_id(order_ref)
        if intent_id is None or perm_id <= 0 or intent_id in self._perm_ids:
            return
        self._perm_ids[intent_id] = perm_id
        for callback in self._perm_callbacks:
            callback(intent_id, perm_id)

    def _emit(self, report: ExecutionReport) -> None:
        for callback in self._report_callbacks:
            callback(report)

    @staticmethod
    def _call_later(delay: float, action: Callable[[], None]) -> asyncio.TimerHandle:
        return asyncio.get_running_loop().call_later(delay, action)
