"""Pure strategy maths: signals, IC-weighted ensemble, QP optimiser, HMM regimes.

numpy / cvxpy / hmmlearn only; no clock, environment or random module.
Randomness comes from `StrategyConfig.seed`; the same inputs and seed give
the same outputs. Floats are used throughout (this is numpy maths): callers
convert Decimal prices at the edge, when building a `MarketHistory`.

Typical use by a backtest engine::

    strategy = Strategy(StrategyConfig(seed=7))
    for t in range(bars):
        if strategy.is_rebalance_bar(t):
            weights, regime, diagnostics = strategy.target_weights(
                MarketHistory(symbols, closes[: t + 1])
            )
"""

from domain.strategy.config import StrategyConfig
from domain.strategy.ensemble import (
    EnsembleResult,
    forward_returns,
    ic_weighted_ensemble,
    ic_weights,
    information_coefficient,
)
from domain.strategy.errors import StrategyConfigError, StrategyError, StrategyInputError
from domain.strategy.optimiser import (
    DEFAULT_BOX,
    DEFAULT_LAMBDA,
    DEFAULT_VOL_TARGET,
    OptimisationResult,
    PortfolioLimits,
    PortfolioOptimiser,
    optimise,
)
from domain.strategy.regime import (
    REGIME_LIMITS,
    Regime,
    RegimeLimits,
    RegimeModel,
    RegimeState,
    detect_regime,
    fit_regime_model,
    regime_features,
)
from domain.strategy.risk import log_returns, shrunk_covariance
from domain.strategy.signals import (
    cross_sectional_score,
    mean_reversion,
    momentum,
    order_flow_imbalance,
)
from domain.strategy.strategy import MarketHistory, Strategy, StrategyDiagnostics, TargetWeights
from domain.strategy.types import FloatArray

__all__ = [
    "DEFAULT_BOX",
    "DEFAULT_LAMBDA",
    "DEFAULT_VOL_TARGET",
    "REGIME_LIMITS",
    "EnsembleResult",
    "FloatArray",
    "MarketHistory",
    "OptimisationResult",
    "PortfolioLimits",
    "PortfolioOptimiser",
    "Regime",
    "RegimeLimits",
    "RegimeModel",
    "RegimeState",
    "Strategy",
    "StrategyConfig",
    "StrategyConfigError",
    "StrategyDiagnostics",
    "StrategyError",
    "StrategyInputError",
    "TargetWeights",
    "cross_sectional_score",
    "detect_regime",
    "fit_regime_model",
    "forward_returns",
    "ic_weighted_ensemble",
    "ic_weights",
    "information_coefficient",
    "log_returns",
    "mean_reversion",
    "momentum",
    "optimise",
    "order_flow_imbalance",
    "regime_features",
    "shrunk_covariance",
]
