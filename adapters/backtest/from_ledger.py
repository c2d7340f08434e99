"""What-if for post-mortems: a live ledger's recorded window, through the current code.

The inputs are read back from the source store's events in log order, each at
the time it was recorded there: market data (`MarketBarRecorded`,
`MarketTickRecorded`, `MarketOfiRecorded` -> the contract messages), the
strategy's intents (`OrderIntentRecorded` of origin "intent"; flatten orders
and broker-booked orders are consequences, not inputs) and the operator's
kill-switch commands. They go to a new store through the same engine as a
backtest: the ledger decides, accepted intents go to the simulated broker and
fill at the next bar's open (or the next TRADE/LAST tick) with the configured
costs, and a trip's flatten orders are routed at once.

The report compares, intent by intent, the live outcome (status, filled
quantity, average price at the end of the window) with the replayed one, and
lists both runs' kill-switch trips. The replay starts from an empty ledger
with the configured starting equity: from the start of the log it is a full
what-if; from the middle, positions and the high-water mark start afresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import orjson

from adapters.backtest import collector, metrics
from adapters.backtest.clock import DataClock
from adapters.backtest.engine import Driver, RunStats
from adapters.backtest.feed import EPOCH
from adapters.backtest.run import RESULT_FILE, BacktestSettings, store_url
from adapters.backtest.staging import ledger_hash
from adapters.broker.sim import SimBroker
from adapters.store import mask_url, open_ledger
from contracts import BarEvent, ContractMessage, OFIEvent, OrderIntent, TickEvent
from contracts.messages import Direction, OrderType, TickType
from domain import events as ev
from domain.application import LedgerApplication, ParsedMessage
from domain.clock import FixedClock
from domain.codec import micros
from domain.errors import KillSwitchCommandRefused
from domain.killswitch import KillSwitchCommand
from domain.ledger import LedgerConfig, Operator

MARKET_SOURCE = "from-ledger:market"
_COMMAND_FOR_STATE = {
    "ARMED": KillSwitchCommand.ARM,
    "REDUCING": KillSwitchCommand.REDUCE_ONLY,
    "TRIPPED": KillSwitchCommand.TRIP,
}


@runtime_checkable
class PositionFinder(Protocol):
    def position_at(self, recorded_at: int) -> int: ...


@dataclass
class Outcome:
    symbol: str
    side: str
    quantity: Decimal
    status: str = "NEW"
    filled: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)


@dataclass
class Window:
    """The live side of the comparison, gathered while the inputs stream by."""

    first: int = 0
    last: int = 0
    events: int = 0
    inputs: dict[str, int] = field(
        default_factory=lambda: {
            "bars": 0,
            "ticks": 0,
            "ofi": 0,
            "intents": 0,
            "operator_commands": 0,
        }
    )
    outcomes: dict[UUID, Outcome] = field(default_factory=dict)
    trips: list[dict[str, str]] = field(default_factory=list)
    refused_commands: list[dict[str, str]] = field(default_factory=list)


def window_positions(
    source: LedgerApplication, since: datetime | None, until: datetime | None
) -> tuple[int, int | None]:
    """First and last global positions of the events recorded in [since, until]."""
    store = source.store
    if not isinstance(store, PositionFinder):
        return 1, None
    start = store.position_at(micros(since) - 1) + 1 if since is not None else 1
    stop = store.position_at(micros(until)) if until is not None else None
    return start, stop


class WindowReplay(Driver):
    def replay(self, events: Iterable[tuple[int, ev.LedgerEvent]]) -> Window:
        window = Window()
        with collector.paused() as collect:
            at = self._replay(events, window, collect)
        self.finish(at)
        return window

    def _replay(
        self,
        events: Iterable[tuple[int, ev.LedgerEvent]],
        window: Window,
        collect: Callable[[], None],
    ) -> datetime | None:
        seq = 0
        at: datetime | None = None
        equity = self.stats.equity
        account = self.app.ledger.account
        for position, e in events:
            window.first = window.first or position
            window.last, window.events, at = position, window.events + 1, e.recorded_at
            message = market_message(e)
            if message is not None:
                seq += 1
                self._market(ParsedMessage(MARKET_SOURCE, seq, message), at, window)
                equity.append(float(account.equity()))
            elif isinstance(e, ev.OrderIntentRecorded) and e.origin == "intent":
                window.inputs["intents"] += 1
                window.outcomes[e.originator_id] = Outcome(e.symbol, e.side, e.quantity)
                self.place([intent_message(e)], at)
            elif isinstance(e, ev.OrderEvent) and e.originator_id in window.outcomes:
                _follow(window.outcomes[e.originator_id], e)
            elif isinstance(e, ev.KillSwitchEvent):
                self._kill_switch(e, window)
            if self.staged.commit_if_due():
                collect()
        return at

    def _market(self, pm: ParsedMessage, at: datetime, window: Window) -> None:
        m = pm.message
        messages: list[ParsedMessage] = []
        if isinstance(m, BarEvent):
            window.inputs["bars"] += 1
            messages = self.fills_at_open([pm], at) if self.broker.has_any_working else []
        elif isinstance(m, TickEvent):
            window.inputs["ticks"] += 1
            if m.tick_type in (TickType.TRADE, TickType.LAST) and self.broker.has_working(m.symbol):
                messages = self._reports(
                    self.broker.on_bar(m.symbol, at, m.price, m.price, m.price)
                )
        else:
            window.inputs["ofi"] += 1
        messages.append(pm)
        self.staged.decide(messages, at)
        self.stats.bars += 1
        self.after_market(at)

    def _kill_switch(self, e: ev.KillSwitchEvent, window: Window) -> None:
        if isinstance(e, ev.KillSwitchTripped):
            window.trips.append(
                {
                    "time": _iso(e.occurred_at),
                    "trigger": e.trigger,
                    "action": e.action,
                    "reason": e.reason,
                }
            )
            if e.trigger != "manual":
                return  # the risk policy's own decision: the replay makes its own
        window.inputs["operator_commands"] += 1
        command = _COMMAND_FOR_STATE[e.state]
        self.staged.clock.set(e.recorded_at)
        try:
            self.app.ledger.command_killswitch(
                command, e.reason, Operator(e.by, e.db_role, e.os_user), e.recorded_at
            )
        except KillSwitchCommandRefused as refused:
            window.refused_commands.append(
                {"time": _iso(e.recorded_at), "command": command.value, "why": str(refused)}
            )
        self.after_market(e.recorded_at)


def market_message(e: ev.LedgerEvent) -> ContractMessage | None:
    if isinstance(e, ev.MarketBarRecorded):
        return BarEvent(
            symbol=e.symbol,
            timestamp=e.occurred_at,
            open=e.open,
            high=e.high,
            low=e.low,
            close=e.close,
            volume=e.volume,
            bar_size=e.bar_size,
        )
    if isinstance(e, ev.MarketTickRecorded):
        return TickEvent(
            symbol=e.symbol,
            timestamp=e.occurred_at,
            price=e.price,
            size=e.size,
            tick_type=TickType(e.tick_type),
        )
    if isinstance(e, ev.MarketOfiRecorded):
        return OFIEvent(
            symbol=e.symbol,
            timestamp=e.occurred_at,
            ofi_value=e.ofi_value,
            volume_imbalance=e.volume_imbalance,
            bid_volume=e.bid_volume,
            ask_volume=e.ask_volume,
        )
    return None


def intent_message(e: ev.OrderIntentRecorded) -> OrderIntent:
    return OrderIntent(
        intent_id=e.originator_id,
        symbol=e.symbol,
        direction=Direction(e.side),
        quantity=e.quantity,
        order_type=OrderType(e.order_type),
        timestamp=e.occurred_at,
        limit_price=e.limit_price,
        stop_price=e.stop_price,
        account=e.account,
    )


def _follow(outcome: Outcome, e: ev.OrderEvent) -> None:
    outcome.status = e.status
    if isinstance(e, ev.OrderFillEvent | ev.OrderFillCorrected):
        outcome.filled, outcome.avg_price = e.filled_quantity, e.avg_fill_price


def compare(window: Window, app: LedgerApplication, stats: RunStats) -> dict[str, Any]:
    """Live against replayed: per-intent differences, status counts, kill-switch trips."""
    differences: list[dict[str, Any]] = []
    live_counts: dict[str, int] = {}
    replay_counts: dict[str, int] = {}
    for iid, live in window.outcomes.items():
        order = app.ledger.orders.get(iid)
        status = order.status.value if order is not None else "MISSING"
        filled = order.filled if order is not None else Decimal(0)
        avg = order.avg_fill_price if order is not None else Decimal(0)
        live_counts[live.status] = live_counts.get(live.status, 0) + 1
        replay_counts[status] = replay_counts.get(status, 0) + 1
        if (live.status, live.filled) != (status, filled):
            differences.append(
                {
                    "intent_id": str(iid),
                    "symbol": live.symbol,
                    "side": live.side,
                    "quantity": str(live.quantity),
                    "live_status": live.status,
                    "replay_status": status,
                    "live_filled": str(live.filled),
                    "replay_filled": str(filled),
                    "live_avg_price": str(live.avg_price),
                    "replay_avg_price": str(avg),
                }
            )
    return {
        "intents": {
            "live": dict(sorted(live_counts.items())),
            "replay": dict(sorted(replay_counts.items())),
        },
        "differences": differences,
        "kill_switch": {
            "live": window.trips,
            "replay": [
                {"time": _iso(t.time), "trigger": t.trigger, "action": t.action, "reason": t.reason}
                for t in stats.trips
            ],
            "refused_operator_commands": window.refused_commands,
        },
    }


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def run_from_ledger(
    source_url: str,
    since: datetime | None,
    until: datetime | None,
    settings: BacktestSettings,
    config: LedgerConfig,
) -> dict[str, Any]:
    """Replay the window of the ledger at `source_url` into a new store; write and return
    the report (`result.json` in `settings.out`)."""
    source = open_ledger(source_url, clock=FixedClock(EPOCH), config=config)
    start, stop = window_positions(source, since, until)
    settings.out.mkdir(parents=True, exist_ok=True)
    url = store_url(settings)
    clock = DataClock(EPOCH)
    app = open_ledger(url, clock=clock, config=config)
    broker = SimBroker(
        account=config.account, currency=config.currency, costs=settings.costs(), clock=clock
    )
    driver = WindowReplay(app, clock, broker, batch_size=settings.batch_size)
    window = driver.replay(
        source.read_events(start, stop) if stop is None or stop >= start else iter(())
    )
    stats = driver.stats
    account = app.ledger.account
    result: dict[str, Any] = {
        "events": stats.events,
        "ledger_hash": ledger_hash(app),
        "source": mask_url(source_url),
        "since": _iso(since) if since is not None else None,
        "until": _iso(until) if until is not None else None,
        "source_positions": [window.first, window.last],
        "source_events": window.events,
        "inputs": window.inputs,
        **compare(window, app, stats),
        "orders": stats.orders,
        "fills": stats.fills,
        "denied": stats.denied,
        "kill_switch_trips": len(stats.trips),
        "total_return": metrics.total_return(config.starting_equity, account.equity()),
        "max_drawdown": metrics.max_drawdown(stats.equity),
        "final_equity": str(account.equity()),
        "store": mask_url(url),
    }
    (settings.out / RESULT_FILE).write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return result
