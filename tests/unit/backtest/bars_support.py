"""Synthetic bar files for the backtest tests: written as the CLI reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.backtest.clock import DataClock
from adapters.backtest.data import load
from adapters.backtest.engine import BacktestEngine, RunStats
from adapters.backtest.feed import bar_groups, timeline
from adapters.backtest.policy import Policy
from adapters.broker.sim import SimBroker, SimCosts
from adapters.store import open_ledger
from domain.application import LedgerApplication
from domain.ledger import LedgerConfig

HEADER = "timestamp,open,high,low,close,volume\n"
DAY0 = datetime(2024, 1, 1, 21, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample"


def stamp(day: int) -> str:
    return (DAY0 + timedelta(days=day)).isoformat().replace("+00:00", "Z")


def write_bars(
    directory: Path, symbol: str, rows: Sequence[tuple[str, str, str, str]], start_day: int = 0
) -> Path:
    """rows: (open, high, low, close) per day; volume 1000."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{symbol}.csv"
    body = "".join(
        f"{stamp(start_day + i)},{o},{h},{lo},{c},1000\n" for i, (o, h, lo, c) in enumerate(rows)
    )
    path.write_text(HEADER + body)
    return path


def flat_then_crash(days: int = 40, crash_day: int = 30) -> list[tuple[str, str, str, str]]:
    """Price 100.00 every day, then a -10 % close on `crash_day`, 90.00 after."""
    rows = []
    for day in range(days):
        if day < crash_day:
            rows.append(("100.00", "100.50", "99.50", "100.00"))
        elif day == crash_day:
            rows.append(("100.00", "100.00", "89.00", "90.00"))
        else:
            rows.append(("90.00", "90.50", "89.50", "90.00"))
    return rows


def trimmed_sample(directory: Path, symbols: Sequence[str], bars: int) -> Path:
    """The first `bars` bars of some bundled sample files."""
    directory.mkdir(parents=True, exist_ok=True)
    for symbol in symbols:
        lines = (SAMPLE / f"{symbol}.csv").read_text().splitlines(keepends=True)
        (directory / f"{symbol}.csv").write_text("".join(lines[: bars + 1]))
    return directory


def run_engine(
    data: Path,
    url: str,
    policy: Policy,
    *,
    seed: int = 1,
    costs: SimCosts | None = None,
    config: LedgerConfig | None = None,
    batch_size: int = 5000,
) -> tuple[LedgerApplication, RunStats]:
    series = load([data])
    line = timeline(series)
    clock = DataClock(line.time(0))
    app = open_ledger(url, clock=clock, config=config or LedgerConfig())
    broker = SimBroker(costs=costs or SimCosts(), clock=clock)
    engine = BacktestEngine(app, clock, broker, policy, seed=seed, batch_size=batch_size)
    return app, engine.run(bar_groups(series), len(line))
