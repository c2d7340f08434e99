"""Mean-variance portfolio optimiser (cvxpy).

    minimise    1/2 w' S w - lam * mu' w
    subject to  |w_i| <= box,  sum |w_i| <= gross,  |sum w_i| <= net,
                w' S w * periods_per_year <= vol_target ** 2

`S` is the covariance of *per-bar* returns and `vol_target` is annualised, so
the volatility constraint scales the per-bar variance by `periods_per_year`
(252 for daily bars, 252 * 390 for US-equity minute bars). `mu` is whatever
the caller's expected-return proxy is (the strategy passes ensemble scores in
[-1, 1]); with the default lam = 5e-4 and daily variances near 1e-4 the
unconstrained optimum is several times the box, so in practice the box,
gross, net and volatility limits shape the book and `mu` sets its direction.

Robustness rather than exceptions: non-finite inputs, an infeasible problem
(only possible with a negative limit, since w = 0 satisfies every valid set
of limits), a solver error, or a solution that breaks a limit beyond
tolerance all return the caller's previous weights with `fell_back=True` and
a reason. Zero weights stand in when the caller has none.

Numerics: S is symmetrised, its negative eigenvalues (rounding noise from a
sample estimate) are clipped to zero and a small ridge is added, then S is
divided by its mean variance so the solver sees numbers near 1 whatever the
bar size; the argmin is unchanged by that rescaling. The compiled problem is
cached per number of assets (cvxpy parameters), which cuts a re-solve from
tens of milliseconds to a few.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cvxpy as cp
import numpy as np

# Imported from their modules: cvxpy is typed (py.typed) but its package-level
# star import does not re-export these names to mypy --strict.
from cvxpy.atoms.affine.sum import sum as cp_sum
from cvxpy.atoms.elementwise.abs import abs as cp_abs
from cvxpy.atoms.norm import norm
from cvxpy.atoms.norm1 import norm1
from cvxpy.atoms.sum_squares import sum_squares

from domain.strategy.errors import StrategyInputError
from domain.strategy.types import FloatArray

DEFAULT_LAMBDA = 5e-4
DEFAULT_VOL_TARGET = 0.10
DEFAULT_BOX = 0.25
DEFAULT_PERIODS_PER_YEAR = 252.0
#: Ridge added to the rescaled covariance (whose mean variance is 1).
DEFAULT_RIDGE = 1e-8
#: How far past a limit a returned solution may be (absolute, on weights;
#: relative on the variance). CLARABEL's own tolerances are ~1e-8.
CONSTRAINT_TOLERANCE = 1e-6
#: Statuses whose solution we accept, after checking the limits ourselves.
_ACCEPTED = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
#: Solvers that ship with cvxpy, in order of preference: all deterministic;
#: CLARABEL is an interior-point conic solver that takes the SOC vol limit natively.
_SOLVER_PREFERENCE = ("CLARABEL", "SCS")


@dataclass(frozen=True, slots=True)
class PortfolioLimits:
    """The constraints of one solve. Gross and net come from the regime."""

    box: float = DEFAULT_BOX
    gross: float = 2.0
    net: float = 0.8
    vol_target: float = DEFAULT_VOL_TARGET  # annualised
    periods_per_year: float = DEFAULT_PERIODS_PER_YEAR


@dataclass(frozen=True, slots=True, eq=False)  # arrays have no single truth value
class OptimisationResult:
    weights: FloatArray  # (N,)
    status: str  # the solver's status, or "invalid_input" / "solver_error" / "empty"
    fell_back: bool  # True when `weights` are the previous weights, not a solution
    reason: str | None  # why it fell back, else None
    annual_vol: float  # sqrt(w' S w * periods_per_year) of the returned weights


@dataclass(frozen=True, slots=True)
class _Compiled:
    problem: cp.Problem
    weights: cp.Variable
    factor: cp.Parameter
    linear: cp.Parameter
    box: cp.Parameter
    gross: cp.Parameter
    net: cp.Parameter
    vol: cp.Parameter


def _compile(n: int) -> _Compiled:
    w = cp.Variable(n)
    factor = cp.Parameter((n, n))
    linear = cp.Parameter(n)
    box, gross, net, vol = (cp.Parameter() for _ in range(4))
    risk = factor.T @ w
    problem = cp.Problem(
        cp.Minimize(0.5 * sum_squares(risk) - linear @ w),
        [cp_abs(w) <= box, norm1(w) <= gross, cp_abs(cp_sum(w)) <= net, norm(risk, 2) <= vol],
    )
    return _Compiled(problem, w, factor, linear, box, gross, net, vol)


def _factor(sigma: FloatArray, ridge: float) -> tuple[FloatArray, float]:
    """(F, scale) with F F' = sym(sigma) / scale clipped to PSD, plus ridge * I."""
    symmetric = 0.5 * (sigma + sigma.T)
    scale = float(np.mean(np.diag(symmetric)))
    if not scale > 0.0:
        scale = 1.0
    values, vectors = np.linalg.eigh(symmetric / scale)
    values = np.clip(values, 0.0, None) + ridge
    return vectors * np.sqrt(values), scale


def _violation(w: FloatArray, sigma: FloatArray, limits: PortfolioLimits) -> str | None:
    tol = CONSTRAINT_TOLERANCE
    variance = float(w @ sigma @ w) * limits.periods_per_year
    checks = (
        ("box", float(np.max(np.abs(w))), limits.box),
        ("gross", float(np.sum(np.abs(w))), limits.gross),
        ("net", abs(float(np.sum(w))), limits.net),
    )
    for name, value, limit in checks:
        if value > limit + tol * max(1.0, limit):
            return f"solution breaks the {name} limit: {value:.6g} > {limit:.6g}"
    # Relative slack on the variance: the solver works on the rescaled problem.
    if variance > limits.vol_target**2 * (1.0 + 1e-3) + tol**2:
        return f"solution breaks the vol target: {math.sqrt(variance):.6g}"
    return None


