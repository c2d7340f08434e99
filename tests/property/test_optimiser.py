"""Properties of the QP optimiser over random covariance matrices and limits."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.strategy import PortfolioLimits, PortfolioOptimiser, optimise
from domain.strategy.types import FloatArray

# Each example is one cvxpy solve (a few ms; ~40 ms when the problem is compiled afresh).
EXAMPLES = settings(max_examples=30, deadline=None)
FEW_EXAMPLES = settings(max_examples=8, deadline=None)  # for tests that compile afresh
# Slack on the limits: the solver's tolerances are ~1e-8; 1e-6 leaves headroom.
TOL = 1e-6

OPTIMISER = PortfolioOptimiser()  # shared: also exercises re-solves of a cached problem
LOOSE_OPTIMISERS: dict[float, PortfolioOptimiser] = {}


def random_covariance(rng: np.random.Generator, n: int, daily_vol: float) -> FloatArray:
    """A PSD matrix with variances near daily_vol**2: factor loadings plus specific risk."""
    loadings = rng.normal(size=(n, max(1, n // 2))) * daily_vol
    specific = np.diag(rng.uniform(0.2, 1.0, size=n) * daily_vol**2)
    sigma: FloatArray = loadings @ loadings.T + specific
    return sigma


problems = st.builds(
    lambda seed, n, vol: (np.random.default_rng(seed), n, vol),
    st.integers(0, 2**32 - 1),
    st.integers(1, 8),
    st.sampled_from([1e-4, 1e-2, 3e-2]),  # minute-like, daily, stormy daily
)


@EXAMPLES
@given(
    problem=problems,
    box=st.floats(0.01, 1.0),
    gross=st.floats(0.1, 3.0),
    net=st.floats(0.0, 1.5),
    vol_target=st.floats(0.01, 0.5),
)
def test_solution_respects_every_limit(
    problem: tuple[np.random.Generator, int, float],
    box: float,
    gross: float,
    net: float,
    vol_target: float,
) -> None:
    rng, n, daily_vol = problem
    sigma = random_covariance(rng, n, daily_vol)
    mu = rng.uniform(-1.0, 1.0, size=n)
    limits = PortfolioLimits(box=box, gross=gross, net=net, vol_target=vol_target)

    result = OPTIMISER.solve(mu, sigma, limits)

    assert not result.fell_back, result.reason
    w = result.weights
    assert np.all(np.abs(w) <= box + TOL)
    assert np.sum(np.abs(w)) <= gross + TOL
    assert abs(np.sum(w)) <= net + TOL
    annual_vol = math.sqrt(float(w @ sigma @ w) * limits.periods_per_year)
    assert annual_vol <= vol_target * (1 + 1e-4) + TOL
    assert math.isclose(result.annual_vol, annual_vol, rel_tol=1e-9, abs_tol=1e-12)


@EXAMPLES
@given(problem=problems)
def test_loose_limits_give_the_closed_form(problem: tuple[np.random.Generator, int, float]) -> None:
    rng, n, daily_vol = problem
    sigma = random_covariance(rng, n, daily_vol)
    mu = rng.uniform(-1.0, 1.0, size=n)
    lam = daily_vol**2  # keeps |w*| of order 1, so the loose limits are loose by far
    loose = PortfolioLimits(box=1e6, gross=1e6, net=1e6, vol_target=1e6)

    optimiser = LOOSE_OPTIMISERS.setdefault(lam, PortfolioOptimiser(lam=lam))
    result = optimiser.solve(mu, sigma, loose)

    expected = lam * np.linalg.solve(sigma, mu)
    assert not result.fell_back, result.reason
    scale = float(np.max(np.abs(expected)))
    np.testing.assert_allclose(result.weights, expected, rtol=0, atol=1e-4 * scale)


@EXAMPLES
@given(
    problem=problems,
    broken=st.sampled_from(["box", "gross", "net", "vol_target"]),
)
def test_infeasible_limits_fall_back_to_previous_weights(
    problem: tuple[np.random.Generator, int, float], broken: str
) -> None:
    rng, n, daily_vol = problem
    sigma = random_covariance(rng, n, daily_vol)
    mu = rng.uniform(-1.0, 1.0, size=n)
    previous = rng.uniform(-0.2, 0.2, size=n)
    # Every valid set of limits admits w = 0; only a negative limit is infeasible.
    limits = PortfolioLimits(**{broken: -0.5})

    result = OPTIMISER.solve(mu, sigma, limits, previous=previous)

    assert result.fell_back
    assert result.reason is not None
    # Mostly "infeasible"; on badly scaled one-asset problems (minute-like volatility) the
    # solver's certificate sometimes reads "unbounded" (seen in ~3 % of seeds): either way
    # no optimum was accepted, and the previous weights stand.
    assert result.status.startswith(("infeasible", "unbounded")), result.status
    np.testing.assert_array_equal(result.weights, previous)


@EXAMPLES
@given(problem=problems, poison=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_non_finite_inputs_fall_back_without_raising(
    problem: tuple[np.random.Generator, int, float], poison: float
) -> None:
    rng, n, daily_vol = problem
    sigma = random_covariance(rng, n, daily_vol)
    mu = rng.uniform(-1.0, 1.0, size=n)
    mu[rng.integers(n)] = poison

    result = OPTIMISER.solve(mu, sigma, PortfolioLimits())

    assert result.fell_back
    assert result.status == "invalid_input"
    np.testing.assert_array_equal(result.weights, np.zeros(n))


@FEW_EXAMPLES
@given(problem=problems)
def test_same_inputs_give_identical_weights(
    problem: tuple[np.random.Generator, int, float],
) -> None:
    rng, n, daily_vol = problem
    sigma = random_covariance(rng, n, daily_vol)
    mu = rng.uniform(-1.0, 1.0, size=n)

    first = optimise(mu, sigma, PortfolioLimits())
    second = optimise(mu, sigma, PortfolioLimits())

    np.testing.assert_array_equal(first.weights, second.weights)
