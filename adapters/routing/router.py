"""Live order routing (`ledger serve --broker ibkr|sim`): the ledger as the gateway.

Outbound, after each committed batch (`app.on_committed`):
- an accepted intent (`OrderIntentRecorded` of origin "intent" or
  "killswitch" not denied in the same batch) becomes one `OrderRequest` with
  orderRef = intent id. Orders of origin "broker" were booked from the broker
  by reconciliation and are never sent. The kill switch needs nothing more:
  the ledger denies what it must (TRIPPED: all; REDUCING: what does not reduce
  exposure), so only accepted intents are sent;
- `OrderCancelRequested` (a kill-switch trip, an operator) becomes a cancel.
  A trip's batch holds the cancel requests before the flatten intents, and
  commands go out in log order, one at a time: the adapter's pacer keeps the
  burst under the broker's limit (IBKR: 40/s, under its 50 messages/s).
- Before an order is sent its ledger status is checked again: an order
  cancelled before it went out is not sent, and its cancel is settled with a
  CANCELED report (reason says it never reached the broker), so it does not
  stay PENDING_CANCEL for ever.

With the simulated broker, each committed bar is shown to it (in log order
with the orders), as it fills working orders against bars.

Inbound, everything goes through `app.process` as `ParsedMessage`s with
source `broker:<name>` and a monotonic sequence number, which the ledger
stores with the events (source positions), so a restart resumes after the
last committed report:
- each report the broker sends;
- after every (re)connect, what the ledger has not seen (resync.py): missed
  fills, corrections and commissions first, then statuses.

Threading: the router runs on one asyncio loop and calls `app.process` on
it. `on_committed` may fire on another thread (it only enqueues, thread-safe),
but the application itself must only ever be used from one thread at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast
from uuid import UUID

from adapters.broker.port import (
    BrokerError,
    BrokerOrderUnknown,
    BrokerPort,
    BrokerSnapshot,
    BrokerUnreachable,
    OrderRequest,
)
from adapters.broker.sim import SimBroker
from adapters.routing.messages import order_request, unsent_cancel_report
from adapters.routing.resync import missed_fill_reports, missed_status_reports
from contracts.messages import ExecutionReport
from domain import events as ev
from domain.application import LedgerApplication, ParsedMessage
from domain.order_table import OrderStatus

log = logging.getLogger(__name__)

ROUTED_ORIGINS = frozenset({"intent", "killswitch"})


class RoutingConfigError(BrokerError):
    """The ledger and the broker disagree on the account to trade."""


@dataclass(frozen=True, slots=True)
class _Place:
    request: OrderRequest


@dataclass(frozen=True, slots=True)
class _Cancel:
    intent_id: UUID


@dataclass(frozen=True, slots=True)
class _Bar:
    """A bar for the simulated broker, which fills working orders against bars."""

    bar: ev.MarketBarRecorded


_Command = _Place | _Cancel | _Bar
_Inbound = ExecutionReport | BrokerSnapshot


class BrokerRouter:
    def __init__(self, app: LedgerApplication, broker: BrokerPort, *, name: str = "ibkr") -> None:
        self.app = app
        self.broker = broker
        self.name = name
        self.source = f"broker:{name}"
        self.perm_ids: dict[UUID, int] = {}
        self.unsent: dict[UUID, OrderRequest] = {}  # the broker was unreachable: resent on resync
        self._queued: set[UUID] = set()  # intents this process has queued to send
        self._sent: set[UUID] = set()
        self._settled: set[UUID] = set()  # cancelled before being sent, settled locally
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = 0
        self._outbox: asyncio.Queue[_Command] = asyncio.Queue()
        self._inbox: asyncio.Queue[_Inbound] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Register the callbacks, connect (which resyncs), check the account, then
        start the two workers: nothing is sent or ingested before the check passes.
        Raises BrokerUnreachable / BrokerConfigError / RoutingConfigError."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        # Resume the sequence after the last report the ledger committed.
        self._seq = self.app.store.source_positions().get(self.source, 0)
        self.app.on_committed.append(self._on_committed)
        self.broker.on_report(self._on_report)
        self.broker.on_perm_id(self._on_perm_id)
        self.broker.on_resync(self._on_resync)
        try:
            await self.broker.connect()
            self._check_account()
        except BaseException:
            await self._shut(drain=False)
            raise
        self._tasks = [
            asyncio.create_task(self._send_loop(), name=f"route-out:{self.name}"),
            asyncio.create_task(self._ingest_loop(), name=f"route-in:{self.name}"),
        ]

    async def stop(self, timeout: float = 5.0) -> None:
        """Let queued work finish (bounded), then stop the workers and disconnect."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.idle(), timeout)
        await self._shut(drain=True)

    async def _shut(self, *, drain: bool) -> None:
        if self._on_committed in self.app.on_committed:
            self.app.on_committed.remove(self._on_committed)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if not drain:  # refused: whatever was queued must never reach broker or ledger
            self._outbox = asyncio.Queue()
            self._inbox = asyncio.Queue()
        await self.broker.disconnect()

    async def idle(self) -> None:
        """Wait until everything queued has been sent and ingested."""
        await self._outbox.join()
        await self._inbox.join()

    async def join(self) -> None:
        """Wait for the workers; raises what made one of them fail (e.g. the store)."""
        await asyncio.gather(*self._tasks)

    def _check_account(self) -> None:
        account = getattr(self.broker, "account", None)
        configured = self.app.config.account
        if isinstance(account, str) and account and account != configured:
            raise RoutingConfigError(
                f"the ledger's account is {configured} but the broker trades {account}:"
                " set LEDGER_ACCOUNT to the broker account"
            )

    # ------------------------------------------------------------------ outbound

    def _on_committed(self, events: Sequence[ev.LedgerEvent], position: int) -> None:
        denied = {e.originator_id for e in events if isinstance(e, ev.OrderDenied)}
        commands: list[_Command] = []
        for e in events:
            if (
                isinstance(e, ev.OrderIntentRecorded)
                and e.origin in ROUTED_ORIGINS
                and e.originator_id not in denied
            ):
                request = order_request(e)
                if request is not None:
                    commands.append(_Place(request))
            elif isinstance(e, ev.OrderCancelRequested):
                commands.append(_Cancel(e.originator_id))
            elif isinstance(e, ev.MarketBarRecorded) and isinstance(self.broker, SimBroker):
                commands.append(_Bar(e))
        for command in commands:
            if isinstance(command, _Place):
                self._queued.add(command.request.intent_id)
            self._call_on_loop(self._outbox.put_nowait, command)

    async def _send_loop(self) -> None:
        while True:
            command = await self._outbox.get()
            try:
                if isinstance(command, _Place):
                    await self._place(command.request)
                elif isinstance(command, _Cancel):
                    await self._cancel(command.intent_id)
                else:
                    self._show_bar(command.bar)
            finally:
                self._outbox.task_done()

    async def _place(self, request: OrderRequest) -> None:
        intent_id = request.intent_id
        order = self.app.ledger.orders.get(intent_id)
        if order is None or intent_id in self._sent:
            return
        if order.status != OrderStatus.NEW:
            if order.status == OrderStatus.PENDING_CANCEL:
                self._settle_unsent_cancel(intent_id)  # cancelled before it went out
            return
        try:
            await self.broker.place(request)
        except BrokerUnreachable as e:
            log.warning(
                "routing %s: order %s not sent (%s); resent on reconnect", self.name, intent_id, e
            )
            self.unsent[intent_id] = request
            return
        self._sent.add(intent_id)
        self.unsent.pop(intent_id, None)

    async def _cancel(self, intent_id: UUID) -> None:
        if intent_id in self._settled:
            return  # never sent; its cancel is already settled
        if intent_id in self.unsent:
            # It never reached the broker: there is nothing to cancel there.
            self.unsent.pop(intent_id)
            self._settle_unsent_cancel(intent_id)
            return
        try:
            await self.broker.cancel(intent_id)
        except BrokerOrderUnknown:
            log.warning("routing %s: no working order at the broker for %s", self.name, intent_id)
        except BrokerUnreachable as e:
            log.warning("routing %s: cancel of %s not sent (%s)", self.name, intent_id, e)

    def _show_bar(self, bar: ev.MarketBarRecorded) -> None:
        # In log order with the orders: an order placed before this bar fills on it.
        if isinstance(self.broker, SimBroker):
            self.broker.show_bar(bar.symbol, bar.occurred_at, bar.open, bar.high, bar.low)

    @property
    def pending(self) -> bool:
        """Work is queued (to send or to ingest)."""
        return not (self._outbox.empty() and self._inbox.empty())

    @property
    def failure(self) -> BaseException | None:
        """What stopped a worker, if one stopped."""
        for task in self._tasks:
            if task.done() and not task.cancelled():
                return task.exception()
        return None

    def _settle_unsent_cancel(self, intent_id: UUID) -> None:
        """Only for an order this process never sent: it stays PENDING_CANCEL
        otherwise, as no broker will ever report on it."""
        self._settled.add(intent_id)
        report = unsent_cancel_report(self.app.ledger.orders[intent_id], self.app.clock.now())
        self._inbox.put_nowait(report)

    # ------------------------------------------------------------------ inbound

    def _on_report(self, report: ExecutionReport) -> None:
        self._call_on_loop(self._inbox.put_nowait, report)

    def _on_resync(self, snapshot: BrokerSnapshot) -> None:
        self._call_on_loop(self._inbox.put_nowait, snapshot)

    def _on_perm_id(self, intent_id: UUID, perm_id: int) -> None:
        # The ledger records the permId from the broker's reports (the order id
        # of SUBMITTED/ACKNOWLEDGED); this map serves lookups in this process.
        self.perm_ids.setdefault(intent_id, perm_id)

    async def _ingest_loop(self) -> None:
        while True:
            items = [await self._inbox.get()]
            while not self._inbox.empty():
                items.append(self._inbox.get_nowait())
            try:
                reports: list[ExecutionReport] = []
                for item in items:
                    if isinstance(item, ExecutionReport):
                        reports.append(item)
                        continue
                    self._ingest(reports)
                    reports = []
                    self._resync(item)
                self._ingest(reports)
            except Exception:
                # The ledger cannot take the broker's reports (store down, ...):
                # stop here, loudly; `join()` raises it, and the next connect's
                # resync refetches whatever was lost.
                log.exception("routing %s: reports not ingested; routing stops", self.name)
                raise
            finally:
                for _ in items:
                    self._inbox.task_done()

    def _ingest(self, reports: list[ExecutionReport]) -> None:
        if not reports:
            return
        batch = []
        for report in reports:
            self._seq += 1
            batch.append(ParsedMessage(self.source, self._seq, report))
        self.app.process(batch)

    def _resync(self, snapshot: BrokerSnapshot) -> None:
        account = self._account(snapshot)
        now = self.app.clock.now()
        ledger = self.app.ledger
        self._ingest(missed_fill_reports(ledger, snapshot, account, broker=self.name, as_of=now))
        self._ingest(missed_status_reports(self.app.ledger, snapshot, account, as_of=now))
        at_broker = {o.order_ref for o in (*snapshot.open_orders, *snapshot.completed_orders)}
        for intent_id, request in list(self.unsent.items()):
            if str(intent_id) in at_broker:
                self.unsent.pop(intent_id)
            else:
                self._outbox.put_nowait(_Place(request))
        stranded = [
            str(o.intent_id)
            for o in self.app.ledger.orders.values()
            if o.status == OrderStatus.NEW
            and o.origin in ROUTED_ORIGINS
            and o.intent_id not in self.unsent
            and str(o.intent_id) not in at_broker
            and o.intent_id not in self._queued
        ]
        if stranded:
            # Accepted before this process ran and never sent: sending old
            # orders unasked is riskier than listing them (reconcile does too).
            log.warning(
                "routing %s: %d accepted orders were never sent: %s",
                self.name,
                len(stranded),
                ", ".join(stranded),
            )

    def _account(self, snapshot: BrokerSnapshot) -> str:
        account = getattr(self.broker, "account", None)
        if isinstance(account, str) and account:
            return account
        if len(snapshot.managed_accounts) == 1:
            return snapshot.managed_accounts[0]
        return self.app.config.account

    # ------------------------------------------------------------------ helpers

    def _call_on_loop(
        self, fn: Callable[[_Command], None] | Callable[[_Inbound], None], item: object
    ) -> None:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the router is not started")
        call = cast(Callable[[object], None], fn)
        if threading.get_ident() == self._thread:
            call(item)
        else:
            loop.call_soon_threadsafe(call, item)
