"""The backtest engine: bars -> ledger, strategy -> intents -> ledger -> simulated broker -> ledger.

Per bar group (one timestamp, bars in symbol order), in this order:
1. the broker fills what was working for these symbols at the bars' opens;
   its reports go to the ledger first (a fill happens at the open, before the
   bar's close is known);
2. the bars go to the ledger: each close is a mark, so equity, the daily-loss,
   drawdown and PSR triggers are evaluated exactly as live;
3. if the kill switch changed, its consequences are routed at once: flatten
   orders to the broker, cancels of working orders;
4. at the policy's interval (never on the last group: nothing is left to fill
   at), the policy sees the ledger's equity, positions and marks and returns
   orders; they go to the ledger as `OrderIntent`s, and those the ledger
   accepted (not denied by the kill switch) go to the broker.
Everything is decided through the ledger application (see `staging.py`) and
recorded at the group's time. At the end, orders still working are canceled
("no bar left to fill at") and the rest is committed.

Inputs carry stable coordinates: bars `backtest:<file>@<line>`, intents
`backtest:strategy@<n>`, broker reports `backtest:sim@<n>`; intent ids are
uuid5(seed, group index, symbol). Nothing depends on where the store or the
output is, so the same data and seed give byte-identical stored events.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from adapters.backtest import collector
from adapters.backtest.clock import DataClock, intent_id
from adapters.backtest.policy import Book, Policy
from adapters.backtest.staging import StagedLedger
from adapters.broker.port import OrderKind, OrderRequest, Side
from adapters.broker.sim import SimBroker
from contracts import BarEvent, ExecutionReport, OrderIntent
from contracts.messages import Direction, OrderType
from domain import events as ev
from domain.application import LedgerApplication, ParsedMessage
from domain.order_table import OrderStatus

STRATEGY_SOURCE = "backtest:strategy"
BROKER_SOURCE = "backtest:sim"
END_REASON = "backtest ended: no bar left to fill at"
_FILL_EVENTS = (ev.OrderFilled, ev.OrderPartiallyFilled)
_ORDER_KINDS: dict[str, OrderKind] = {
    "MARKET": "MARKET",
    "LIMIT": "LIMIT",
    "STOP": "STOP",
    "STOP_LIMIT": "STOP_LIMIT",
    "ADAPTIVE": "ADAPTIVE",
}


@dataclass(frozen=True, slots=True)
class Trip:
    time: datetime
    trigger: str
    action: str
    reason: str


@dataclass
class RunStats:
    """What a run did, counted from the events it committed."""

    groups: int = 0
    bars: int = 0
    events: int = 0
    orders: int = 0
    denied: int = 0
    anomalies: int = 0  # valid messages the ledger refused (OrderMessageRefused)
    fills: int = 0
    fill_notional: Decimal = Decimal(0)
    trips: list[Trip] = field(default_factory=list)
    equity: array[float] = field(default_factory=lambda: array("d"))
    at: datetime | None = None  # the last bar group's time

    def count(self, events: Sequence[ev.LedgerEvent], _position: int) -> None:
        """`on_committed` callback: one pass over each committed batch."""
        self.events += len(events)
        for e in events:
            kind = type(e)
            if kind is ev.MarketBarRecorded:
                continue
            if kind is ev.OrderIntentRecorded:
                self.orders += 1
            elif kind is ev.OrderDenied:
                self.denied += 1
            elif kind is ev.OrderMessageRefused:
                self.anomalies += 1
            elif kind in _FILL_EVENTS:
                self.fills += 1
            elif kind is ev.PositionFillApplied and isinstance(e, ev.PositionFillApplied):
                self.fill_notional += abs(e.fill_quantity * e.fill_price * e.multiplier)
            elif isinstance(e, ev.KillSwitchTripped):
                self.trips.append(Trip(e.occurred_at, e.trigger, e.action, e.reason))


class Driver:
    """Feeds the ledger and the simulated broker and routes what the ledger decides."""

    def __init__(
        self, app: LedgerApplication, clock: DataClock, broker: SimBroker, *, batch_size: int = 5000
    ) -> None:
        self.app, self.broker = app, broker
        self.account = app.config.account
        self.staged = StagedLedger(app, clock, batch_size)
        self.stats = RunStats()
        app.on_committed.append(self.stats.count)
        self._intent_seq = 0
        self._report_seq = 0
        self._killswitch_version = app.ledger.killswitch.version

    def fills_at_open(self, bars: Sequence[ParsedMessage], at: datetime) -> list[ParsedMessage]:
        """The broker's fills for these bars' symbols, at their opens, as ledger inputs."""
        broker = self.broker
        out: list[ParsedMessage] = []
        for pm in bars:
            bar = pm.message
            if isinstance(bar, BarEvent) and broker.has_working(bar.symbol):
                out.extend(
                    self._reports(broker.on_bar(bar.symbol, at, bar.open, bar.high, bar.low))
                )
        return out

    def after_market(self, at: datetime) -> None:
        """Route what a trip (or reset) just decided, at once: flatten orders, cancels."""
        if self.app.ledger.killswitch.version != self._killswitch_version:
            self._on_killswitch(at)

    def place(self, intents: list[OrderIntent], at: datetime) -> None:
        """Intents to the ledger; those it accepts to the broker."""
        messages: list[ParsedMessage] = []
        for intent in intents:
            self._intent_seq += 1
            messages.append(ParsedMessage(STRATEGY_SOURCE, self._intent_seq, intent))
        self.staged.decide(messages, at)
        self._route([i.intent_id for i in intents], at)

    def finish(self, at: datetime | None) -> RunStats:
        """Cancel what is still working (no bar left to fill at) and commit the rest."""
        if at is not None:
            ended = self._reports(self.broker.expire_all(at, END_REASON))
            if ended:
                self.staged.decide(ended, at)
        self.staged.commit()
        return self.stats

    def _route(self, ids: list[UUID], at: datetime) -> None:
        """Send the intents the ledger accepted (status NEW) to the broker."""
        orders = self.app.ledger.orders
        reports: list[ExecutionReport] = []
        for iid in ids:
            order = orders.get(iid)
            if order is None or order.status != OrderStatus.NEW:
                continue  # denied: the ledger's decision stands, the broker never sees it
            side: Side = "BUY" if order.side == "BUY" else "SELL"
            request = OrderRequest(
                iid,
                order.symbol,
                side,
                order.quantity,
                _ORDER_KINDS.get(order.order_type, "MARKET"),
                order.limit_price,
                order.stop_price,
                order.account,
            )
            reports.extend(self.broker.submit(request, at))
        if reports:
            self.staged.decide(self._reports(reports), at)

    def _on_killswitch(self, at: datetime) -> None:
        """A trip (or reset) was just decided: route its flatten orders and cancels now."""
        ledger = self.app.ledger
        self._killswitch_version = ledger.killswitch.version
        flatten: list[UUID] = []
        reports: list[ExecutionReport] = []
        for order in ledger.orders.values():
            held = self.broker.orders.get(order.intent_id)
            if order.origin == "killswitch" and order.status == OrderStatus.NEW and held is None:
                flatten.append(order.intent_id)
            elif (
                order.status == OrderStatus.PENDING_CANCEL
                and held is not None
                and held.status not in ("FILLED", "CANCELED")
            ):
                reports.extend(self.broker.cancel_order(order.intent_id, at, "kill switch"))
        if reports:
            self.staged.decide(self._reports(reports), at)
        self._route(flatten, at)

    def _reports(self, reports: list[ExecutionReport]) -> list[ParsedMessage]:
        out: list[ParsedMessage] = []
        for report in reports:
            self._report_seq += 1
            out.append(ParsedMessage(BROKER_SOURCE, self._report_seq, report))
        return out


class BacktestEngine(Driver):
    def __init__(
        self,
        app: LedgerApplication,
        clock: DataClock,
        broker: SimBroker,
        policy: Policy,
        *,
        seed: int,
        batch_size: int = 5000,
    ) -> None:
        super().__init__(app, clock, broker, batch_size=batch_size)
        self.policy, self.seed = policy, seed

    def run(
        self,
        groups: Iterable[tuple[datetime, list[ParsedMessage]]],
        total: int,
        progress: Callable[[int], None] | None = None,
    ) -> RunStats:
        """Drive `total` bar groups through the ledger; returns the counts."""
        with collector.paused() as collect:
            stats = self._loop(groups, total - 1, progress, collect)
        self.finish(stats.at)
        if progress is not None:
            progress(stats.groups)
        return stats

    def _loop(
        self,
        groups: Iterable[tuple[datetime, list[ParsedMessage]]],
        last: int,
        progress: Callable[[int], None] | None,
        collect: Callable[[], None],
    ) -> RunStats:
        # The loop runs once per bar group: names are bound locally, and the kill switch
        # is compared by version (an int) so that nothing but the ledger costs per bar.
        staged, policy, stats, broker = self.staged, self.policy, self.stats, self.broker
        decide, commit_if_due, due = staged.decide, staged.commit_if_due, policy.due
        ledger = self.app.ledger
        equity, killswitch = ledger.account.equity, ledger.killswitch
        record_equity = stats.equity.append
        at: datetime | None = None
        index = -1
        bars_seen = 0
        for index, (at, bars) in enumerate(groups):
            if broker.has_any_working:
                messages = self.fills_at_open(bars, at)
                messages.extend(bars)
                decide(messages, at)
            else:
                decide(bars, at)
            bars_seen += len(bars)
            if killswitch.version != self._killswitch_version:
                self._on_killswitch(at)
            if index < last and due(index):
                self._act(index, at)
            record_equity(float(equity()))
            if commit_if_due():
                collect()
            if progress is not None and not index & 1023:
                progress(index)
        stats.groups, stats.bars, stats.at = index + 1, bars_seen, at
        return stats

    def _act(self, index: int, at: datetime) -> None:
        ledger = self.app.ledger
        positions = {
            sym: pos.quantity
            for (acct, sym), pos in ledger.positions.items()
            if acct == self.account
        }
        book = Book(index, at, ledger.account.equity(), positions, dict(ledger.account.marks))
        plans = self.policy.decide(book)
        if plans:
            self.place(
                [
                    OrderIntent(
                        intent_id=intent_id(self.seed, index, plan.symbol),
                        symbol=plan.symbol,
                        direction=Direction(plan.side),
                        quantity=plan.quantity,
                        order_type=OrderType.MARKET,
                        timestamp=at,
                        account=self.account,
                    )
                    for plan in plans
                ],
                at,
            )
