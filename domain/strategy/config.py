"""Settings of the strategy, with the trading system's defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from domain.strategy.errors import StrategyConfigError
from domain.strategy.optimiser import (
    DEFAULT_BOX,
    DEFAULT_LAMBDA,
    DEFAULT_PERIODS_PER_YEAR,
    DEFAULT_VOL_TARGET,
)
from domain.strategy.regime import DEFAULT_VOL_WINDOW, MIN_FIT_OBSERVATIONS

_POSITIVE_INTS = (
    "momentum_lookback",
    "ofi_window",
    "ic_window",
    "rebalance_interval",
    "regime_refit_interval",
)


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """All windows are in bars; `periods_per_year` says how many bars make a year.

    `periods_per_year` annualises the per-bar covariance for the volatility
    target: 252 for daily bars, 98_280 (252 x 390) for US-equity minute bars.
    """

    momentum_lookback: int = 60
    mean_reversion_window: int = 10
    ofi_window: int = 10
    ic_window: int = 60  # bars of (score, next return) pairs behind each signal's IC
    cov_window: int = 60  # bars of returns behind the covariance estimate
    cov_shrinkage: float = 0.1  # weight of the diagonal target in the covariance
    rebalance_interval: int = 5
    lam: float = DEFAULT_LAMBDA
    vol_target: float = DEFAULT_VOL_TARGET  # annualised
    box: float = DEFAULT_BOX
    periods_per_year: float = DEFAULT_PERIODS_PER_YEAR
    regime_refit_interval: int = 63  # bars between HMM refits (~a quarter of daily bars)
    regime_history: int = 750  # most recent bars the HMM is fitted on and decodes
    regime_vol_window: int = DEFAULT_VOL_WINDOW
    seed: int = 0

    def __post_init__(self) -> None:
        for name in _POSITIVE_INTS:
            if getattr(self, name) < 1:
                raise StrategyConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.mean_reversion_window < 2 or self.cov_window < 2 or self.regime_vol_window < 2:
            raise StrategyConfigError(
                "mean_reversion_window, cov_window and regime_vol_window >= 2"
            )
        minimum_history = MIN_FIT_OBSERVATIONS + self.regime_vol_window
        if self.regime_history < minimum_history:
            raise StrategyConfigError(f"regime_history must be >= {minimum_history}")
        if not 0.0 <= self.cov_shrinkage <= 1.0:
            raise StrategyConfigError(f"cov_shrinkage must be in [0, 1], got {self.cov_shrinkage}")
        for name in ("lam", "vol_target", "box", "periods_per_year"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise StrategyConfigError(f"{name} must be a finite positive number, got {value}")

    @property
    def warm_up_bars(self) -> int:
        """Bars needed before the first non-flat target: a momentum value and a covariance."""
        return max(self.momentum_lookback, self.mean_reversion_window, self.cov_window) + 1

    @property
    def signal_history(self) -> int:
        """Most recent bars the signals and IC need; older bars are not looked at."""
        longest = max(self.momentum_lookback, self.mean_reversion_window, self.ofi_window)
        return max(self.ic_window + longest + 1, self.cov_window + 1)

    def describe(self) -> dict[str, float | int]:
        """Plain dict of the settings (for run metadata)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
