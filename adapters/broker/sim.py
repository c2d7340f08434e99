"""The simulated broker: the broker port without a venue, for backtests and the embedded default.

Orders fill against the bars it is shown (`on_bar`), never at the price the
strategy saw: an order placed during bar t fills at the open of the symbol's
next bar, as a whole (no volume limit, no partial fills):
- MARKET / ADAPTIVE: at the open, moved against the order by `slippage_bps`;
- LIMIT: at the open when it is at or better than the limit, else at the limit
  when the bar's range reaches it, else it keeps working;
- STOP: at the open when the open is through the stop, else at the stop when
  the range reaches it, with slippage; STOP_LIMIT: once triggered, a LIMIT.
Commission per fill = max(minimum, notional x commission_bps + shares x
per_share), rounded to cents (half-even).

Every report is a contract `ExecutionReport`; ids are sequence numbers
(order id n, perm id 1_000_000 + n, exec id `sim.<n:08d>.<fill:02d>.01`), so
the same orders in the same order get the same ids: replay-sensitive ids are
pure functions of their inputs.

Two ways in: the synchronous core (`submit`, `on_bar`, `cancel_order`,
`expire_all`) returns the reports, which the backtest engine feeds straight to
the ledger; the async `BrokerPort` methods do the same and hand each report to
the `on_report` callbacks (`ledger serve --broker sim`, which must also show
the broker every bar it ingests through `on_bar`).

`ledger reconcile --broker sim` has no venue to ask, so it rebuilds the
broker's book from what the ledger recorded: `SimBroker.from_events(app.read_events())`
(acknowledged orders, fills, positions). That book agrees with the ledger by
construction unless the log holds something the ledger refused to apply, which
makes it the reconcile pipeline's end-to-end check; a test that needs a break
edits the book through the synchronous core before comparing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from uuid import UUID

from adapters.broker.port import (
    BrokerExecution,
    BrokerOrder,
    BrokerOrderUnknown,
    BrokerPosition,
    BrokerSnapshot,
    OrderKind,
    OrderRequest,
    PermIdCallback,
    ReportCallback,
    ResyncCallback,
)
from adapters.clock import SystemClock
from contracts.messages import ExecutionReport, ReportStatus
from domain import events as ev
from domain.clock import Clock
from domain.money import div
from domain.position import average, step

ZERO = Decimal(0)
ONE = Decimal(1)
BPS = Decimal(10_000)
CENT = Decimal("0.01")
PERM_ID_BASE = 1_000_000
_TERMINAL = frozenset({"FILLED", "CANCELED", "REJECTED", "EXPIRED"})


@dataclass(frozen=True, slots=True)
class SimCosts:
    slippage_bps: Decimal = ZERO
    commission_bps: Decimal = ZERO
    commission_per_share: Decimal = ZERO
    commission_minimum: Decimal = ZERO

    def commission(self, quantity: Decimal, price: Decimal) -> Decimal:
        notional = abs(quantity * price)
        raw = div(notional * self.commission_bps, BPS) + quantity * self.commission_per_share
        return max(self.commission_minimum, raw).quantize(CENT, ROUND_HALF_EVEN)

    def slipped(self, side: str, price: Decimal) -> Decimal:
        if not self.slippage_bps:
            return price
        move = div(self.slippage_bps, BPS)  # the ledger's own context: no global state
        return price * (ONE + move) if side == "BUY" else price * (ONE - move)


@dataclass(slots=True)
class SimOrder:
    order_id: int
    request: OrderRequest
    account: str
    status: str = "ACKNOWLEDGED"
    filled: Decimal = ZERO
    avg_price: Decimal = ZERO
    fills: int = 0
    triggered: bool = False  # a STOP_LIMIT whose stop was reached works as a LIMIT

    @property
    def perm_id(self) -> int:
        return PERM_ID_BASE + self.order_id

    def as_broker_order(self) -> BrokerOrder:
        r = self.request
        return BrokerOrder(
            perm_id=self.perm_id,
            order_id=self.order_id,
            order_ref=str(r.intent_id),
            account=self.account,
            symbol=r.symbol,
            side=r.side,
            quantity=r.quantity,
            order_type=r.order_type,
            limit_price=r.limit_price,
            stop_price=r.stop_price,
            status=self.status,
            filled=self.filled,
            remaining=r.quantity - self.filled,
            avg_fill_price=self.avg_price if self.filled else None,
            broker_status=self.status,
        )


@dataclass(slots=True)
class _Book:
    """A netting position, with the ledger's own arithmetic (`domain.position.step`)."""

    quantity: Decimal = ZERO
    cost: Decimal = ZERO  # open cost basis
    realized: Decimal = ZERO

    @property
    def avg_price(self) -> Decimal:
        return average(self.quantity, self.cost)


