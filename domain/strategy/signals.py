"""Bar-based signals and their cross-sectional normalisation.

Every function takes a (T, N) array: T bars (oldest first) by N symbols, and
returns a (T, N) array aligned with it, so the ensemble can compute each
signal's history in one vectorised pass instead of one call per past bar.
Rows where a signal is undefined (not enough bars yet, missing data) are NaN;
`cross_sectional_score` turns NaN into 0, i.e. "no view".

Raw signals are "higher means expected to outperform":
- momentum: log return over `lookback` bars;
- mean reversion: minus the z-score of the close against its rolling mean,
  so a close far above its mean scores negative;
- order-flow imbalance: a scale-free t-statistic of the OFI values over a
  window, so symbols with different contract sizes are comparable.
"""

from __future__ import annotations

import numpy as np

from domain.strategy.errors import StrategyInputError
from domain.strategy.types import FloatArray

#: z-scores beyond this are clipped before scaling to [-1, 1]: one extreme
#: symbol must not dominate the book.
DEFAULT_CLIP = 3.0


def _as_2d(values: FloatArray, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2:
        raise StrategyInputError(f"{name} must be a (bars, symbols) array, got shape {array.shape}")
    return array


def _check_window(window: int, name: str) -> None:
    if window < 1:
        raise StrategyInputError(f"{name} must be >= 1, got {window}")


def momentum(closes: FloatArray, lookback: int) -> FloatArray:
    """Log return over `lookback` bars: log(close[t] / close[t - lookback]).

    NaN for the first `lookback` rows and wherever a close is not positive.
    """
    _check_window(lookback, "lookback")
    prices = _as_2d(closes, "closes")
    out = np.full(prices.shape, np.nan)
    if prices.shape[0] <= lookback:
        return out
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(prices > 0.0, np.log(np.where(prices > 0.0, prices, 1.0)), np.nan)
    out[lookback:] = logs[lookback:] - logs[:-lookback]
    return out


def _rolling_mean_std(values: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Rolling mean and population std over `window` rows; NaN before a full window.

    Uses a sliding window view rather than cumulative sums: cumsum drifts for
    long price series and would make results depend on how much history the
    caller passes in.
    """
    mean = np.full(values.shape, np.nan)
    std = np.full(values.shape, np.nan)
    if values.shape[0] < window:
        return mean, std
    windows = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)
    mean[window - 1 :] = windows.mean(axis=-1)
    std[window - 1 :] = windows.std(axis=-1)
    return mean, std


def mean_reversion(closes: FloatArray, window: int) -> FloatArray:
    """Minus the z-score of each close against its rolling `window`-bar mean and std.

    NaN for the first `window - 1` rows and where the window has zero variance
    (a flat price says nothing about reversion).
    """
    if window < 2:
        raise StrategyInputError(f"window must be >= 2 for a z-score, got {window}")
    prices = _as_2d(closes, "closes")
    mean, std = _rolling_mean_std(prices, window)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(std > 0.0, (prices - mean) / np.where(std > 0.0, std, 1.0), np.nan)
    return -z


def order_flow_imbalance(ofi: FloatArray, window: int) -> FloatArray:
    """Sum of OFI over `window` bars divided by the root of the sum of squares.

    That ratio lies in [-sqrt(window), sqrt(window)] whatever the units of OFI.
    NaN marks a bar without an OFI event; it is skipped. A window with no OFI
    at all (or only zeros) is NaN.
    """
    _check_window(window, "window")
    values = _as_2d(ofi, "ofi")
    out = np.full(values.shape, np.nan)
    if values.shape[0] < window:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(values, window, axis=0)
    total = np.nansum(windows, axis=-1)
    energy = np.sqrt(np.nansum(windows * windows, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        out[window - 1 :] = np.where(
            energy > 0.0, total / np.where(energy > 0.0, energy, 1.0), np.nan
        )
    return out


def _score_rows(matrix: FloatArray, clip: float) -> FloatArray:
    finite = np.isfinite(matrix)
    count = finite.sum(axis=1, keepdims=True)
    filled = np.where(finite, matrix, 0.0)
    safe_count = np.maximum(count, 1)
    mean = filled.sum(axis=1, keepdims=True) / safe_count
    deviation = np.where(finite, matrix - mean, 0.0)
    spread = np.sqrt((deviation * deviation).sum(axis=1, keepdims=True) / safe_count)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(spread > 0.0, deviation / np.where(spread > 0.0, spread, 1.0), 0.0)
    scores = np.clip(z, -clip, clip) / clip
    # One symbol has no cross-section: its direction is the whole view.
    single = np.sign(filled)
    scores = np.where(count == 1, single, scores)
    return np.where(finite, scores, 0.0)


def cross_sectional_score(raw: FloatArray, clip: float = DEFAULT_CLIP) -> FloatArray:
    """Per row: z-score across symbols, clipped to +-`clip`, scaled into [-1, 1].

    NaN entries score 0 and are left out of the row's mean and std. A row with
    a single finite entry scores its sign; a row whose entries are all equal
    scores 0. Accepts (N,) or (T, N); returns the same shape.
    """
    if not clip > 0.0:
        raise StrategyInputError(f"clip must be > 0, got {clip}")
    values = np.asarray(raw, dtype=np.float64)
    if values.ndim == 1:
        row: FloatArray = _score_rows(values[np.newaxis, :], clip)[0]
        return row
    return _score_rows(_as_2d(values, "raw"), clip)
