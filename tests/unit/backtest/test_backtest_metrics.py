"""Result figures: drawdown as a positive fraction, Sharpe, PSR, turnover."""

from __future__ import annotations

import math
from decimal import Decimal

from adapters.backtest import metrics


def test_max_drawdown_is_a_positive_fraction_of_the_running_peak() -> None:
    assert metrics.max_drawdown([100.0, 120.0, 90.0, 130.0, 117.0]) == 0.25
    assert metrics.max_drawdown([1.0, 2.0, 3.0]) == 0.0
    assert metrics.max_drawdown([]) == 0.0


def test_sharpe_and_psr_of_daily_returns() -> None:
    returns = [Decimal(x) for x in ("0.01", "-0.005", "0.002", "0.007", "-0.001")]
    floats = [float(r) for r in returns]
    mean = sum(floats) / 5
    sd = math.sqrt(sum((r - mean) ** 2 for r in floats) / 4)
    assert math.isclose(metrics.sharpe(returns), mean / sd * math.sqrt(252), rel_tol=1e-9)
    psr = metrics.psr(returns)
    assert psr is not None and 0.5 < psr < 1.0  # positive mean: more likely than not
    assert metrics.sharpe([Decimal(0)] * 3) == 0.0
    assert metrics.psr([Decimal(0)] * 40) is None


def test_total_return_and_turnover() -> None:
    assert metrics.total_return(Decimal(1_000_000), Decimal(1_150_000)) == 0.15
    assert metrics.turnover(Decimal(3_000_000), [1_000_000.0, 2_000_000.0]) == 2.0