@dataclass
class SimBroker:
    """An in-process broker; see the module docstring for its fill rules."""

    account: str = "SIM"
    currency: str = "USD"
    costs: SimCosts = field(default_factory=SimCosts)
    clock: Clock = field(default_factory=SystemClock)
    orders: dict[UUID, SimOrder] = field(default_factory=dict)
    executions: list[BrokerExecution] = field(default_factory=list)
    books: dict[tuple[str, str], _Book] = field(default_factory=dict)
    _working: dict[str, list[SimOrder]] = field(default_factory=dict)
    _open: int = 0  # orders in _working
    _callbacks: list[ReportCallback] = field(default_factory=list)
    _perm_callbacks: list[PermIdCallback] = field(default_factory=list)
    _resync_callbacks: list[ResyncCallback] = field(default_factory=list)

    # ------------------------------------------------------------------ synchronous core

    def submit(self, request: OrderRequest, at: datetime) -> list[ExecutionReport]:
        """Accept an order (ACKNOWLEDGED); it fills on a later `on_bar`. A repeat of a
        known intent is refused with a REJECTED report, as a venue refuses a duplicate id."""
        if request.intent_id in self.orders:
            order = self.orders[request.intent_id]
            return [self._report(order, ReportStatus.REJECTED, at, "duplicate order id")]
        order = SimOrder(len(self.orders) + 1, request, request.account or self.account)
        self.orders[request.intent_id] = order
        self._working.setdefault(request.symbol, []).append(order)
        self._open += 1
        return [self._report(order, ReportStatus.ACKNOWLEDGED, at)]

    def has_working(self, symbol: str) -> bool:
        return bool(self._working.get(symbol))

    @property
    def has_any_working(self) -> bool:
        """Cheap test the engine makes before looking at each bar's symbol."""
        return self._open > 0

    def on_bar(
        self, symbol: str, at: datetime, open_: Decimal, high: Decimal, low: Decimal
    ) -> list[ExecutionReport]:
        """Fill what this bar reaches, in the order the orders were placed."""
        working = self._working.get(symbol)
        if not working:
            return []
        reports: list[ExecutionReport] = []
        still: list[SimOrder] = []
        for order in working:
            price = self._fill_price(order, open_, high, low)
            if price is None:
                still.append(order)
            else:
                reports.append(self._fill(order, price, at))
        self._working[symbol] = still
        self._open -= len(working) - len(still)
        return reports

    def cancel_order(
        self, intent_id: UUID, at: datetime, reason: str = "canceled"
    ) -> list[ExecutionReport]:
        order = self.orders.get(intent_id)
        if order is None or order.status in _TERMINAL:
            raise BrokerOrderUnknown(f"no working order for intent {intent_id}")
        self._working[order.request.symbol].remove(order)
        self._open -= 1
        order.status = "CANCELED"
        return [self._report(order, ReportStatus.CANCELED, at, reason)]

    def expire_all(self, at: datetime, reason: str) -> list[ExecutionReport]:
        """Cancel every working order (end of a backtest: no bar left to fill at)."""
        reports: list[ExecutionReport] = []
        for order in list(self.orders.values()):
            if order.status not in _TERMINAL:
                reports.extend(self.cancel_order(order.request.intent_id, at, reason))
        return reports

    def _fill_price(
        self, order: SimOrder, open_: Decimal, high: Decimal, low: Decimal
    ) -> Decimal | None:
        r = order.request
        buy = r.side == "BUY"
        kind = "LIMIT" if order.triggered else r.order_type
        if kind in ("MARKET", "ADAPTIVE"):
            return self.costs.slipped(r.side, open_)
        if kind in ("STOP", "STOP_LIMIT"):
            stop = r.stop_price if r.stop_price is not None else open_
            through = open_ >= stop if buy else open_ <= stop
            reached = through or (high >= stop if buy else low <= stop)
            if not reached:
                return None
            trigger = open_ if through else stop
            if kind == "STOP":
                return self.costs.slipped(r.side, trigger)
            order.triggered = True
            open_ = trigger  # the limit part works from the trigger price on
        limit = r.limit_price if r.limit_price is not None else open_
        if buy:
            return open_ if open_ <= limit else (limit if low <= limit else None)
        return open_ if open_ >= limit else (limit if high >= limit else None)

    def _fill(self, order: SimOrder, price: Decimal, at: datetime) -> ExecutionReport:
        r = order.request
        qty = r.quantity - order.filled
        commission = self.costs.commission(qty, price)
        order.fills += 1
        order.avg_price = div(order.avg_price * order.filled + price * qty, order.filled + qty)
        order.filled += qty
        order.status = "FILLED"
        exec_id = f"sim.{order.order_id:08d}.{order.fills:02d}.01"
        self._book(order.account, r.symbol, qty if r.side == "BUY" else -qty, price)
        self.executions.append(
            BrokerExecution(
                exec_id=exec_id,
                order_ref=str(r.intent_id),
                perm_id=order.perm_id,
                order_id=order.order_id,
                account=order.account,
                symbol=r.symbol,
                side=r.side,
                quantity=qty,
                price=price,
                time=at,
                cum_qty=order.filled,
                avg_price=order.avg_price,
                commission=commission,
                commission_currency=self.currency,
            )
        )
        return ExecutionReport(
            intent_id=r.intent_id,
            order_id=str(order.order_id),
            symbol=r.symbol,
            status=ReportStatus.FILLED,
            filled_quantity=order.filled,
            avg_fill_price=order.avg_price,
            timestamp=at,
            account=order.account,
            exec_id=exec_id,
            last_quantity=qty,
            last_price=price,
            commission=commission,
            commission_currency=self.currency,
        )

    def _book(self, account: str, symbol: str, signed: Decimal, price: Decimal) -> None:
        book = self.books.setdefault((account, symbol), _Book())
        book.quantity, book.cost, book.realized = step(
            book.quantity, book.cost, book.realized, signed, price, ONE
        )

    def _report(
        self, order: SimOrder, status: ReportStatus, at: datetime, reason: str | None = None
    ) -> ExecutionReport:
        r = order.request
        return ExecutionReport(
            intent_id=r.intent_id,
            order_id=str(order.order_id),
            symbol=r.symbol,
            status=status,
            filled_quantity=order.filled,
            avg_fill_price=order.avg_price,
            timestamp=at,
            account=order.account,
            reject_reason=reason,  # the ledger keeps it as the reason of a cancel or reject
        )

    # ------------------------------------------------------------------ the broker's book

    def broker_snapshot(self) -> BrokerSnapshot:
        positions = tuple(
            BrokerPosition(
                account=acct,
                symbol=sym,
                sec_type="STK",
                exchange="SIM",
                currency=self.currency,
                con_id=0,
                quantity=b.quantity,
                avg_cost=b.avg_price,
            )
            for (acct, sym), b in sorted(self.books.items())
            if b.quantity != 0
        )
        orders = [o.as_broker_order() for o in self.orders.values()]
        return BrokerSnapshot(
            positions=positions,
            executions=tuple(self.executions),
            open_orders=tuple(o for o in orders if o.status not in _TERMINAL),
            completed_orders=tuple(o for o in orders if o.status in _TERMINAL),
            managed_accounts=(self.account,),
        )

    @classmethod
    def from_events(
        cls,
        events: Iterable[ev.LedgerEvent | tuple[int, ev.LedgerEvent]],
        *,
        account: str = "SIM",
        currency: str = "USD",
    ) -> SimBroker:
        """The broker's book as the ledger recorded it: orders the broker acknowledged or
        filled, their fills (corrections replace), and the positions those fills make."""
        broker = cls(account=account, currency=currency)
        intents: dict[UUID, ev.OrderIntentRecorded] = {}
        for item in events:
            e = item[1] if isinstance(item, tuple) else item
            if isinstance(e, ev.OrderIntentRecorded):
                intents[e.originator_id] = e
            elif isinstance(e, ev.OrderEvent) and e.originator_id in intents:
                broker._replay_order_event(intents[e.originator_id], e)
        return broker

    def _replay_order_event(self, intent: ev.OrderIntentRecorded, e: ev.OrderEvent) -> None:
        order = self.orders.get(intent.originator_id)
        if order is None:
            if not isinstance(e, ev.OrderSubmitted | ev.OrderAcknowledged | ev.OrderFillEvent):
                return  # denied or canceled before the broker saw it
            request = OrderRequest(
                intent.originator_id,
                intent.symbol,
                "BUY" if intent.side == "BUY" else "SELL",
                intent.quantity,
                _order_kind(intent.order_type),
                intent.limit_price,
                intent.stop_price,
                intent.account,
            )
            order = SimOrder(len(self.orders) + 1, request, intent.account)
            self.orders[intent.originator_id] = order
            self._working.setdefault(intent.symbol, []).append(order)
            self._open += 1
        if isinstance(e, ev.OrderFillEvent | ev.OrderFillCorrected):
            self._replay_fill(order, e)
        order.status = e.status
        working = self._working[intent.symbol]
        if order.status in _TERMINAL and order in working:
            working.remove(order)
            self._open -= 1

    def _replay_fill(self, order: SimOrder, e: ev.OrderFillEvent | ev.OrderFillCorrected) -> None:
        r = order.request
        order.fills += 1
        order.filled, order.avg_price = e.filled_quantity, e.avg_fill_price
        execution = BrokerExecution(
            exec_id=e.exec_id,
            order_ref=str(r.intent_id),
            perm_id=order.perm_id,
            order_id=order.order_id,
            account=order.account,
            symbol=r.symbol,
            side=r.side,
            quantity=e.fill_quantity,
            price=e.fill_price,
            time=e.occurred_at,
            cum_qty=e.filled_quantity,
            avg_price=e.avg_fill_price,
            commission=e.commission,
            commission_currency=self.currency,
        )
        if isinstance(e, ev.OrderFillCorrected):
            i = next(i for i, x in enumerate(self.executions) if x.exec_id == e.replaced_exec_id)
            self.executions[i] = execution
            self._rebook(order.account, r.symbol)
            return
        self.executions.append(execution)
        self._book(
            order.account,
            r.symbol,
            e.fill_quantity if r.side == "BUY" else -e.fill_quantity,
            e.fill_price,
        )

    def _rebook(self, account: str, symbol: str) -> None:
        """A correction replaces a fill in place, so the book is recomputed from the fills
        in their order, as the ledger does (booking the reverse of the old fill would
        realise PnL through the average and leave a different average cost)."""
        self.books.pop((account, symbol), None)
        for x in self.executions:
            if x.account == account and x.symbol == symbol:
                self._book(account, symbol, x.quantity if x.side == "BUY" else -x.quantity, x.price)

    # ------------------------------------------------------------------ the broker port

    async def connect(self) -> None:
        snapshot = self.broker_snapshot()
        for callback in self._resync_callbacks:
            callback(snapshot)

    async def disconnect(self) -> None:
        return None

    async def snapshot(self, executions_since: datetime | None = None) -> BrokerSnapshot:
        snap = self.broker_snapshot()
        if executions_since is None:
            return snap
        kept = tuple(x for x in snap.executions if x.time >= executions_since)
        return BrokerSnapshot(
            snap.positions, kept, snap.open_orders, snap.completed_orders, snap.managed_accounts
        )

    async def place(self, order: OrderRequest) -> None:
        known = order.intent_id in self.orders
        self._dispatch(self.submit(order, self.clock.now()))
        if not known:
            for callback in self._perm_callbacks:
                callback(order.intent_id, self.orders[order.intent_id].perm_id)

    async def cancel(self, intent_id: UUID) -> None:
        self._dispatch(self.cancel_order(intent_id, self.clock.now()))

    async def cancel_all(self) -> None:
        self._dispatch(self.expire_all(self.clock.now(), "canceled: cancel all"))

    def on_report(self, callback: ReportCallback) -> None:
        self._callbacks.append(callback)

    def on_perm_id(self, callback: PermIdCallback) -> None:
        self._perm_callbacks.append(callback)

    def on_resync(self, callback: ResyncCallback) -> None:
        self._resync_callbacks.append(callback)

    def show_bar(
        self, symbol: str, at: datetime, open_: Decimal, high: Decimal, low: Decimal
    ) -> None:
        """`on_bar` for live use: the fills go to the `on_report` callbacks."""
        self._dispatch(self.on_bar(symbol, at, open_, high, low))

    def _dispatch(self, reports: list[ExecutionReport]) -> None:
        for report in reports:
            for callback in self._callbacks:
                callback(report)


def _order_kind(text: str) -> OrderKind:
    kinds: dict[str, OrderKind] = {
        "MARKET": "MARKET",
        "LIMIT": "LIMIT",
        "STOP": "STOP",
        "STOP_LIMIT": "STOP_LIMIT",
        "ADAPTIVE": "ADAPTIVE",
    }
    return kinds.get(text, "MARKET")
