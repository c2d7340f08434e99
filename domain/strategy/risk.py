"""Covariance of per-bar returns for the optimiser."""

from __future__ import annotations

import numpy as np

from domain.strategy.errors import StrategyInputError
from domain.strategy.types import FloatArray


def log_returns(closes: FloatArray) -> FloatArray:
    """(T - 1, N) log returns; NaN where either close is missing or not positive."""
    prices = np.asarray(closes, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(prices[1:] / prices[:-1])
    out[~np.isfinite(out)] = np.nan
    return out


def shrunk_covariance(returns: FloatArray, shrinkage: float) -> FloatArray:
    """Sample covariance (ddof=1) pulled toward its own diagonal by `shrinkage`.

    A 60-bar sample covariance of a handful of assets is noisy off the
    diagonal, and the optimiser leverages that noise into spurious hedges;
    shrinking toward the diagonal is the simplest cure that keeps each
    asset's own variance. Missing returns count as zero (no move).
    """
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2:
        raise StrategyInputError(f"need a (bars >= 2, symbols) array of returns, got {r.shape}")
    if not 0.0 <= shrinkage <= 1.0:
        raise StrategyInputError(f"shrinkage must be in [0, 1], got {shrinkage}")
    filled = np.nan_to_num(r, nan=0.0, posinf=0.0, neginf=0.0)
    centred = filled - filled.mean(axis=0)
    sample: FloatArray = centred.T @ centred / (r.shape[0] - 1)
    target: FloatArray = np.diag(np.diag(sample))
    return (1.0 - shrinkage) * sample + shrinkage * target
