"""IC-weighted ensemble of signals.

Each signal's information coefficient (IC) is the correlation between its
scores at bar t and the log return from t to t+1, measured over a rolling
window. Signals are weighted in proportion to max(IC, 0): a signal that has
been predicting the wrong way gets no weight rather than a negative one,
because a negative IC over a short window is more often noise than a
reliably inverted signal. With no usable history, or no signal with a
positive IC, every signal gets the same weight: the uninformed prior.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from domain.strategy.errors import StrategyInputError
from domain.strategy.risk import log_returns
from domain.strategy.types import FloatArray

#: Fewer (score, return) pairs than this and the IC is "unknown" (NaN).
MIN_IC_PAIRS = 10


@dataclass(frozen=True, slots=True, eq=False)  # arrays have no single truth value
class EnsembleResult:
    """The combined score per symbol and how it was weighted."""

    combined: FloatArray  # (N,) in [-1, 1] when the inputs are
    weights: dict[str, float]  # signal name -> weight, sums to 1
    ics: dict[str, float]  # signal name -> rolling IC (NaN when unknown)
    reason: str | None  # why equal weights were used, else None


def forward_returns(closes: FloatArray) -> FloatArray:
    """Row t holds log(close[t+1] / close[t]); the last row is NaN (not known yet)."""
    prices = np.asarray(closes, dtype=np.float64)
    out = np.full(prices.shape, np.nan)
    if prices.shape[0] >= 2:
        out[:-1] = log_returns(prices)
    return out


def _demean_rows(values: FloatArray) -> FloatArray:
    """Subtract each row's mean over its finite entries (NaN stays NaN)."""
    finite = np.isfinite(values)
    counts = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    means = np.where(finite, values, 0.0).sum(axis=1, keepdims=True) / counts
    centred: FloatArray = values - means
    return centred


def information_coefficient(scores: FloatArray, next_returns: FloatArray) -> float:
    """Pearson correlation of scores with next-period returns, pooled over rows and symbols.

    With two or more symbols both sides are first demeaned across symbols in
    each row, so the IC measures whether the signal ranks symbols well rather
    than whether the market went up. With one symbol it is a plain time-series
    correlation. Pairs where either side is NaN are skipped. NaN when fewer
    than `MIN_IC_PAIRS` pairs remain or either side has no variance.
    """
    x = np.asarray(scores, dtype=np.float64)
    y = np.asarray(next_returns, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise StrategyInputError(f"scores {x.shape} and returns {y.shape} must be equal 2-D shapes")
    if x.shape[1] >= 2:
        x, y = _demean_rows(x), _demean_rows(y)
    both = np.isfinite(x) & np.isfinite(y)
    if int(both.sum()) < MIN_IC_PAIRS:
        return float("nan")
    xs = x[both] - x[both].mean()
    ys = y[both] - y[both].mean()
    denominator = float(np.sqrt((xs * xs).sum() * (ys * ys).sum()))
    if denominator <= 0.0:
        return float("nan")
    return float((xs * ys).sum() / denominator)


def ic_weights(ics: FloatArray) -> tuple[FloatArray, str | None]:
    """Weights proportional to max(IC, 0); equal weights (with a reason) when none is positive."""
    values = np.asarray(ics, dtype=np.float64)
    if values.size == 0:
        raise StrategyInputError("at least one signal is needed")
    positive = np.where(np.isfinite(values) & (values > 0.0), values, 0.0)
    total = float(positive.sum())
    if total > 0.0:
        return positive / total, None
    reason = "no IC history" if not np.isfinite(values).any() else "no signal with a positive IC"
    return np.full(values.shape, 1.0 / values.size), reason


def ic_weighted_ensemble(
    signal_scores: Mapping[str, FloatArray], closes: FloatArray, window: int
) -> EnsembleResult:
    """Combine each signal's latest scores, weighted by its IC over the last `window` bars.

    `signal_scores` maps a signal name to its (T, N) scores aligned with
    `closes` (T, N); NaN marks bars where the signal had no view. The IC uses
    only scores whose next-bar return is already known, so the last row
    contributes its scores to the combination but nothing to the IC.
    """
    if window < 1:
        raise StrategyInputError(f"IC window must be >= 1, got {window}")
    if not signal_scores:
        raise StrategyInputError("at least one signal is needed")
    prices = np.asarray(closes, dtype=np.float64)
    if prices.ndim != 2 or prices.shape[0] == 0:
        raise StrategyInputError(
            f"closes must be a non-empty (bars, symbols) array: {prices.shape}"
        )
    returns = forward_returns(prices)
    start = max(0, prices.shape[0] - 1 - window)
    names = sorted(signal_scores)  # sorted: weights must not depend on dict order
    ics = np.array(
        [
            information_coefficient(
                np.asarray(signal_scores[name], dtype=np.float64)[start:-1], returns[start:-1]
            )
            for name in names
        ]
    )
    weights, reason = ic_weights(ics)
    latest = np.vstack(
        [np.nan_to_num(np.asarray(signal_scores[name], dtype=np.float64)[-1]) for name in names]
    )
    combined = weights @ latest
    return EnsembleResult(
        combined=combined,
        weights={name: float(w) for name, w in zip(names, weights, strict=True)},
        ics={name: float(ic) for name, ic in zip(names, ics, strict=True)},
        reason=reason,
    )
