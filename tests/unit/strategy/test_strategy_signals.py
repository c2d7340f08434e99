"""Signals on inputs small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from domain.strategy import (
    StrategyInputError,
    cross_sectional_score,
    mean_reversion,
    momentum,
    order_flow_imbalance,
)

NAN = float("nan")


def test_momentum_is_the_log_return_over_the_lookback() -> None:
    closes = np.array([[100.0], [110.0], [121.0]])

    np.testing.assert_allclose(momentum(closes, 2)[:, 0], [NAN, NAN, math.log(1.21)])
    np.testing.assert_allclose(momentum(closes, 1)[:, 0], [NAN, math.log(1.1), math.log(1.1)])


def test_momentum_without_enough_bars_or_with_bad_prices_is_nan() -> None:
    assert np.isnan(momentum(np.array([[100.0], [101.0]]), 2)).all()
    assert np.isnan(momentum(np.array([[0.0], [101.0]]), 1)[1, 0])


def test_mean_reversion_is_minus_the_rolling_z_score() -> None:
    closes = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])

    result = mean_reversion(closes, 3)

    # Window [1, 2, 3]: mean 2, population std sqrt(2/3); z of 3 is 1.2247...
    assert np.isnan(result[:2]).all()
    assert result[2, 0] == pytest.approx(-1.0 / math.sqrt(2.0 / 3.0))
    assert np.isnan(result[2, 1])  # a flat window says nothing


def test_order_flow_imbalance_is_sum_over_root_sum_of_squares_skipping_gaps() -> None:
    ofi = np.array([1.0, -1.0, 2.0, NAN])

    result = order_flow_imbalance(ofi, 2)[:, 0]

    np.testing.assert_allclose(result, [NAN, 0.0, 1.0 / math.sqrt(5.0), 1.0])


def test_order_flow_imbalance_with_no_events_in_the_window_is_nan() -> None:
    assert np.isnan(order_flow_imbalance(np.array([NAN, NAN, 3.0]), 2)[1, 0])


def test_cross_sectional_score_is_a_clipped_scaled_z_score() -> None:
    z = math.sqrt(1.5)  # z-scores of [1, 2, 3] are -1.2247, 0, 1.2247

    np.testing.assert_allclose(cross_sectional_score(np.array([1.0, 2.0, 3.0])), [-z / 3, 0, z / 3])
    np.testing.assert_allclose(
        cross_sectional_score(np.array([1.0, 2.0, 3.0]), clip=1.0), [-1.0, 0.0, 1.0]
    )


def test_cross_sectional_score_handles_gaps_single_symbols_and_ties() -> None:
    np.testing.assert_allclose(
        cross_sectional_score(np.array([1.0, NAN, 3.0])), [-1 / 3, 0.0, 1 / 3]
    )
    np.testing.assert_array_equal(cross_sectional_score(np.array([NAN, -5.0])), [0.0, -1.0])
    np.testing.assert_array_equal(cross_sectional_score(np.array([2.0, 2.0])), [0.0, 0.0])
    np.testing.assert_array_equal(cross_sectional_score(np.array([NAN, NAN])), [0.0, 0.0])


def test_cross_sectional_score_works_row_by_row() -> None:
    raw = np.array([[1.0, 2.0, 3.0], [30.0, 20.0, 10.0]])

    scores = cross_sectional_score(raw)

    np.testing.assert_allclose(scores[0], -scores[1])
    assert np.all(np.abs(scores) <= 1.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda: momentum(np.ones((5, 2)), 0),
        lambda: mean_reversion(np.ones((5, 2)), 1),
        lambda: order_flow_imbalance(np.ones((5, 2)), 0),
        lambda: cross_sectional_score(np.ones(3), clip=0.0),
        lambda: momentum(np.ones((2, 2, 2)), 1),
    ],
)
def test_bad_arguments_raise_a_named_error(call: object) -> None:
    with pytest.raises(StrategyInputError):
        call()  # type: ignore[operator]
