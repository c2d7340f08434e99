"""One backtest from files to result: load, open the store, run the engine, measure, chart.

The store is the backtest's own: by default a new SQLite file `backtest.db`
in the output directory (a previous run's file of that name is replaced; it
is this command's output), or `store_url` when given, which must be empty.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from adapters.backtest import metrics
from adapters.backtest.clock import DataClock
from adapters.backtest.data import BarSeries, load
from adapters.backtest.engine import BacktestEngine, RunStats
from adapters.backtest.feed import EPOCH, Timeline, bar_groups, timeline
from adapters.backtest.staging import ledger_hash
from adapters.backtest.weights import WeightsPolicy
from adapters.broker.sim import SimBroker, SimCosts
from adapters.store import mask_url, open_ledger
from domain.application import LedgerApplication
from domain.ledger import LedgerConfig
from domain.strategy import Strategy, StrategyConfig

TRADING_DAYS = 252
STORE_FILE = "backtest.db"
RESULT_FILE = "result.json"


@dataclass(frozen=True, slots=True)
class BacktestSettings:
    data: tuple[Path, ...]
    seed: int
    out: Path
    store: str | None = None
    rebalance_interval: int = 5
    slippage_bps: Decimal = Decimal(1)
    commission_bps: Decimal = Decimal(1)
    commission_per_share: Decimal = Decimal(0)
    commission_minimum: Decimal = Decimal(0)
    starting_equity: Decimal | None = None  # None: the ledger's configured starting equity
    periods_per_year: float | None = None  # None: inferred from the bar spacing
    batch_size: int = 5000
    charts: bool = True

    def costs(self) -> SimCosts:
        return SimCosts(
            self.slippage_bps,
            self.commission_bps,
            self.commission_per_share,
            self.commission_minimum,
        )


Progress = Callable[[int, int], None]  # (groups done, groups in all)


def store_url(settings: BacktestSettings) -> str:
    if settings.store:
        return settings.store
    path = settings.out.resolve() / STORE_FILE
    for stale in (path, path.with_name(STORE_FILE + "-wal"), path.with_name(STORE_FILE + "-shm")):
        stale.unlink(missing_ok=True)
    return f"sqlite:///{path}"


def periods_per_year(line: Timeline) -> float:
    """252 for daily (or sparser) bars; else 252 x the median number of bars per UTC day."""
    if len(line) < 2:
        return float(TRADING_DAYS)
    if float(np.median(np.diff(line.times))) >= 20 * 3600 * 1_000_000:
        return float(TRADING_DAYS)
    _, per_day = np.unique(line.times // (86_400 * 1_000_000), return_counts=True)
    return float(TRADING_DAYS * float(np.median(per_day)))


def run_backtest(
    settings: BacktestSettings, config: LedgerConfig, progress: Progress | None = None
) -> dict[str, Any]:
    """Run it; write `result.json` (and charts) into `settings.out`; return the result."""
    series = load(list(settings.data))
    line = timeline(series)
    if settings.starting_equity is not None:
        config = dataclasses.replace(config, starting_equity=settings.starting_equity)
    strategy = Strategy(
        StrategyConfig(
            seed=settings.seed,
            rebalance_interval=settings.rebalance_interval,
            periods_per_year=settings.periods_per_year or periods_per_year(line),
        )
    )
    policy = WeightsPolicy(strategy, line)
    settings.out.mkdir(parents=True, exist_ok=True)
    url = store_url(settings)
    clock = DataClock(line.time(0))
    app = open_ledger(url, clock=clock, config=config)
    broker = SimBroker(
        account=config.account, currency=config.currency, costs=settings.costs(), clock=clock
    )
    engine = BacktestEngine(
        app, clock, broker, policy, seed=settings.seed, batch_size=settings.batch_size
    )
    total = len(line)
    tick = (lambda done: progress(done, total)) if progress is not None else None
    stats = engine.run(bar_groups(series), total, tick)
    result = summarise(app, stats, series, line, settings, config, policy)
    result["store"] = mask_url(url)
    if settings.charts:
        from adapters.backtest.charts import write_charts  # matplotlib loads slowly

        result["charts"] = write_charts(settings.out, line, stats, policy.rebalances)
    (settings.out / RESULT_FILE).write_bytes(
        orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return result


def summarise(
    app: LedgerApplication,
    stats: RunStats,
    series: list[BarSeries],
    line: Timeline,
    settings: BacktestSettings,
    config: LedgerConfig,
    policy: WeightsPolicy,
) -> dict[str, Any]:
    account = app.ledger.account
    daily = list(account.daily_returns)
    final = account.equity()
    regimes: dict[str, int] = {}
    for r in policy.rebalances:
        regimes[r.regime] = regimes.get(r.regime, 0) + 1
    return {
        "events": stats.events,
        "ledger_hash": ledger_hash(app),
        "total_return": metrics.total_return(config.starting_equity, final),
        "sharpe": metrics.sharpe(daily),
        "max_drawdown": metrics.max_drawdown(stats.equity),
        "psr": metrics.psr(daily),
        "turnover": metrics.turnover(stats.fill_notional, stats.equity),
        "orders": stats.orders,
        "fills": stats.fills,
        "denied": stats.denied,
        "anomalies": stats.anomalies,
        "kill_switch_trips": len(stats.trips),
        "kill_switch": [
            {"time": _iso(t.time), "trigger": t.trigger, "action": t.action, "reason": t.reason}
            for t in stats.trips
        ],
        "kill_switch_state": app.ledger.killswitch.state.value,
        "starting_equity": str(config.starting_equity),
        "final_equity": str(final),
        "bars": stats.bars,
        "bar_groups": stats.groups,
        "symbols": [s.symbol for s in series],
        "start": _iso(line.time(0)),
        "end": _iso(line.time(len(line) - 1)),
        "trading_days": len(daily) + 1,
        "rebalances": len(policy.rebalances),
        "regimes": regimes,
        "seed": settings.seed,
        "settings": {
            "rebalance_interval": settings.rebalance_interval,
            "slippage_bps": str(settings.slippage_bps),
            "commission_bps": str(settings.commission_bps),
            "commission_per_share": str(settings.commission_per_share),
            "commission_minimum": str(settings.commission_minimum),
            "periods_per_year": policy.strategy.config.periods_per_year,
            "account": config.account,
        },
    }


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z") if at != EPOCH else ""
