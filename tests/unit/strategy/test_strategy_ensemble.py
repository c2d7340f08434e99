"""The IC-weighted ensemble."""

from __future__ import annotations

import math

import numpy as np
import pytest

from domain.strategy import (
    forward_returns,
    ic_weighted_ensemble,
    ic_weights,
    information_coefficient,
)

NAN = float("nan")


def random_walk(seed: int, bars: int, symbols: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, size=(bars, symbols)), axis=0))


def test_forward_returns_line_up_with_the_bar_they_follow() -> None:
    closes = np.array([[100.0], [110.0], [99.0]])

    np.testing.assert_allclose(forward_returns(closes)[:, 0], [math.log(1.1), math.log(0.9), NAN])


def test_ic_of_a_perfect_forecast_is_one_and_of_its_opposite_minus_one() -> None:
    closes = random_walk(1, 40, 4)
    future = forward_returns(closes)[:-1]

    assert information_coefficient(future, future) == pytest.approx(1.0)
    assert information_coefficient(-future, future) == pytest.approx(-1.0)


def test_ic_ignores_the_market_move_when_ranking_several_symbols() -> None:
    closes = random_walk(2, 40, 3)
    future = forward_returns(closes)[:-1]
    relative = future - future.mean(axis=1, keepdims=True)

    # Adding the same number to every symbol's return changes nothing cross-sectionally.
    assert information_coefficient(relative, future + 0.05) == pytest.approx(1.0)


def test_ic_is_nan_without_enough_pairs() -> None:
    scores = np.array([[1.0, -1.0]] * 4)

    assert math.isnan(information_coefficient(scores, scores))


def test_weights_are_proportional_to_positive_ics() -> None:
    weights, reason = ic_weights(np.array([0.2, -0.1, 0.6, NAN]))

    np.testing.assert_allclose(weights, [0.25, 0.0, 0.75, 0.0])
    assert reason is None


@pytest.mark.parametrize(
    ("ics", "reason"),
    [
        ([NAN, NAN], "no IC history"),
        ([-0.2, 0.0], "no signal with a positive IC"),
    ],
)
def test_weights_are_equal_without_a_positive_ic(ics: list[float], reason: str) -> None:
    weights, why = ic_weights(np.array(ics))

    np.testing.assert_allclose(weights, [0.5, 0.5])
    assert why == reason


def test_ensemble_puts_all_weight_on_the_signal_that_predicted() -> None:
    closes = random_walk(3, 80, 4)
    future = np.nan_to_num(forward_returns(closes))
    scores = {"oracle": future.copy(), "contrarian": -future}
    scores["oracle"][-1] = [0.5, -0.5, 1.0, -1.0]  # today's view, not yet judged

    result = ic_weighted_ensemble(scores, closes, window=60)

    assert result.weights == {"contrarian": 0.0, "oracle": 1.0}
    assert result.ics["oracle"] == pytest.approx(1.0)
    assert result.reason is None
    np.testing.assert_allclose(result.combined, [0.5, -0.5, 1.0, -1.0])


def test_ensemble_with_no_history_weights_equally() -> None:
    closes = np.array([[100.0, 50.0]])
    scores = {"a": np.array([[1.0, -1.0]]), "b": np.array([[NAN, 0.5]])}

    result = ic_weighted_ensemble(scores, closes, window=20)

    assert result.weights == {"a": 0.5, "b": 0.5}
    assert result.reason == "no IC history"
    np.testing.assert_allclose(result.combined, [0.5, -0.25])  # NaN counts as no view


def test_ensemble_only_looks_back_over_its_window() -> None:
    closes = random_walk(4, 120, 3)
    future = np.nan_to_num(forward_returns(closes))
    # Right for the first 80 bars, wrong for the last 40: a 30-bar window sees only the wrong.
    signal = np.vstack([future[:80], -future[80:]])

    result = ic_weighted_ensemble({"fading": signal, "flat": np.zeros_like(signal)}, closes, 30)

    assert result.ics["fading"] == pytest.approx(-1.0)
    assert result.reason == "no signal with a positive IC"
