"""Market regimes from a 3-state Gaussian HMM (hmmlearn).

Features per bar: the return and the log of its rolling volatility, both
standardised with the fit sample's mean and std. hmmlearn floors every variance at
`min_covar` (1e-3): raw daily returns (variance ~1e-4) would sit below that
floor and the states would blur together, hence the standardisation.

States are labelled by the mean of their volatility feature, ascending:
Calm, Normal, Storm; the label of the last bar (Viterbi path) is the current
regime, which sets the optimiser's gross and net limits. A fit that cannot be
made (too little or non-finite data, a numerical failure) yields Normal with
a recorded reason, never an exception: the strategy must go on trading with
middle-of-the-road limits.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from hmmlearn.hmm import GaussianHMM

from domain.strategy.errors import StrategyInputError
from domain.strategy.types import FloatArray

#: Below this many feature rows the HMM is not fitted (3 states x 2 features
#: x (mean + var) + transitions is ~20 parameters; 60 rows is a floor, not a luxury).
MIN_FIT_OBSERVATIONS = 60
DEFAULT_VOL_WINDOW = 20
DEFAULT_N_ITER = 50
_N_STATES = 3
_VOL_FLOOR = 1e-10


class Regime(StrEnum):
    CALM = "Calm"
    NORMAL = "Normal"
    STORM = "Storm"


@dataclass(frozen=True, slots=True)
class RegimeLimits:
    gross: float
    net: float


#: The trading system's exposure limits per regime.
REGIME_LIMITS: dict[Regime, RegimeLimits] = {
    Regime.CALM: RegimeLimits(gross=2.5, net=1.0),
    Regime.NORMAL: RegimeLimits(gross=2.0, net=0.8),
    Regime.STORM: RegimeLimits(gross=1.0, net=0.4),
}


@dataclass(frozen=True, slots=True)
class RegimeState:
    """The current regime and how it was reached."""

    regime: Regime
    limits: RegimeLimits
    reason: str | None  # why the default (Normal) was used, else None
    converged: bool | None  # EM convergence of the model used; None without a model


def regime_features(returns: FloatArray, vol_window: int = DEFAULT_VOL_WINDOW) -> FloatArray:
    """(T - vol_window + 1, 2) rows: [return, log of the std of the last `vol_window` returns]."""
    if vol_window < 2:
        raise StrategyInputError(f"vol_window must be >= 2, got {vol_window}")
    r = np.asarray(returns, dtype=np.float64).reshape(-1)
    if r.shape[0] < vol_window:
        return np.empty((0, 2))
    vol = np.lib.stride_tricks.sliding_window_view(r, vol_window).std(axis=-1)
    # Log volatility: closer to Gaussian than volatility itself, and it gives
    # calm and stormy spells comparable spreads. The floor keeps a flat spell
    # (a halted symbol) finite instead of poisoning the whole fit with -inf.
    log_vol = np.log(np.maximum(vol, _VOL_FLOOR))
    return np.column_stack([r[vol_window - 1 :], log_vol])


@contextmanager
def _quiet_hmmlearn() -> Iterator[None]:
    """Drop hmmlearn's below-ERROR log records ("Model is not converging" ...) during a fit.

    A filter on hmmlearn's own loggers, removed afterwards, so the host
    application's logging configuration is left as it was.
    """
    loggers = [logging.getLogger(name) for name in ("hmmlearn.base", "hmmlearn.hmm")]

    def below_error(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR

    for logger in loggers:
        logger.addFilter(below_error)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(below_error)


def _tercile_init(z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Initial state means/variances from the volatility terciles of the sample.

    hmmlearn's default initialisation runs k-means (ten restarts), which costs
    more than the EM itself and whose clusters need not follow volatility.
    Terciles of the volatility feature start each state where its label says
    it should be, and are deterministic.
    """
    order = np.argsort(z[:, 1], kind="stable")
    groups = np.array_split(z[order], _N_STATES)
    means = np.vstack([g.mean(axis=0) for g in groups])
    covars = np.vstack([np.maximum(g.var(axis=0), 1e-2) for g in groups])
    return means, covars


def _default(reason: str) -> RegimeState:
    return RegimeState(Regime.NORMAL, REGIME_LIMITS[Regime.NORMAL], reason, None)


class RegimeModel:
    """A fitted HMM plus the standardisation and state -> label map it was fitted with."""

    def __init__(self, hmm: GaussianHMM, centre: FloatArray, spread: FloatArray) -> None:
        self._hmm = hmm
        self._centre = centre
        self._spread = spread
        order = np.argsort(np.asarray(hmm.means_)[:, 1], kind="stable")
        labels = (Regime.CALM, Regime.NORMAL, Regime.STORM)
        self._labels: dict[int, Regime] = {int(s): labels[i] for i, s in enumerate(order)}
        self.converged = bool(hmm.monitor_.converged)

    @classmethod
    def fit(cls, features: FloatArray, seed: int, n_iter: int = DEFAULT_N_ITER) -> RegimeModel:
        """Fit on (T, 2) features. Raises `StrategyInputError` or a numerical error on failure."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < MIN_FIT_OBSERVATIONS:
            raise StrategyInputError(
                f"need at least {MIN_FIT_OBSERVATIONS} feature rows, got {x.shape[0]}"
            )
        if not np.isfinite(x).all():
            raise StrategyInputError("features contain non-finite values")
        centre = x.mean(axis=0)
        spread = x.std(axis=0)
        if not (spread > 0.0).all():
            raise StrategyInputError("a feature has no variance")
        z = (x - centre) / spread
        hmm = GaussianHMM(
            n_components=_N_STATES,
            covariance_type="diag",
            n_iter=n_iter,
            tol=1e-4,
            random_state=seed,
            init_params="st",  # means and covariances are set below
        )
        hmm.means_, hmm.covars_ = _tercile_init(z)
        with _quiet_hmmlearn():
            hmm.fit(z)
        return cls(hmm, centre, spread)

    def labels(self, features: FloatArray) -> list[Regime]:
        """The Viterbi-decoded regime of every row of `features`."""
        x = (np.asarray(features, dtype=np.float64) - self._centre) / self._spread
        with _quiet_hmmlearn():
            states = self._hmm.predict(x)
        return [self._labels[int(s)] for s in states]

    def current(self, features: FloatArray) -> RegimeState:
        """The regime of the last row of `features`; Normal with a reason if undecodable."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            return _default("no feature rows to decode")
        if not np.isfinite(x).all():
            return _default("features contain non-finite values")
        regime = self.labels(x)[-1]
        return RegimeState(regime, REGIME_LIMITS[regime], None, self.converged)


def fit_regime_model(features: FloatArray, seed: int) -> tuple[RegimeModel | None, str | None]:
    """Fit a model, or return (None, reason) when it cannot be fitted."""
    try:
        return RegimeModel.fit(features, seed), None
    except (StrategyInputError, ValueError, np.linalg.LinAlgError, ArithmeticError) as e:
        return None, f"HMM fit failed: {e}"


def detect_regime(
    returns: FloatArray, seed: int, vol_window: int = DEFAULT_VOL_WINDOW
) -> RegimeState:
    """Fit on `returns` (one series, e.g. the equal-weighted market) and label its last bar."""
    features = regime_features(returns, vol_window)
    model, reason = fit_regime_model(features, seed)
    if model is None:
        return _default(reason or "HMM fit failed")
    return model.current(features)
