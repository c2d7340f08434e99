"""Performance figures of a run, from the ledger's own numbers.

- daily returns: the ledger's `AccountDayRolled` returns (the series the PSR
  trigger of the kill switch watches), so `psr` here is the kill switch's PSR;
- `sharpe`: their mean / sample standard deviation x sqrt(252);
- `max_drawdown`: the largest fall from a running peak of the equity marked at
  every bar group, as a positive fraction (0.23 for 23 %);
- `turnover`: traded notional / mean equity over the run (2.0 = the book
  traded twice over).
Floats are rounded to 10 significant digits for a stable, readable report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

import numpy as np
import numpy.typing as npt

from domain.killswitch import probabilistic_sharpe_ratio

TRADING_DAYS = 252


def _round(x: float) -> float:
    return float(f"{x:.10g}") if math.isfinite(x) else 0.0


def total_return(starting: Decimal, final: Decimal) -> float:
    return _round(float(final / starting - 1)) if starting else 0.0


def max_drawdown(equity: Sequence[float]) -> float:
    curve = np.asarray(equity, dtype=np.float64)
    if curve.size == 0:
        return 0.0
    peak = np.maximum.accumulate(curve)
    with np.errstate(divide="ignore", invalid="ignore"):
        falls = np.where(peak > 0, (peak - curve) / peak, 0.0)
    return _round(float(falls.max()))


def drawdown_curve(equity: Sequence[float]) -> npt.NDArray[np.float64]:
    curve = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(curve) if curve.size else curve
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, (peak - curve) / peak, 0.0)


def sharpe(daily_returns: Sequence[Decimal]) -> float:
    r = np.array([float(x) for x in daily_returns], dtype=np.float64)
    if r.size < 2:
        return 0.0
    sd = float(r.std(ddof=1))
    return _round(float(r.mean()) / sd * math.sqrt(TRADING_DAYS)) if sd > 0 else 0.0


def psr(daily_returns: Sequence[Decimal]) -> float | None:
    value = probabilistic_sharpe_ratio(list(daily_returns))
    return None if value is None else _round(float(value))


def turnover(traded_notional: Decimal, equity: Sequence[float]) -> float:
    mean = float(np.mean(np.asarray(equity, dtype=np.float64))) if len(equity) else 0.0
    return _round(float(traded_notional) / mean) if mean > 0 else 0.0
