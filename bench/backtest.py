"""Backtest speed: N one-minute bars of one instrument, BUY/SELL market orders alternating every
100 bars, every event persisted to SQLite; NautilusTrader's BacktestEngine on the same workload.

    python bench/backtest.py --bars 1000000 --json var/bench/backtest.json

Each engine runs in a process of its own (this script again, with --engine), so
each peak RSS (getrusage ru_maxrss) is that engine's alone. NautilusTrader runs
when `nautilus_trader` is importable (the optional `bench` extra, 1.221.0).

The workload, the same for both:
- bars: EUR/USD, one per minute from 2024-01-01T00:00Z, generated in memory
  from a seeded random walk in 1e-5 steps (open = previous close);
- policy: on every 100th bar a 100,000-unit market order, BUY then SELL, ...
  (N/100 orders, each filled at the next bar's open);
- account: 1,000,000 USD.
Ours: the backtest engine (`adapters.backtest`) drives the real ledger
application, the simulated broker and the kill switch (evaluated on every
bar), and commits every event to a SQLite store (5,000 inputs per
transaction; --batch-size). The kill switch's PSR trigger is set to 0 so that the random
walk's P&L cannot halt trading half way (the PSR is still computed at every day
roll, so the work is the same): the workload must stay N/100 orders and fills.
NautilusTrader: bars prebuilt with its BarDataWrangler (not timed, as its
tutorials do), logging bypassed, `engine.run()` timed; in memory.

Timed: the run only (data generation and store creation are reported apart).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SYMBOL = "EURUSD"
EVERY = 100
QUANTITY = 100_000
START = datetime(2024, 1, 1, tzinfo=UTC)
MINUTE_US = 60_000_000
PRICE_EXPONENT = -5
BATCH = 5000  # inputs per transaction: the engine's default


def generate(n: int, seed: int) -> dict[str, npt.NDArray[np.int64]]:
    """OHLCV in 1e-5 price units (int64), seeded."""
    rng = np.random.default_rng(seed)
    close = 110_000 + np.cumsum(np.rint(rng.normal(0.0, 5.0, n))).astype(np.int64)
    close = np.maximum(close, 50_000)
    open_ = np.concatenate(([np.int64(110_000)], close[:-1]))
    wick = np.abs(np.rint(rng.normal(0.0, 2.0, (2, n)))).astype(np.int64)
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    volume = rng.integers(100, 10_000, n, dtype=np.int64)
    times = START.timestamp() * 1_000_000 + np.arange(n, dtype=np.int64) * MINUTE_US
    return {
        "times": times.astype(np.int64),
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
    }


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def run_ours(n: int, seed: int, store_dir: Path, batch_size: int = BATCH) -> dict[str, Any]:
    from adapters.backtest.clock import DataClock
    from adapters.backtest.data import BarSeries, DecimalColumn
    from adapters.backtest.engine import BacktestEngine
    from adapters.backtest.feed import bar_groups
    from adapters.backtest.policy import AlternatingPolicy
    from adapters.backtest.staging import ledger_hash
    from adapters.broker.sim import SimBroker
    from adapters.store import open_ledger
    from domain.killswitch import RiskLimits
    from domain.ledger import LedgerConfig

    t0 = time.perf_counter()
    bars = generate(n, seed)
    exponent = {
        "open": PRICE_EXPONENT,
        "high": PRICE_EXPONENT,
        "low": PRICE_EXPONENT,
        "close": PRICE_EXPONENT,
        "volume": 0,
    }
    columns = {f: DecimalColumn(bars[f], np.full(n, e, dtype=np.int8)) for f, e in exponent.items()}
    series = BarSeries(
        SYMBOL,
        f"backtest:{SYMBOL}.csv",
        bars["times"],
        np.arange(2, n + 2, dtype=np.int64),
        columns,
    )
    del bars
    config = LedgerConfig(
        starting_equity=Decimal(1_000_000), limits=RiskLimits(psr_threshold=Decimal(0))
    )
    path = store_dir / "bench-backtest.db"
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    clock = DataClock(START)
    app = open_ledger(f"sqlite:///{path}", clock=clock, config=config)
    broker = SimBroker(account=config.account, clock=clock)
    engine = BacktestEngine(
        app,
        clock,
        broker,
        AlternatingPolicy(SYMBOL, Decimal(QUANTITY), EVERY),
        seed=seed,
        batch_size=batch_size,
    )
    setup = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    stats = engine.run(bar_groups([series], bar_size="1min"), n)
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    stored = app.store.max_notification_id() or 0
    return {
        "engine": "tradeledger",
        "bars": n,
        "bars_per_s": round(n / wall),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),  # process CPU time: steadier than wall time on a shared machine
        "bars_per_cpu_s": round(n / cpu),
        "setup_s": round(setup, 2),
        "peak_rss_mb": peak_rss_mb(),
        "events_persisted": stored,
        "events_committed": stats.events,
        "orders": stats.orders,
        "fills": stats.fills,
        "kill_switch_trips": len(stats.trips),
        "ledger_hash": ledger_hash(app),
        "store_bytes": path.stat().st_size,
        "batch_size": batch_size,
    }


def run_nautilus(n: int, seed: int) -> dict[str, Any]:
    import pandas as pd
    from nautilus_trader.backtest.config import BacktestEngineConfig  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.backtest.engine import BacktestEngine  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.config import LoggingConfig, StrategyConfig  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.model.currencies import USD  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.model.data import Bar, BarType  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.model.enums import AccountType, OmsType, OrderSide  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.model.identifiers import InstrumentId, TraderId, Venue  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.model.objects import Money  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.persistence.wranglers import BarDataWrangler  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.test_kit.providers import TestInstrumentProvider  # type: ignore[import-not-found,unused-ignore]
    from nautilus_trader.trading.strategy import Strategy  # type: ignore[import-not-found,unused-ignore]

    class AlternateConfig(StrategyConfig, frozen=True):  # type: ignore[misc,call-arg,unused-ignore]
        instrument_id: InstrumentId
        bar_type: BarType
        every: int = EVERY
        quantity: int = QUANTITY

    class Alternate(Strategy):  # type: ignore[misc,unused-ignore]
        def __init__(self, config: AlternateConfig) -> None:
            super().__init__(config)
            self.count = 0
            self.buy = True

        def on_start(self) -> None:
            self.instrument = self.cache.instrument(self.config.instrument_id)
            self.subscribe_bars(self.config.bar_type)

        def on_bar(self, bar: Bar) -> None:
            self.count += 1
            if self.count % self.config.every:
                return
            side = OrderSide.BUY if self.buy else OrderSide.SELL
            self.buy = not self.buy
            self.submit_order(
                self.order_factory.market(
                    self.config.instrument_id, side, self.instrument.make_qty(self.config.quantity)
                )
            )

    t0 = time.perf_counter()
    venue = Venue("SIM")
    instrument = TestInstrumentProvider.default_fx_ccy("EUR/USD", venue)
    bar_type = BarType.from_str("EUR/USD.SIM-1-MINUTE-BID-EXTERNAL")
    raw = generate(n, seed)
    scale = 10.0**PRICE_EXPONENT
    frame = pd.DataFrame(
        {f: raw[f] * scale for f in ("open", "high", "low", "close")} | {"volume": raw["volume"]},
        index=pd.to_datetime(raw["times"], unit="us", utc=True),
    )
    del raw
    bars = BarDataWrangler(bar_type, instrument).process(frame)
    del frame
    engine = BacktestEngine(
        BacktestEngineConfig(
            trader_id=TraderId("BENCH-001"), logging=LoggingConfig(bypass_logging=True)
        )
    )
    engine.add_venue(
        venue=venue,
        oms_type=OmsType.NETTING,
        account_type=AccountType.MARGIN,
        base_currency=USD,
        starting_balances=[Money(1_000_000, USD)],
    )
    engine.add_instrument(instrument)
    engine.add_data(bars)
    del bars
    engine.add_strategy(Alternate(AlternateConfig(instrument_id=instrument.id, bar_type=bar_type)))
    setup = time.perf_counter() - t0
    t1, c1 = time.perf_counter(), time.process_time()
    engine.run()
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    import nautilus_trader

    result = {
        "engine": f"nautilus_trader {nautilus_trader.__version__}",
        "bars": n,
        "bars_per_s": round(n / wall),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),  # process CPU time: steadier than wall time on a shared machine
        "bars_per_cpu_s": round(n / cpu),
        "setup_s": round(setup, 2),
        "peak_rss_mb": peak_rss_mb(),
        "orders": engine.cache.orders_total_count(),
        "fills": len(engine.cache.orders_closed()),
        "persisted": False,
    }
    engine.dispose()
    return result


def profile(args: argparse.Namespace, store_dir: Path) -> None:
    """Function-level numbers for the hot path (cProfile inflates small Python calls, so
    read the shares, not the absolute times)."""
    import cProfile
    import pstats

    n, top = args.bars, args.profile
    profiler = cProfile.Profile()
    profiler.enable()
    result = run_ours(n, args.seed, store_dir, args.batch_size)
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(e[2] for e in entries.values())
    by_module: dict[str, float] = {}
    rows = []
    for (path, line, name), (_cc, calls, own, cumulative, _callers) in entries.items():
        module = _module(path)
        by_module[module] = by_module.get(module, 0.0) + own
        rows.append((own, calls, cumulative, f"{module}:{line}({name})"))
    print(
        f"{n} bars, {result['events_persisted']} events; profiled run {result['wall_s']} s; "
        f"own time by module (% of {total:.1f} s):"
    )
    for module, own in sorted(by_module.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {100 * own / total:5.1f} %  {1e6 * own / n:7.2f} us/bar  {module}")
    print(f"top {top} functions by own time:")
    print("  own %   us/bar    calls   cum us/bar  function")
    for own, calls, cumulative, where in sorted(rows, reverse=True)[:top]:
        print(
            f"  {100 * own / total:5.1f}  {1e6 * own / n:7.2f} {calls:9d}  "
            f"{1e6 * cumulative / n:9.2f}  {where}"
        )


def _module(path: str) -> str:
    if path == "~":
        return "builtins (C: sqlite3, orjson, hashlib, Decimal, ...)"
    root = str(ROOT) + os.sep
    if path.startswith(root):
        return path[len(root) :]
    return "stdlib/site: " + Path(path).name


def in_subprocess(
    engine: str, args: argparse.Namespace, store_dir: Path, python: str
) -> dict[str, Any] | None:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    try:
        cmd = [
            python,
            __file__,
            "--engine",
            engine,
            "--bars",
            str(args.bars),
            "--seed",
            str(args.seed),
            "--batch-size",
            str(args.batch_size),
            "--store-dir",
            str(store_dir),
            "--json",
            str(out),
        ]
        done = subprocess.run(cmd, check=False)
        if done.returncode != 0:
            print(f"{engine}: exited {done.returncode}", file=sys.stderr)
            return None
        result: dict[str, Any] = json.loads(out.read_text())
        return result
    finally:
        out.unlink(missing_ok=True)


def nautilus_installed(python: str) -> bool:
    """Whether `python` imports nautilus_trader (it may be another environment's
    interpreter: NautilusTrader pins its own pandas/pyarrow, which need not share ours)."""
    if python == sys.executable:
        import importlib.util

        return importlib.util.find_spec("nautilus_trader") is not None
    done = subprocess.run([python, "-c", "import nautilus_trader"], check=False)
    return done.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None, help="Write the result here.")
    parser.add_argument(
        "--store-dir",
        type=Path,
        default=None,
        help="Directory of the SQLite store (default: a temporary one).",
    )
    parser.add_argument("--engine", choices=("both", "ours", "nautilus"), default="both")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=BATCH,
        help="Our engine: inputs per transaction (the CLI's --batch-size).",
    )
    parser.add_argument(
        "--nautilus-python",
        default=os.environ.get("NAUTILUS_PYTHON", sys.executable),
        help="Interpreter that runs NautilusTrader (env NAUTILUS_PYTHON; default this one), "
        "e.g. a separate venv with `pip install nautilus-trader==1.221.0`.",
    )
    parser.add_argument(
        "--results",
        action="store_true",
        help="Write the `backtest (issue 8)` section of bench/RESULTS.md.",
    )
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="TOP",
        help="Profile our engine in this process (cProfile) and print where the "
        "time goes: by module, and the TOP functions by own time.",
    )
    args = parser.parse_args()
    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            profile(args, args.store_dir or Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        store_dir = args.store_dir or Path(tmp)
        store_dir.mkdir(parents=True, exist_ok=True)
        if args.engine == "ours":
            result = run_ours(args.bars, args.seed, store_dir, args.batch_size)
        elif args.engine == "nautilus":
            result = run_nautilus(args.bars, args.seed)
        else:
            result = compare(args, store_dir)
    text = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    if args.engine == "both" or args.json is None:
        print(text)
    if args.results and args.engine == "both":
        from bench.results import write_section

        write_section("backtest (issue 8)", markdown(result))


def markdown(r: dict[str, Any]) -> str:
    """The RESULTS.md section: both engines, same workload, same session."""
    import platform

    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = r["machine"]
    lines = [
        f"Measured {when} on {platform.machine()}, {machine['cpus']} cores, Python "
        f"{platform.python_version()}, load average {machine['loadavg_1m']:.1f} at the end "
        "(a shared machine: compare the two rows, measured in the same session, rather than "
        "absolute numbers). Workload: `bench/backtest.py` — "
        f"{r['bars']:,} one-minute EUR/USD bars, a 100,000-unit market order alternating BUY/SELL "
        "every 100 bars, each filled at the next bar's open.",
        "",
        "| engine | bars | wall s | bars/s | CPU s | bars per CPU s | peak RSS MiB "
        "| events persisted | orders | fills |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [("tradeledger backtest (ledger, kill switch, SQLite: every event)", r)]
    theirs = r.get("nautilus")
    if theirs:
        rows.append((f"{theirs['engine']} BacktestEngine (in memory, no persistence)", theirs))
    for name, x in rows:
        lines.append(
            f"| {name} | {x['bars']:,} | {x['wall_s']} | {x['bars_per_s']:,} | {x['cpu_s']} "
            f"| {x['bars_per_cpu_s']:,} | {x['peak_rss_mb']} "
            f"| {x['events_persisted']:,} | {x['orders']:,} | {x['fills']:,} |"
            if "events_persisted" in x
            else f"| {name} | {x['bars']:,} | {x['wall_s']} | {x['bars_per_s']:,} "
            f"| {x['cpu_s']} | {x['bars_per_cpu_s']:,} | {x['peak_rss_mb']} | - "
            f"| {x['orders']:,} | {x['fills']:,} |"
        )
    if theirs:
        lines += [
            "",
            f"Ours against NautilusTrader: x{r['speedup_vs_nautilus']} bars/s (wall), "
            f"x{r['cpu_speedup_vs_nautilus']} bars per CPU second, "
            f"x{r['rss_ratio_vs_nautilus']} peak RSS.",
        ]
    else:
        lines += [
            "",
            "NautilusTrader not installed (`pip install -e '.[bench]'`, or a venv of its own "
            "named by --nautilus-python).",
        ]
    lines += [
        "",
        f"Chain head of our store: `{r['ledger_hash']}`; store file "
        f"{r['store_bytes'] / 2**20:.0f} MiB ({r['batch_size']:,} inputs per transaction). "
        "Target: at least 2x NautilusTrader's bars/s with at most 1/3 of its peak RSS, while "
        "persisting every event.",
    ]
    return "\n".join(lines)


def compare(args: argparse.Namespace, store_dir: Path) -> dict[str, Any]:
    ours = in_subprocess("ours", args, store_dir, sys.executable)
    if ours is None:
        raise SystemExit("our engine failed")
    python = args.nautilus_python
    theirs = (
        in_subprocess("nautilus", args, store_dir, python) if nautilus_installed(python) else None
    )
    result: dict[str, Any] = {
        **ours,
        "machine": {"cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0]},
    }
    result["nautilus"] = theirs
    if theirs:
        result["speedup_vs_nautilus"] = round(ours["bars_per_s"] / theirs["bars_per_s"], 2)
        result["cpu_speedup_vs_nautilus"] = round(
            ours["bars_per_cpu_s"] / theirs["bars_per_cpu_s"], 2
        )
        result["rss_ratio_vs_nautilus"] = round(ours["peak_rss_mb"] / theirs["peak_rss_mb"], 3)
    return result


if __name__ == "__main__":
    main()
