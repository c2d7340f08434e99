"""The 3-state HMM regime model on series whose regimes we know."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from domain.strategy import (
    REGIME_LIMITS,
    Regime,
    RegimeLimits,
    RegimeModel,
    detect_regime,
    fit_regime_model,
    regime_features,
)
from domain.strategy.regime import DEFAULT_VOL_WINDOW, _quiet_hmmlearn

CALM_VOL, NORMAL_VOL, STORM_VOL = 0.004, 0.012, 0.035
SEGMENT = 300


def segments(seed: int, *vols: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(0.0, vol, SEGMENT) for vol in vols])


def labels_by_segment(returns: np.ndarray, seed: int, count: int) -> list[list[Regime]]:
    """Labels of each segment, leaving out the rolling window's lag after each switch."""
    features = regime_features(returns)
    model = RegimeModel.fit(features, seed)
    labels = [None] * (DEFAULT_VOL_WINDOW - 1) + list(model.labels(features))
    return [
        [x for x in labels[i * SEGMENT + DEFAULT_VOL_WINDOW : (i + 1) * SEGMENT] if x is not None]
        for i in range(count)
    ]


def share(labels: list[Regime], *wanted: Regime) -> float:
    return sum(label in wanted for label in labels) / len(labels)


def test_limits_per_regime_are_the_trading_systems() -> None:
    expected = {
        Regime.CALM: RegimeLimits(2.5, 1.0),
        Regime.NORMAL: RegimeLimits(2.0, 0.8),
        Regime.STORM: RegimeLimits(1.0, 0.4),
    }

    assert expected == REGIME_LIMITS


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_regime_series_calm_segment_is_calm_and_storm_segment_is_not(seed: int) -> None:
    calm, storm = labels_by_segment(segments(seed, CALM_VOL, STORM_VOL), seed, 2)

    # Three states for two regimes: the spare state may split the storm into
    # Normal and Storm, but calm must read Calm and Storm must stay in the storm.
    assert share(calm, Regime.CALM) >= 0.95
    assert share(storm, Regime.CALM) <= 0.02
    assert share(storm, Regime.STORM) >= 0.3
    assert share(calm, Regime.STORM) == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_current_regime_follows_the_latest_segment(seed: int) -> None:
    ends_stormy = detect_regime(segments(seed, CALM_VOL, STORM_VOL), seed)
    ends_calm = detect_regime(segments(seed, STORM_VOL, CALM_VOL), seed)

    assert ends_stormy.regime in (Regime.NORMAL, Regime.STORM)
    assert ends_stormy.reason is None
    assert ends_calm.regime == Regime.CALM
    assert ends_calm.limits == RegimeLimits(2.5, 1.0)


def test_three_regime_series_gets_all_three_labels_in_order() -> None:
    calm, normal, storm = labels_by_segment(segments(5, CALM_VOL, NORMAL_VOL, STORM_VOL), 5, 3)

    assert share(calm, Regime.CALM) >= 0.9
    assert share(normal, Regime.NORMAL) >= 0.8
    assert share(storm, Regime.STORM) >= 0.9


def test_too_little_data_gives_normal_with_a_reason() -> None:
    state = detect_regime(np.random.default_rng(0).normal(0.0, 0.01, 50), seed=1)

    assert state.regime == Regime.NORMAL
    assert state.limits == REGIME_LIMITS[Regime.NORMAL]
    assert state.reason is not None and "at least" in state.reason
    assert state.converged is None


def test_non_finite_data_gives_normal_with_a_reason() -> None:
    returns = segments(0, CALM_VOL, STORM_VOL)
    returns[100] = np.nan

    state = detect_regime(returns, seed=1)

    assert state.regime == Regime.NORMAL
    assert state.reason is not None and "non-finite" in state.reason


def test_constant_features_cannot_be_fitted() -> None:
    model, reason = fit_regime_model(np.ones((100, 2)), seed=0)

    assert model is None
    assert reason is not None and "variance" in reason


def test_same_seed_gives_identical_labels() -> None:
    features = regime_features(segments(3, CALM_VOL, NORMAL_VOL, STORM_VOL))

    first = RegimeModel.fit(features, seed=9).labels(features)
    second = RegimeModel.fit(features, seed=9).labels(features)

    assert first == second


def test_hmmlearn_warnings_are_silenced_during_fits_only(caplog: pytest.LogCaptureFixture) -> None:
    hmm_log = logging.getLogger("hmmlearn.base")
    with caplog.at_level(logging.WARNING):
        with _quiet_hmmlearn():
            hmm_log.warning("Model is not converging.")
            hmm_log.error("a real error")
        hmm_log.warning("outside a fit")

    assert [r.getMessage() for r in caplog.records] == ["a real error", "outside a fit"]
