"""Write the bundled synthetic daily bars to data/sample/<SYMBOL>.csv.

    python data/generate_sample.py            # the bundled files (seed 27)
    python data/generate_sample.py --seed 1 --out /tmp/bars

Deterministic: the same seed writes byte-identical files. Synthetic, not
market data; see data/README.md for the model.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

SEED = 27
START = dt.date(2022, 1, 3)  # a Monday
BARS = 783  # three years of Monday-to-Friday sessions (no holiday calendar)
CLOSE_TIME = dt.time(21, 0)  # 16:00 New York in winter; daylight saving ignored
TRADING_DAYS = 252
CENT = Decimal("0.01")
HEADER = ("timestamp", "open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Asset:
    symbol: str
    start_price: float
    beta: float  # loading on the market factor
    idio_vol: float  # annualised, in the normal regime
    base_volume: int


ASSETS = (
    Asset("AAPL", 182.0, 1.20, 0.22, 80_000_000),
    Asset("MSFT", 335.0, 1.10, 0.18, 30_000_000),
    Asset("SPY", 477.0, 1.00, 0.02, 75_000_000),
    Asset("GLD", 169.0, -0.15, 0.13, 8_000_000),
    Asset("TLT", 148.0, -0.35, 0.10, 20_000_000),
)

# Regimes: calm, normal, storm. Market drift and volatility are annualised;
# the multiplier scales each asset's idiosyncratic volatility.
DRIFT = np.array([0.14, 0.06, -0.25])
MARKET_VOL = np.array([0.09, 0.17, 0.38])
IDIO_MULTIPLIER = np.array([0.7, 1.0, 1.8])
# Sticky transitions: calm spells last ~60 sessions, normal ~40, storms ~15.
TRANSITIONS = np.array(
    [
        [0.983, 0.017, 0.000],
        [0.015, 0.975, 0.010],
        [0.000, 0.065, 0.935],
    ]
)
# The drawdown episode: 18 sessions of storm with a -1.0 %/session market drift
# (about -17 % for the market, more for high-beta names, a rally in GLD/TLT).
CRASH_START, CRASH_LENGTH, CRASH_DRIFT = 520, 18, -0.010


def sessions(start: dt.date, count: int) -> list[dt.date]:
    """The first `count` Monday-to-Friday dates from `start`."""
    days: list[dt.date] = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def regime_path(rng: np.random.Generator, count: int) -> npt.NDArray[np.int64]:
    """A Markov chain over the three regimes, starting calm, with the crash forced to storm."""
    path = np.zeros(count, dtype=np.int64)
    for t in range(1, count):
        path[t] = rng.choice(3, p=TRANSITIONS[path[t - 1]])
    path[CRASH_START : CRASH_START + CRASH_LENGTH] = 2
    return path


def market_returns(rng: np.random.Generator, path: npt.NDArray[np.int64]) -> FloatArray:
    daily_vol = MARKET_VOL[path] / np.sqrt(TRADING_DAYS)
    returns: FloatArray = DRIFT[path] / TRADING_DAYS + daily_vol * rng.standard_normal(path.size)
    crash = slice(CRASH_START, CRASH_START + CRASH_LENGTH)
    returns[crash] += CRASH_DRIFT - DRIFT[2] / TRADING_DAYS
    return returns


def price(value: float) -> Decimal:
    """A float price as a 2-decimal Decimal (the one float -> Decimal conversion here)."""
    return Decimal(repr(value)).quantize(CENT, rounding=ROUND_HALF_EVEN)


def asset_rows(
    rng: np.random.Generator,
    asset: Asset,
    days: list[dt.date],
    path: npt.NDArray[np.int64],
    market: FloatArray,
) -> list[tuple[str, str, str, str, str, str]]:
    """OHLCV rows: log returns from a one-factor model, bars built around them."""
    count = len(days)
    idio = asset.idio_vol * IDIO_MULTIPLIER[path] / np.sqrt(TRADING_DAYS)
    log_returns = asset.beta * market + idio * rng.standard_normal(count)
    bar_vol = np.sqrt(
        (asset.beta * MARKET_VOL[path]) ** 2 + (asset.idio_vol * IDIO_MULTIPLIER[path]) ** 2
    )
    bar_vol = bar_vol / np.sqrt(TRADING_DAYS)
    closes = asset.start_price * np.exp(np.cumsum(log_returns))
    previous = np.concatenate([[asset.start_price], closes[:-1]])
    # The overnight gap takes part of the day's move; the rest happens in the session.
    opens = previous * np.exp(0.3 * log_returns + 0.2 * bar_vol * rng.standard_normal(count))
    wick_up = np.abs(rng.standard_normal(count)) * 0.5 * bar_vol
    wick_down = np.abs(rng.standard_normal(count)) * 0.5 * bar_vol
    surprise = np.abs(log_returns) / bar_vol
    volumes = asset.base_volume * np.exp(0.25 * rng.standard_normal(count)) * (0.8 + 0.3 * surprise)
    rows = []
    for t, day in enumerate(days):
        o, c = price(float(opens[t])), price(float(closes[t]))
        h = max(price(float(max(opens[t], closes[t]) * np.exp(wick_up[t]))), o, c)
        low = min(price(float(min(opens[t], closes[t]) * np.exp(-wick_down[t]))), o, c)
        stamp = dt.datetime.combine(day, CLOSE_TIME).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append((stamp, str(o), str(h), str(low), str(c), str(int(volumes[t]))))
    return rows


def generate(out: Path, seed: int = SEED) -> list[Path]:
    """Write one CSV per asset into `out`; return the paths written."""
    rng = np.random.default_rng(seed)
    days = sessions(START, BARS)
    path = regime_path(rng, BARS)
    market = market_returns(rng, path)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for asset in ASSETS:
        target = out / f"{asset.symbol}.csv"
        with target.open("w", newline="", encoding="ascii") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(asset_rows(rng, asset, days, path, market))
        written.append(target)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "sample")
    args = parser.parse_args()
    for target in generate(args.out, args.seed):
        print(target)


if __name__ == "__main__":
    main()
