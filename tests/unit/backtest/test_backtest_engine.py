"""The engine through the real ledger (SQLite): order of inputs, fills at the next open,
ids and sources, the kill switch on a crash, batching, and the broker's book from the log."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import pytest

from adapters.backtest.clock import DataClock, intent_id
from adapters.backtest.engine import END_REASON
from adapters.backtest.policy import AlternatingPolicy, Book, OrderPlan
from adapters.backtest.staging import StagedLedger, StoreNotEmpty, ledger_hash
from adapters.broker.sim import SimBroker, SimCosts
from adapters.store import open_ledger
from domain import events as ev
from domain.application import LedgerApplication
from domain.ledger import LedgerConfig
from tests.unit.backtest.bars_support import DAY0, flat_then_crash, run_engine, write_bars

D = Decimal
E = TypeVar("E", bound=ev.LedgerEvent)


def log(app: LedgerApplication) -> list[ev.LedgerEvent]:
    return [e for _, e in app.read_events()]


def of(events: list[ev.LedgerEvent], kind: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, kind)]


@pytest.fixture
def ramp(tmp_path: Path) -> Path:
    rows = [(f"{100 + i}.00", f"{101 + i}.00", f"{99 + i}.00", f"{100 + i}.50") for i in range(6)]
    write_bars(tmp_path / "data", "AAA", rows)
    return tmp_path / "data"


def test_intents_fill_at_the_next_open_through_the_ledger(ramp: Path, tmp_path: Path) -> None:
    costs = SimCosts(slippage_bps=D(10), commission_bps=D(1))
    app, stats = run_engine(
        ramp,
        f"sqlite:///{tmp_path / 'bt.db'}",
        AlternatingPolicy("AAA", D(10), every=2),
        seed=9,
        costs=costs,
    )
    events = log(app)
    intents = of(events, ev.OrderIntentRecorded)
    # acts at groups 0, 2, 4: BUY, SELL, BUY; each fills at the following group's open
    assert [(e.side, e.originator_id) for e in intents] == [
        ("BUY", intent_id(9, 0, "AAA")),
        ("SELL", intent_id(9, 2, "AAA")),
        ("BUY", intent_id(9, 4, "AAA")),
    ]
    fills = of(events, ev.OrderFilled)
    assert [(f.fill_price, f.occurred_at - DAY0) for f in fills] == [
        (D("101.00") * D("1.001"), timedelta(days=1)),
        (D("103.00") * D("0.999"), timedelta(days=3)),
        (D("105.00") * D("1.001"), timedelta(days=5)),
    ]
    assert fills[0].commission == D("0.10")  # 1,011.01 notional x 1 bp, in cents
    assert (stats.orders, stats.fills, stats.groups, stats.bars) == (3, 3, 6, 6)
    assert len(stats.equity) == 6
    # every event is recorded at its bar group's time, and says where its input came from
    assert all(
        e.recorded_at == e.occurred_at for e in events if not isinstance(e, ev.AccountOpened)
    )
    assert intents[0].source == "backtest:strategy@1"
    assert fills[0].source == "backtest:sim@2"  # @1 is the acknowledgement
    bars = of(events, ev.MarketBarRecorded)
    assert [b.source for b in bars[:2]] == ["backtest:AAA.csv@2", "backtest:AAA.csv@3"]
    # within a group the fill (at the open) precedes the bar (its close is the mark)
    day1 = [type(e).__name__ for e in events if e.occurred_at == DAY0 + timedelta(days=1)]
    assert day1.index("OrderFilled") < day1.index("MarketBarRecorded")


def test_kill_switch_trips_on_the_crash_flattens_at_next_open_then_denies(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_bars(data, "CRASH", flat_then_crash(days=40, crash_day=30))
    # BUY 9,000 at group 0 (90 % of equity), then an exposure-raising SELL at group 35
    app, stats = run_engine(
        data, f"sqlite:///{tmp_path / 'bt.db'}", AlternatingPolicy("CRASH", D(9000), every=35)
    )
    events = log(app)
    (trip,) = of(events, ev.KillSwitchTripped)
    assert (trip.trigger, trip.action) == ("daily_loss", "HALT_AND_FLATTEN")
    assert trip.occurred_at == DAY0 + timedelta(days=30)
    assert trip.measure > D("0.05")
    flatten = [e for e in of(events, ev.OrderIntentRecorded) if e.origin == "killswitch"]
    assert [(e.side, e.quantity, e.occurred_at) for e in flatten] == [
        ("SELL", D(9000), trip.occurred_at)
    ]
    filled = [f for f in of(events, ev.OrderFilled) if f.originator_id == flatten[0].originator_id]
    assert [(f.fill_price, f.occurred_at) for f in filled] == [
        (D("90.00"), DAY0 + timedelta(days=31))
    ]
    (denied,) = of(events, ev.OrderDenied)
    assert denied.originator_id == intent_id(1, 35, "CRASH")
    assert "TRIPPED" in denied.reason
    assert len(of(events, ev.MarketBarRecorded)) == 40  # marks recorded on, trading halted
    assert app.ledger.positions[("SIM", "CRASH")].quantity == 0
    assert (len(stats.trips), stats.denied, stats.fills) == (1, 1, 2)
    assert min(stats.equity) < 920_000


def test_orders_left_working_are_canceled_at_the_end(tmp_path: Path) -> None:
    row = ("10", "10", "10", "10")
    write_bars(tmp_path / "d", "AAA", [row] * 5)
    write_bars(tmp_path / "d", "BBB", [row] * 2)  # BBB's last bar is group 1

    class AtGroupTwo(AlternatingPolicy):
        def due(self, index: int) -> bool:
            return index == 2

    app, stats = run_engine(
        tmp_path / "d", f"sqlite:///{tmp_path / 'bt.db'}", AtGroupTwo("BBB", D(1))
    )
    (canceled,) = of(log(app), ev.OrderCanceled)
    assert canceled.reason == END_REASON
    assert stats.fills == 0


def test_stored_events_do_not_depend_on_the_batch_size(ramp: Path, tmp_path: Path) -> None:
    heads = []
    for size in (1, 7, 5000):
        app, _ = run_engine(
            ramp,
            f"sqlite:///{tmp_path / f'b{size}.db'}",
            AlternatingPolicy("AAA", D(10), every=2),
            batch_size=size,
        )
        heads.append(ledger_hash(app))
    assert len(set(heads)) == 1 and heads[0]


def test_a_store_with_events_is_refused(ramp: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bt.db'}"
    run_engine(ramp, url, AlternatingPolicy("AAA", D(10)))
    app = open_ledger(url, clock=DataClock(DAY0), config=LedgerConfig())
    with pytest.raises(StoreNotEmpty, match="already holds"):
        StagedLedger(app, DataClock(DAY0), 10)


def test_the_broker_book_rebuilt_from_the_log_matches_the_broker(
    ramp: Path, tmp_path: Path
) -> None:
    class Holding:
        def due(self, index: int) -> bool:
            return index in (0, 1, 3)

        def decide(self, book: Book) -> list[OrderPlan]:
            return [OrderPlan("AAA", "BUY", D(5) + book.index)]

    app, _ = run_engine(ramp, f"sqlite:///{tmp_path / 'bt.db'}", Holding())
    rebuilt = SimBroker.from_events(app.read_events()).broker_snapshot()
    (position,) = rebuilt.positions
    assert position.quantity == app.ledger.positions[("SIM", "AAA")].quantity == D(5 + 6 + 8)
    assert [x.exec_id for x in rebuilt.executions] == [
        "sim.00000001.01.01",
        "sim.00000002.01.01",
        "sim.00000003.01.01",
    ]
    assert rebuilt.open_orders == ()