def _annual_vol(w: FloatArray, sigma: FloatArray, periods_per_year: float) -> float:
    variance = float(w @ (0.5 * (sigma + sigma.T)) @ w) * periods_per_year
    return math.sqrt(variance) if variance > 0.0 and math.isfinite(variance) else 0.0


class PortfolioOptimiser:
    """Solves the QP above; keeps one compiled problem per number of assets."""

    def __init__(self, lam: float = DEFAULT_LAMBDA, ridge: float = DEFAULT_RIDGE) -> None:
        if not (math.isfinite(lam) and lam > 0.0):
            raise StrategyInputError(f"lam must be a finite positive number, got {lam}")
        if not (math.isfinite(ridge) and ridge >= 0.0):
            raise StrategyInputError(f"ridge must be a finite non-negative number, got {ridge}")
        self.lam = lam
        self.ridge = ridge
        installed = set(cp.installed_solvers())  # type: ignore[no-untyped-call]
        self.solver = next((s for s in _SOLVER_PREFERENCE if s in installed), None)
        self._compiled: dict[int, _Compiled] = {}

    def solve(
        self,
        mu: FloatArray,
        sigma: FloatArray,
        limits: PortfolioLimits,
        previous: FloatArray | None = None,
    ) -> OptimisationResult:
        """Optimal weights for `mu` (N,) and per-bar covariance `sigma` (N, N).

        Raises `StrategyInputError` only for mismatched shapes; everything else
        that goes wrong falls back to `previous` (zeros when None).
        """
        mu_arr = np.asarray(mu, dtype=np.float64)
        sigma_arr = np.asarray(sigma, dtype=np.float64)
        n = mu_arr.shape[0] if mu_arr.ndim == 1 else -1
        if n < 0 or sigma_arr.shape != (n, n):
            raise StrategyInputError(f"mu {mu_arr.shape} and sigma {sigma_arr.shape} do not match")
        fallback = np.zeros(n) if previous is None else np.asarray(previous, dtype=np.float64)
        if fallback.shape != (n,) or not np.isfinite(fallback).all():
            raise StrategyInputError(f"previous weights must be {n} finite numbers")
        if n == 0:
            return OptimisationResult(fallback.copy(), "empty", False, None, 0.0)

        def fall_back(status: str, reason: str) -> OptimisationResult:
            vol = _annual_vol(fallback, sigma_arr, limits.periods_per_year)
            return OptimisationResult(fallback.copy(), status, True, reason, vol)

        numbers = (limits.box, limits.gross, limits.net, limits.vol_target, limits.periods_per_year)
        if not (np.isfinite(mu_arr).all() and np.isfinite(sigma_arr).all()):
            return fall_back("invalid_input", "non-finite expected returns or covariance")
        if not (all(math.isfinite(x) for x in numbers) and limits.periods_per_year > 0.0):
            return fall_back("invalid_input", "non-finite limits or periods_per_year <= 0")
        if self.solver is None:
            return fall_back("solver_error", "no suitable cvxpy solver installed")
        try:
            return self._solve(mu_arr, sigma_arr, limits, fall_back)
        except (cp.error.SolverError, np.linalg.LinAlgError, ArithmeticError, ValueError) as e:
            return fall_back("solver_error", f"{type(e).__name__}: {e}")

    def _solve(
        self,
        mu: FloatArray,
        sigma: FloatArray,
        limits: PortfolioLimits,
        fall_back: Callable[[str, str], OptimisationResult],
    ) -> OptimisationResult:
        n = mu.shape[0]
        factor, scale = _factor(sigma, self.ridge)
        compiled = self._compiled.get(n)
        if compiled is None:
            compiled = self._compiled[n] = _compile(n)
        compiled.factor.value = factor
        # Dividing the whole objective by `scale` keeps the argmin: the quadratic
        # term uses S / scale, so the linear term is lam * mu / scale.
        compiled.linear.value = (self.lam / scale) * mu
        compiled.box.value = limits.box
        compiled.gross.value = limits.gross
        compiled.net.value = limits.net
        compiled.vol.value = limits.vol_target / math.sqrt(limits.periods_per_year * scale)
        compiled.problem.solve(solver=self.solver)  # type: ignore[no-untyped-call]
        status = str(compiled.problem.status)
        value = compiled.weights.value
        if status not in _ACCEPTED or value is None:
            return fall_back(status, f"solver returned {status}")
        w = np.asarray(value, dtype=np.float64).reshape(n)
        if not np.isfinite(w).all():
            return fall_back(status, "solver returned non-finite weights")
        broken = _violation(w, sigma, limits)
        if broken is not None:
            return fall_back(status, broken)
        return OptimisationResult(
            w, status, False, None, _annual_vol(w, sigma, limits.periods_per_year)
        )


def optimise(
    mu: FloatArray,
    sigma: FloatArray,
    limits: PortfolioLimits,
    previous: FloatArray | None = None,
    lam: float = DEFAULT_LAMBDA,
) -> OptimisationResult:
    """One-off solve (compiles afresh; use `PortfolioOptimiser` for repeated solves)."""
    return PortfolioOptimiser(lam=lam).solve(mu, sigma, limits, previous)
